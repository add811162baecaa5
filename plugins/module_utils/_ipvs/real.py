# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flow of lvs.ipvs.ipvs_real: one real server, present, drained or absent.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.
"""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.drain import poll_connections
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import execute, finish
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    normalise_real_server,
    normalise_real_server_key,
    normalise_service_key,
    raise_errors,
    real_server_key,
    real_server_label,
    service_key,
    service_label,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import DELETE_REAL_SERVER, Operation, plan


COUNTERS = ('active_connections', 'inactive_connections', 'persistent_connections')


def _real_params(params):
    return dict(address=params['address'], port=params['real_port'], weight=params['weight'],
                forwarding=params['forwarding'], upper_threshold=params['upper_threshold'],
                lower_threshold=params['lower_threshold'], tunnel_type=params['tunnel_type'],
                tunnel_port=params['tunnel_port'], tunnel_checksum=params['tunnel_checksum'])


def _find_real(service, real):
    if service is None:
        return None
    for candidate in service['real_servers']:
        if real_server_key(candidate) == real_server_key(real):
            return candidate
    return None


def _settings(real):
    """A real server without its connection counters (for diffs)."""
    if real is None:
        return {}
    return dict((field, value) for field, value in real.items() if field not in COUNTERS)


def real_flow(module, session):
    """present: the real server as given.  drained: weight 0, nothing else
    changed.  absent: removed (with ``wait``: drained first, then removed
    once its connections are gone)."""
    params = module.params
    state = params['state']
    wait = params['wait']
    errors = []
    service = normalise_service_key(params, errors)[0]
    if not errors:
        if state == 'present':
            wanted = normalise_real_server(_real_params(params), service, errors)
        else:
            wanted = normalise_real_server_key(_real_params(params), service, errors)
    if params['wait_timeout'] < 0:
        errors.append('wait_timeout must be 0 or more seconds, not %d' % params['wait_timeout'])
    raise_errors(errors)

    session.connect(load=state == 'present')
    existing = session.read_service(service, with_counters=True)
    if existing is None:
        if state == 'present':
            raise LvsError('%s does not exist: create it first with lvs.ipvs.ipvs_service or lvs.ipvs.ipvs_table'
                           % service_label(service))
        return finish(module, session, [], {}, {}, dict(real_server={}))
    key = service_key(existing)
    current = {key: existing}
    current_real = _find_real(existing, wanted)

    operations = []
    if state == 'present':
        operations = plan(current, [dict(existing, real_servers=[wanted])])
    elif current_real is not None and (state == 'drained' or wait):
        operations = plan(current, [dict(existing, real_servers=[dict(current_real, weight=0)])])
    table = execute(session, operations, current) if operations else current
    after_real = _find_real(table.get(key), wanted)

    extra = {}
    if wait and state != 'present' and current_real is not None and not session.check_mode:
        extra['connections'] = _wait_for_drain(session, existing, wanted, params['wait_timeout'])
    if state == 'absent' and after_real is not None:
        removal = [Operation(DELETE_REAL_SERVER, dict(existing, real_servers=None), after_real, before=after_real)]
        execute(session, removal, table)
        operations = operations + removal
        after_real = None
    if after_real is not None and not session.check_mode and operations:
        # Read back with the connection counters for the result.
        after_real = _find_real(session.read_service(existing, with_counters=True), wanted)
    extra['real_server'] = after_real or {}
    return finish(module, session, operations, _settings(current_real), _settings(after_real), extra)


def _wait_for_drain(session, service, real, timeout):
    """Wait until the real server has no active and no inactive connection."""
    counts, _seconds, finished = poll_connections(
        session, [(service, real)], timeout, lambda count: count['active'] == 0 and count['inactive'] == 0)
    counts = counts[0]
    if not finished:
        raise LvsError('real server %s of %s still has %d active and %d inactive connections after %d seconds: '
                       'it is drained (weight 0) but %s' % (
                           real_server_label(real), service_label(service), counts['active'],
                           counts['inactive'], timeout,
                           'was not removed' if session.module.params['state'] == 'absent'
                           else 'its connections have not ended yet'))
    return counts
