# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain real servers before removing them: weight 0, wait for their connections, remove.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

``poll_connections`` is the one wait for connection counters (ipvs_real's
``wait``).
"""

from __future__ import annotations

import time

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import real_server_key, service_key

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
