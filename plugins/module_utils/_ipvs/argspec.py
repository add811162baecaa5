# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The argument specs of the IPVS modules, shared so that an option means the same everywhere.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Each module documents its options; these build the matching ``argument_spec``.
"""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    FAMILIES,
    FORWARDING,
    PERSISTENCE_ENGINES,
    PROTOCOLS,
    SCHEDULER_FLAGS,
    SCHEDULERS,
    TUNNEL_CHECKSUMS,
    TUNNEL_TYPES,
)


def real_server_options():
    """The options of one entry of ``real_servers``."""
    return dict(
        address=dict(type='str', required=True),
        port=dict(type='int'),
        weight=dict(type='int', default=1),
        forwarding=dict(type='str', choices=sorted(FORWARDING)),
        upper_threshold=dict(type='int', default=0),
        lower_threshold=dict(type='int', default=0),
        tunnel_type=dict(type='str', choices=sorted(TUNNEL_TYPES)),
        tunnel_port=dict(type='int'),
        tunnel_checksum=dict(type='str', choices=sorted(TUNNEL_CHECKSUMS)),
    )


REAL_SERVER_RULES = dict(
    required_if=[('tunnel_type', 'gue', ('tunnel_port',))],
)


def service_key_options():
    return dict(
        vip=dict(type='str'),
        fwmark=dict(type='int'),
        protocol=dict(type='str', choices=sorted(PROTOCOLS)),
        port=dict(type='int'),
        family=dict(type='str', choices=sorted(FAMILIES)),
    )


SERVICE_KEY_RULES = dict(
    mutually_exclusive=[('fwmark', 'vip'), ('fwmark', 'port'), ('fwmark', 'protocol')],
    required_one_of=[('vip', 'fwmark')],
    required_by={'vip': ('port',)},
)


def service_options():
    """The options of a virtual service (ipvs_service, an entry of ipvs_table's ``services``)."""
    options = service_key_options()
    options.update(
        scheduler=dict(type='str', default='wlc', choices=list(SCHEDULERS)),
        scheduler_flags=dict(type='list', elements='str', default=[], choices=sorted(SCHEDULER_FLAGS)),
        persistence_timeout=dict(type='int', default=0),
        persistence_netmask=dict(type='raw'),
        one_packet=dict(type='bool', default=False),
        persistence_engine=dict(type='str', choices=list(PERSISTENCE_ENGINES)),
        forwarding=dict(type='str', default='dr', choices=sorted(FORWARDING)),
        real_servers=dict(type='list', elements='dict', options=real_server_options(), **REAL_SERVER_RULES),
    )
    return options


def ipvs_service_spec():
    spec = service_options()
    spec['state'] = dict(type='str', default='present', choices=['absent', 'present'])
    spec['drain_timeout'] = dict(type='int', default=0)
    return dict(argument_spec=spec, supports_check_mode=True, **SERVICE_KEY_RULES)


def ipvs_real_spec():
    spec = service_key_options()
    spec.update(
        address=dict(type='str', required=True),
        real_port=dict(type='int'),
        weight=dict(type='int', default=1),
        forwarding=dict(type='str', default='dr', choices=sorted(FORWARDING)),
        upper_threshold=dict(type='int', default=0),
        lower_threshold=dict(type='int', default=0),
        tunnel_type=dict(type='str', choices=sorted(TUNNEL_TYPES)),
        tunnel_port=dict(type='int'),
        tunnel_checksum=dict(type='str', choices=sorted(TUNNEL_CHECKSUMS)),
        state=dict(type='str', default='present', choices=['absent', 'drained', 'present']),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=300),
    )
    rules = dict(SERVICE_KEY_RULES)
    rules['required_if'] = REAL_SERVER_RULES['required_if']
    return dict(argument_spec=spec, supports_check_mode=True, **rules)


def ipvs_table_spec():
    entry = dict(type='list', elements='dict', default=[], options=service_options())
    entry.update(SERVICE_KEY_RULES)
    spec = dict(
        services=entry,
        purge=dict(type='bool', default=False),
        purge_scope=dict(type='dict', options=dict(
            vips=dict(type='list', elements='str', default=[]),
            fwmarks=dict(type='list', elements='int', default=[]),
            rules=dict(type='list', elements='str', default=[]),
        )),
        return_rules=dict(type='bool', default=False),
        drain_timeout=dict(type='int', default=0),
    )
    return dict(argument_spec=spec, supports_check_mode=True)


def ipvs_info_spec():
    return dict(argument_spec=dict(statistics=dict(type='bool', default=True)), supports_check_mode=True)
