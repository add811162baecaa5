# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flow of lvs.ipvs.ipvs_service: one virtual service.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.
"""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.drain import check_drain_timeout, execute_draining
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import finish
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import normalise_service, normalise_service_key, raise_errors, service_key
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import plan


KEY_OPTIONS = ('vip', 'fwmark', 'protocol', 'port', 'family')


def service_flow(module, session):
    params = module.params
    state = params['state']
    errors = []
    if state == 'absent':
        service = normalise_service_key(params, errors)[0]
    else:
        service = normalise_service(params, errors)
    check_drain_timeout(params['drain_timeout'], errors)
    raise_errors(errors)

    session.connect(load=state == 'present')
    existing = session.read_service(service)
    current = {} if existing is None else {service_key(existing): existing}
    if state == 'absent':
        key = service_key(service)
        operations = plan(current, [], purge_services=True, in_purge_scope=lambda other: service_key(other) == key)
    else:
        operations = plan(current, [service], exact_real_servers=True)
    operations, after_table, drained = execute_draining(session, operations, current, params['drain_timeout'])
    after = after_table.get(service_key(service)) if operations else existing
    return finish(module, session, operations, existing or {}, after or {}, dict(service=after or {}, drained=drained))
