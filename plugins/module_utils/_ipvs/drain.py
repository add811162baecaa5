# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain real servers before removing them: weight 0, wait for their connections, remove.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

``poll_connections`` is the one wait for connection counters (ipvs_real's
``wait``, the ``drain_timeout`` of ipvs_table and ipvs_service);
``execute_draining`` applies a plan whose removals are drained first.
"""

from __future__ import annotations

import time

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import execute
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    real_server_key,
    real_server_label,
    service_key,
    service_label,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import split_for_drain, touched_keys

# Seconds between two reads of the connection counters.
POLL_INTERVAL = 1.0


def _counts(real):
    if real is None:        # gone (removed meanwhile): no connection left
        return dict(active=0, inactive=0, persistent=0)
    return dict(active=real['active_connections'], inactive=real['inactive_connections'],
                persistent=real['persistent_connections'])


def poll_connections(session, targets, timeout, finished, interval=POLL_INTERVAL):
    """Read the connection counters of ``targets``, a list of ``(service,
    real server)``, until ``finished(counts)`` holds for every one of them
    in the same read, or ``timeout`` seconds have passed; one read at once,
    then one about every ``interval`` seconds.  Each read is one dump of
    real servers per service.

    Returns ``(counts, seconds, finished_all)``: the counts of the last read
    (a dict of active, inactive and persistent for each target, in order;
    zeros for a real server that is no longer there), the seconds waited,
    and whether every target was finished."""
    services = {}
    for service, _real in targets:
        services.setdefault(service_key(service), service)
    start = time.monotonic()
    deadline = start + timeout
    while True:
        found = {}
        for key, service in services.items():
            reals = session.read_real_servers(dict(service), with_counters=True, sort=False)['real_servers']
            found[key] = dict((real_server_key(real), real) for real in reals)
        counts = [_counts(found[service_key(service)].get(real_server_key(real))) for service, real in targets]
        now = time.monotonic()
        if all(finished(count) for count in counts):
            return counts, now - start, True
        if now >= deadline:
            return counts, now - start, False
        time.sleep(min(interval, deadline - now))


def check_drain_timeout(value, errors):
    if value < 0:
        errors.append('drain_timeout must be 0 or more seconds, not %d' % value)


def execute_draining(session, operations, current, drain_timeout):
    """``execute`` a plan; with ``drain_timeout`` above 0, drain what it removes first.

    A plan that removes real servers or services is applied in two batches
    (see ``plan.split_for_drain``): its other operations with weight 0 for
    the real servers to be removed; then, once none of those has an active
    connection or ``drain_timeout`` seconds have passed, the deletes.  Each
    batch is undone on its own if the kernel refuses part of it.  In check
    mode both batches are predicted and nothing is waited for.  A plan
    without removals is one ``execute``, as with no ``drain_timeout``.

    Returns ``(operations, table, drained)``: the operations sent (or to be
    sent in check mode) in order, the touched services afterwards, and one
    entry per real server drained (see the modules' ``drained``)."""
    first, deletes, draining = split_for_drain(operations) if drain_timeout > 0 else (operations, [], [])
    if not deletes:
        return operations, execute(session, operations, current), []
    middle = execute(session, first, current)
    drained = [] if session.check_mode else _drain(session, draining, drain_timeout)
    table = dict(current)
    table.update(middle)
    try:
        after = execute(session, deletes, table)
    except LvsError as exc:
        raise LvsError('%s; this was the removal after the drain: the other changes of this run, and weight 0 for the '
                       'real servers to be removed, had taken effect before it and stay' % exc)
    removed = set(touched_keys(deletes))
    result = dict((key, service) for key, service in middle.items() if key not in removed)
    result.update(after)
    return first + deletes, result, drained


def _drain(session, draining, timeout):
    """Wait until no real server of ``draining`` has an active connection, at
    most ``timeout`` seconds; the entries of ``drained``, with a warning for
    each real server that still had some."""
    counts, seconds, _finished = poll_connections(session, draining, timeout, lambda count: count['active'] == 0)
    entries = []
    for (service, real), count in zip(draining, counts):
        entries.append(dict(service=service_label(service), real_server=real_server_label(real),
                            weight_before=real['weight'], active_connections=count['active'],
                            inactive_connections=count['inactive'], seconds_waited=round(seconds, 1)))
        if count['active']:
            session.warnings.append(
                '%s: real server %s still had %d active connection%s after drain_timeout (%d seconds); it was removed '
                'all the same' % (service_label(service), real_server_label(real), count['active'],
                                  '' if count['active'] == 1 else 's', timeout))
    return entries
