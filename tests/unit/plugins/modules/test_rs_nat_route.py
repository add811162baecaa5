# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rs_nat_route module as a whole, over a fake kernel behind mocked pyroute2 classes."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
from ansible_collections.lvs.ipvs.plugins.modules import rs_nat_route
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.rs_fake_kernel import install_fake_kernel
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.rs_fake_kernel import run as run_module

RULES = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}]


@pytest.fixture(name='kernel')
def kernel_fixture(tmp_path, monkeypatch):
    fake = install_fake_kernel(tmp_path, monkeypatch)
    fake.add_link('eth1', 'veth', 0x1)
    fake.addresses += [('eth0', '10.0.2.15', 24), ('eth1', '10.10.0.11', 24), ('eth1', 'fd00:10::11', 64)]
    fake.routes.append(dict(family=4, table=254, gateway='10.0.2.2', metric=0, oif=fake.links['eth0']['index']))
    return fake


def run(**kwargs):
    return run_module(rs_nat_route, **kwargs)


def test_missing_pyroute2_names_the_packages(kernel, monkeypatch):
    monkeypatch.setattr(_rs_host, 'HAS_PYROUTE2', False)
    result = run(gateway='10.10.0.1')
    assert result['failed'] and 'python3-pyroute2' in result['msg'] and 'pip install pyroute2' in result['msg']
    assert main_default(kernel) == [('10.0.2.2', 0)]


def main_default(kernel):
    return [(r['gateway'], r['metric']) for r in kernel.routes if r['family'] == 4 and r['table'] == 254]


def test_default_route_mode_replaces_then_puts_back(kernel):
    check = run(check=True, gateway='10.10.0.1', diff=True)
    assert check['changed'] is True and main_default(kernel) == [('10.0.2.2', 0)]
    result = run(gateway='10.10.0.1', diff=True)
    assert result['operations'] == check['operations'] == ['ip route replace default via 10.10.0.1 proto static']
    assert main_default(kernel) == [('10.10.0.1', 0)]
    assert result['diff']['after'] == {'IPv4 default route': 'default via 10.10.0.1 dev eth1'}
    assert run(gateway='10.10.0.1')['changed'] is False
    assert run(check=True, gateway='10.10.0.1')['changed'] is False
    absent = run(state='absent')
    assert absent['operations'] == ['ip route replace default via 10.0.2.2 dev eth0 proto static']
    assert main_default(kernel) == [('10.0.2.2', 0)]
    assert run(state='absent')['changed'] is False


def test_policy_mode_keeps_the_default_route(kernel):
    result = run(mode='policy', gateway='10.10.0.1', table=1000, rules=RULES)
    assert result['changed'] is True
    assert result['rules'] == ['priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 1000']
    assert main_default(kernel) == [('10.0.2.2', 0)]
    assert [r for r in kernel.routes if r['table'] == 1000][0]['gateway'] == '10.10.0.1'
    assert kernel.rules == [dict(family=4, priority=1000, table=1000, src='10.10.0.11', src_len=32, ip_proto=6,
                                 sport_range='8080:8080')]
    assert run(mode='policy', gateway='10.10.0.1', table=1000, rules=RULES)['changed'] is False
    removed = run(mode='policy', state='absent', table=1000)
    assert removed['operations'] == ['ip rule del priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 1000',
                                     'ip route del default via 10.10.0.1 table 1000']
    assert kernel.rules == [] and [r for r in kernel.routes if r['table'] == 1000] == []


def test_ipv6_policy(kernel):
    result = run(mode='policy', gateway='fd00:10::1', rules=[{'source': 'fd00:10::11', 'protocol': 'tcp', 'port': 80}])
    assert result['changed'] is True
    assert [(r['family'], r['metric']) for r in kernel.routes if r['table'] == 100] == [(6, 1024)]
    assert run(mode='policy', gateway='fd00:10::1', rules=[{'source': 'fd00:10::11', 'protocol': 'tcp', 'port': 80}])['changed'] is False


def test_errors_before_any_change(kernel):
    result = run(gateway='192.0.2.1')
    assert result['failed'] and 'not on a network this host is attached to' in result['msg']
    result = run(mode='policy', gateway='10.10.0.1', rules=[{'source': '10.10.0.11', 'port': 80}])
    assert result['failed'] and 'protocol' in result['msg']
    result = run()
    assert result['failed'] and 'gateway' in result['msg']
    assert kernel.calls == []


def test_netlink_error_is_reported(kernel):
    kernel.fail_with = errno.EPERM
    result = run(gateway='10.10.0.1')
    assert result['failed'] and 'use become' in result['msg']


def test_commands_from_empty_are_what_a_first_run_does(kernel):
    first = run(mode='policy', gateway='10.10.0.1', rules=RULES, return_commands=True)
    assert first['commands'] == first['operations'] == [
        'ip route replace default via 10.10.0.1 table 100 proto static',
        'ip rule add priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
    ]
    again = run(mode='policy', gateway='10.10.0.1', rules=RULES, return_commands=True)
    assert again['changed'] is False and again['commands'] == first['commands']
    assert run(mode='policy', state='absent', return_commands=True)['commands'] == []


def test_commands_of_ipv6_and_of_the_default_route(kernel):
    v6 = run(mode='policy', gateway='fd00:10::1', rules=[{'source': 'fd00:10::11', 'protocol': 'tcp', 'port': 80}],
             return_commands=True, check=True)
    assert v6['commands'] == ['ip -6 route replace default via fd00:10::1 table 100 metric 1024 proto static',
                              'ip -6 rule add priority 1000 from fd00:10::11/128 ipproto tcp sport 80 lookup 100']
    default = run(gateway='10.10.0.1', return_commands=True, check=True)
    assert default['commands'] == ['ip route replace default via 10.10.0.1 proto static']


def test_purge_false_keeps_an_unlisted_rule_and_returns_it(kernel):
    run(mode='policy', gateway='10.10.0.1', rules=RULES)
    new_port = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8081}]
    kept_and_new = ['priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
                    'priority 1000 from 10.10.0.11/32 ipproto tcp sport 8081 lookup 100']
    calls = list(kernel.calls)
    check = run(check=True, diff=True, mode='policy', gateway='10.10.0.1', rules=new_port, purge=False, return_commands=True)
    assert kernel.calls == calls  # check mode sends nothing
    assert check['changed'] is True and check['rules'] == kept_and_new
    assert check['diff']['after']['IPv4 rules at priority 1000'] == kept_and_new
    result = run(diff=True, mode='policy', gateway='10.10.0.1', rules=new_port, purge=False, return_commands=True)
    assert result['operations'] == check['operations'] == ['ip rule add ' + kept_and_new[1]]
    assert result['rules'] == kept_and_new and result['commands'] == check['commands'] == [
        'ip route replace default via 10.10.0.1 table 100 proto static'] + ['ip rule add ' + rule for rule in kept_and_new]
    assert sorted(r['sport_range'] for r in kernel.rules) == ['8080:8080', '8081:8081']
    again = run(check=True, mode='policy', gateway='10.10.0.1', rules=new_port, purge=False, return_commands=True)
    assert again['changed'] is False and again['commands'] == result['commands']
    # On a host with none of it (after a reboot), the commands are what a first run with every kept rule
    # listed does, and they give exactly what was live.
    live_rules, live_routes = list(kernel.rules), [r for r in kernel.routes if r['table'] == 100]
    kernel.rules, kernel.routes = [], [r for r in kernel.routes if r['table'] != 100]
    first = run(mode='policy', gateway='10.10.0.1', rules=RULES + new_port)
    assert first['operations'] == result['commands']
    assert sorted(kernel.rules, key=str) == sorted(live_rules, key=str)
    assert [r for r in kernel.routes if r['table'] == 100] == live_routes


def test_purge_true_removes_an_unlisted_rule(kernel):
    run(mode='policy', gateway='10.10.0.1', rules=RULES)
    new_port = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8081}]
    run(mode='policy', gateway='10.10.0.1', rules=new_port, purge=False)
    calls = list(kernel.calls)
    check = run(check=True, mode='policy', gateway='10.10.0.1', rules=new_port, return_commands=True)
    assert kernel.calls == calls
    result = run(mode='policy', gateway='10.10.0.1', rules=new_port, return_commands=True)
    assert result['operations'] == check['operations'] == [
        'ip rule del priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100']
    assert result['rules'] == ['priority 1000 from 10.10.0.11/32 ipproto tcp sport 8081 lookup 100']
    assert result['commands'][-1] == 'ip rule add ' + result['rules'][0] and len(result['commands']) == 2
    assert [r['sport_range'] for r in kernel.rules] == ['8081:8081']
