# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flow of lvs.ipvs.ipvs_table: the whole table, or the part one owner manages.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.drain import check_drain_timeout, execute_draining
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import finish
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    check_unique_services,
    normalise_service,
    normalise_service_key,
    raise_errors,
    service_key,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import format_operations, plan, rule_service_key, table_view, touched_keys

# A table with more services and real servers than this is not echoed back in
# the result's ``invocation`` (see _short_invocation).
INVOCATION_ECHO_LIMIT = 200


def _purge_scope(scope, errors):
    """in_scope(service) for ``purge_scope``, or None (everything is in scope)."""
    if not scope:
        return None
    networks = []
    for text in scope.get('vips') or ():
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            errors.append('purge_scope: %r is not an address or network' % text)
    fwmarks = set(scope.get('fwmarks') or ())
    owned = set()
    for rule in scope.get('rules') or ():
        try:
            options = rule_service_key(rule)
        except ValueError as exc:
            errors.append('purge_scope.rules: %s' % exc)
            continue
        if options is not None:
            key_errors = []
            service = normalise_service_key(options, key_errors)[0]
            errors.extend('purge_scope.rules: %r: %s' % (rule, error) for error in key_errors)
            owned.add(service_key(service))

    def in_scope(service):
        if service_key(service) in owned:
            return True
        if service.get('fwmark'):
            return service['fwmark'] in fwmarks
        address = ipaddress.ip_address(service['vip'])
        return any(address.version == network.version and address in network for network in networks)
    return in_scope


def table_flow(module, session):
    params = module.params
    errors = []
    desired = []
    for entry in params['services']:
        service = normalise_service(entry, errors)
        if service.get('real_servers') is None:
            service['real_servers'] = []
        desired.append(service)
    check_unique_services([service for service in desired if service.get('family')], errors)
    purge = params['purge']
    in_scope = _purge_scope(params.get('purge_scope'), errors)
    check_drain_timeout(params['drain_timeout'], errors)
    raise_errors(errors)
    # What this table is from empty: the same plan, as ipvsadm-restore reads it (the boot file).
    extra = dict(rules=format_operations(plan({}, desired))) if params['return_rules'] else {}

    session.connect()
    current = session.read_services()
    wanted = set(service_key(service) for service in desired)
    for key, service in current.items():
        if key in wanted or (purge and (in_scope is None or in_scope(service))):
            session.read_real_servers(service, sort=False)
    operations = plan(current, desired, purge_services=purge, in_purge_scope=in_scope, exact_real_servers=purge)
    # The diff's views are built only for --diff: a copy of every touched
    # service is a noticeable cost when a run builds thousands.
    before_keys = touched_keys(operations)
    before = dict(services=table_view(current, before_keys)) if module._diff else None
    operations, after_table, extra['drained'] = execute_draining(session, operations, current, params['drain_timeout'])
    after = dict(services=table_view(after_table, before_keys)) if module._diff else None
    extra.update(_short_invocation(params, desired) or {})
    return finish(module, session, operations, before, after, extra)


def _short_invocation(params, desired):
    """The ``invocation`` of a large table without its services.

    Ansible echoes a module's arguments back in its result (shown at -vvv)
    and first walks the whole result for values to hide: for a table of
    thousands of real servers that is megabytes sent back over ssh and about
    a second of work, for a copy of what the playbook holds already."""
    real_servers = sum(len(service['real_servers']) for service in desired)
    if len(desired) + real_servers <= INVOCATION_ECHO_LIMIT:
        return None
    args = dict(params, services='%d services with %d real servers (not echoed back: more than %d entries)'
                % (len(desired), real_servers, INVOCATION_ECHO_LIMIT))
    return dict(invocation=dict(module_args=args))
