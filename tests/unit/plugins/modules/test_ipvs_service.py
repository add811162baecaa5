# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_service against the simulated kernel."""

from __future__ import annotations

import pytest

from ansible_collections.lvs.ipvs.plugins.modules import ipvs_service
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.ipvs_harness import Environment

WEB = {'vip': '192.0.2.10', 'port': 80, 'scheduler': 'wrr', 'forwarding': 'nat',
       'real_servers': [{'address': '10.0.0.1', 'port': 8080}, {'address': '10.0.0.2', 'port': 8080, 'weight': 3}]}


@pytest.fixture
def env(monkeypatch):
    return Environment(monkeypatch)


def _four_passes(env, args, expected_rules):
    check = env.run(ipvs_service.main, args, check=True, diff=True)
    real = env.run(ipvs_service.main, args, diff=True)
    assert check['changed'] is real['changed'] is True
    assert check['operations'] == real['operations'] == expected_rules
    assert check['_kernel_changes'] == 0
    assert real['_kernel_changes'] == real['netlink_requests'] == len(expected_rules)
    assert check['diff'] == real['diff']
    assert check['service'] == real['service']
    for check_mode in (True, False):
        again = env.run(ipvs_service.main, args, check=check_mode)
        assert again['changed'] is False and again['operations'] == [] and again['_kernel_changes'] == 0
    return real


def test_create_change_remove(env):
    created = _four_passes(env, WEB, ['-A -t 192.0.2.10:80 -s wrr', '-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 1',
                                      '-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 3'])
    assert created['diff']['before'] == {}
    assert created['service']['real_servers'][1]['weight'] == 3

    persistent = dict(WEB, persistence_timeout=120, persistence_netmask='255.255.255.0', scheduler='sh',
                      scheduler_flags=['sh-port'])
    changed = _four_passes(env, persistent, ['-E -t 192.0.2.10:80 -s sh -b sh-port -p 120 -M 255.255.255.0'])
    assert changed['diff']['before']['scheduler'] == 'wrr'
    assert changed['diff']['after']['persistence_netmask'] == 24
    svc = env.kernel.services[(2, 6, '192.0.2.10', 80)]
    assert (svc['sched_name'], svc['flags'], svc['timeout'], svc['netmask']) == ('sh', 0x1 | 0x10, 120, 0xFFFFFF00)
    assert len(svc['dests']) == 2     # kept through the change

    removed = _four_passes(env, {'vip': '192.0.2.10', 'port': 80, 'state': 'absent'}, ['-D -t 192.0.2.10:80'])
    assert removed['service'] == {} and removed['diff']['after'] == {}
    assert env.kernel.services == {}


def test_real_servers_left_out_are_left_alone_and_listed_are_exact(env):
    env.run(ipvs_service.main, WEB)
    alone = env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 80, 'scheduler': 'wrr'})
    assert alone['changed'] is False
    assert len(alone['service']['real_servers']) == 2
    exact = env.run(ipvs_service.main, dict(WEB, real_servers=[{'address': '10.0.0.2', 'port': 8080, 'weight': 3}]))
    assert exact['operations'] == ['-d -t 192.0.2.10:80 -r 10.0.0.1:8080']
    emptied = env.run(ipvs_service.main, dict(WEB, real_servers=[]))
    assert emptied['operations'] == ['-d -t 192.0.2.10:80 -r 10.0.0.2:8080']


def test_ipv6_fwmark_service(env):
    args = {'fwmark': 42, 'family': 'ipv6', 'scheduler': 'mh', 'scheduler_flags': ['mh-fallback'],
            'persistence_timeout': 30, 'persistence_netmask': 56, 'forwarding': 'tun',
            'real_servers': [{'address': '2001:db8::5', 'tunnel_type': 'gue', 'tunnel_port': 5555,
                              'tunnel_checksum': 'remcsum'}]}
    _four_passes(env, args, ['-A -f 42 -6 -s mh -b mh-fallback -p 30 -M 56',
                             '-a -f 42 -6 -r [2001:db8::5]:0 -i -w 1 --tun-type gue --tun-port 5555 --tun-remcsum'])
    svc = env.kernel.services[(10, 'fwmark', 42)]
    assert svc['netmask'] == 56
    assert svc['dests'][(10, '2001:db8::5', 0)]['tun_flags'] == 2


def test_absent_when_missing_and_ip_vs_not_loaded(monkeypatch):
    env = Environment(monkeypatch, loaded=False)
    result = env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 80, 'state': 'absent'})
    assert result['changed'] is False and result['service'] == {}
    assert env.modprobe == []          # removing needs no module


def test_absent_port_zero_service(env):
    env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 0, 'persistence_timeout': 10})
    result = env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 0, 'state': 'absent'})
    assert result['operations'] == ['-D -t 192.0.2.10:0']


def test_invalid_changes_nothing(env):
    env.run(ipvs_service.main, WEB)
    before = env.kernel.snapshot()
    result = env.run(ipvs_service.main, dict(WEB, forwarding='dr'))
    assert result['failed'] and 'dr forwarding cannot map ports' in result['msg']
    assert env.kernel.snapshot() == before
    result = env.run(ipvs_service.main, {'fwmark': 1, 'vip': '192.0.2.1', 'port': 80})
    assert result['failed'] and 'mutually exclusive' in result['msg']
    result = env.run(ipvs_service.main, {'vip': '192.0.2.1'})
    assert result['failed'] and 'port' in result['msg']


def test_drain_real_servers_no_longer_listed(env):
    env.run(ipvs_service.main, WEB)
    leaving = env.kernel.services[(2, 6, '192.0.2.10', 80)]['dests'][(2, '10.0.0.1', 8080)]
    leaving.update(active_conns=4, inact_conns=1)

    def connections_end(sleeps):
        assert leaving['weight'] == 0
        leaving['active_conns'] -= 2
    clock = env.fake_time(connections_end)
    args = dict(WEB, real_servers=WEB['real_servers'][1:], drain_timeout=60)
    check = env.run(ipvs_service.main, args, check=True)
    real = env.run(ipvs_service.main, args)
    for result in (check, real):
        assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 0',
                                        '-d -t 192.0.2.10:80 -r 10.0.0.1:8080']
    assert check['_kernel_changes'] == 0 and check['drained'] == []
    assert real['drained'] == [{'service': 'tcp 192.0.2.10:80', 'real_server': '10.0.0.1:8080', 'weight_before': 1,
                                'active_connections': 0, 'inactive_connections': 1, 'seconds_waited': 2.0}]
    assert clock.sleeps == 2
    assert [real['address'] for real in real['service']['real_servers']] == ['10.0.0.2']


def test_drain_before_removing_the_service(env):
    env.run(ipvs_service.main, WEB)
    dests = env.kernel.services[(2, 6, '192.0.2.10', 80)]['dests']
    dests[(2, '10.0.0.2', 8080)]['active_conns'] = 1
    clock = env.fake_time()
    result = env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 80, 'state': 'absent', 'drain_timeout': 3})
    assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 0',
                                    '-e -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 0', '-D -t 192.0.2.10:80']
    assert [(entry['real_server'], entry['weight_before'], entry['active_connections'])
            for entry in result['drained']] == [('10.0.0.1:8080', 1, 0), ('10.0.0.2:8080', 3, 1)]
    assert clock.now == 1003.0 and len(result['_warnings']) == 1
    assert result['service'] == {} and env.kernel.services == {}
    assert env.run(ipvs_service.main, {'vip': '192.0.2.10', 'port': 80, 'state': 'absent', 'drain_timeout': 3})[
        'changed'] is False


def test_drain_timeout_without_removal_changes_nothing_else(env):
    env.fake_time()
    result = env.run(ipvs_service.main, dict(WEB, drain_timeout=30))
    assert result['operations'][0] == '-A -t 192.0.2.10:80 -s wrr' and result['drained'] == []
    result = env.run(ipvs_service.main, dict(WEB, drain_timeout=-5))
    assert result['failed'] and 'drain_timeout must be 0 or more seconds, not -5' in result['msg']
