# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_info against the simulated kernel."""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.modules import ipvs_info, ipvs_table
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.ipvs_harness import Environment

SERVICES = [
    {'fwmark': 3, 'scheduler': 'rr', 'real_servers': [{'address': '10.0.0.9'}]},
    {'vip': '2001:db8::1', 'port': 443, 'real_servers': [{'address': '2001:db8::2'}]},
    {'vip': '192.0.2.10', 'port': 80, 'scheduler': 'sh', 'scheduler_flags': ['sh-port'],
     'real_servers': [{'address': '10.0.0.2', 'weight': 3}, {'address': '10.0.0.1'}]},
]


def test_info_reads_everything(monkeypatch):
    env = Environment(monkeypatch)
    env.run(ipvs_table.main, {'services': SERVICES})
    env.kernel.services[(2, 6, '192.0.2.10', 80)]['dests'][(2, '10.0.0.1', 80)].update(active_conns=4, inact_conns=5)
    env.kernel.daemons = [[['IPVS_DAEMON_ATTR_STATE', 2], ['IPVS_DAEMON_ATTR_MCAST_IFN', 'eth1'],
                           ['IPVS_DAEMON_ATTR_SYNC_ID', 9], ['IPVS_DAEMON_ATTR_MCAST_GROUP6', 'ff02::12']]]
    result = env.run(ipvs_info.main, {})
    assert result['changed'] is False and result['_kernel_changes'] == 0
    assert result['loaded'] is True
    assert result['version'] == '1.2.1' and result['connection_table_size'] == 4096
    assert result['timeouts'] == {'tcp': 900, 'tcp_fin': 120, 'udp': 300}
    assert result['sync_daemons'] == [dict(state='backup', interface='eth1', sync_id=9, max_length=None,
                                           group='ff02::12', port=None, ttl=None)]
    services = result['services']
    assert [(s['vip'], s['fwmark']) for s in services] == [('192.0.2.10', None), ('2001:db8::1', None), (None, 3)]
    web = services[0]
    assert web['scheduler_flags'] == ['sh-port']
    assert web['stats']['connections'] == 7 * 1000003           # the 64-bit counters
    assert [r['address'] for r in web['real_servers']] == ['10.0.0.1', '10.0.0.2']
    first = web['real_servers'][0]
    assert (first['active_connections'], first['inactive_connections']) == (4, 5)
    assert first['stats']['bytes_out_per_second'] == 5 * 1000003
    # the entries have the shape ipvs_table takes: feeding them back changes nothing
    back = [dict((k, v) for k, v in s.items() if k != 'stats') for s in services]
    for service in back:
        for key in [k for k, v in service.items() if v is None]:
            del service[key]
        service['real_servers'] = [dict((k, v) for k, v in r.items()
                                        if v is not None and k not in ('stats', 'active_connections',
                                                                       'inactive_connections', 'persistent_connections'))
                                   for r in service['real_servers']]
    fed_back = env.run(ipvs_table.main, {'services': back})
    assert fed_back.get('changed') is False, fed_back


def test_info_without_statistics(monkeypatch):
    env = Environment(monkeypatch)
    env.run(ipvs_table.main, {'services': SERVICES[2:]})
    result = env.run(ipvs_info.main, {'statistics': False})
    assert 'stats' not in result['services'][0]
    assert 'stats' not in result['services'][0]['real_servers'][0]
    assert 'active_connections' in result['services'][0]['real_servers'][0]


def test_info_when_ip_vs_is_not_loaded(monkeypatch):
    env = Environment(monkeypatch, loaded=False)
    result = env.run(ipvs_info.main, {})
    assert result['loaded'] is False and result['services'] == [] and result['version'] is None
    assert env.modprobe == []       # reading never loads a module
