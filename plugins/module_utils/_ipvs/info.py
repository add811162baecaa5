# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flow of lvs.ipvs.ipvs_info: the table with statistics, read only.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.
"""

from __future__ import annotations


from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import table_view


_DAEMON_STATES = {1: 'master', 2: 'backup'}


def info_flow(module, session):
    with_stats = module.params['statistics']
    session.connect(load=False)
    result = dict(changed=False, loaded=session.sock is not None, services=[], timeouts={}, sync_daemons=[],
                  version=None, connection_table_size=None)
    if session.sock is None:
        return result
    services = session.read_services(with_stats=with_stats)
    for service in services.values():
        session.read_real_servers(service, with_counters=True, with_stats=with_stats)
    result['services'] = table_view(services)
    result['timeouts'] = session.sock.get_config()
    result.update(session.sock.get_info())
    result['sync_daemons'] = [dict(
        state=_DAEMON_STATES.get(daemon.get('state'), daemon.get('state')),
        interface=daemon.get('mcast_ifn'),
        sync_id=daemon.get('sync_id'),
        max_length=daemon.get('sync_maxlen'),
        group=daemon.get('mcast_group'),
        port=daemon.get('mcast_port'),
        ttl=daemon.get('mcast_ttl'),
    ) for daemon in session.sock.dump_daemons()]
    return result
