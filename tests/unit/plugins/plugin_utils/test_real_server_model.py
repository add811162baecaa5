# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of what the cluster model asks of one real server."""

from __future__ import annotations

import pytest

from ansible_collections.lvs.ipvs.plugins.plugin_utils._real_server_model import host_addresses, real_server_setup

# rs1's facts: eth0 management with the default route, eth1 faces the director.
FACTS = {
    'interfaces': ['lo', 'eth0', 'eth1', 'eth1.100'],
    'default_ipv4': {'address': '10.0.2.15', 'interface': 'eth0'},
    'lo': {'device': 'lo', 'ipv4': {'address': '127.0.0.1'}, 'ipv6': [{'address': '::1'}]},
    'eth0': {'device': 'eth0', 'ipv4': {'address': '10.0.2.15'}},
    'eth1': {'device': 'eth1', 'ipv4': {'address': '10.10.0.11'}, 'ipv6': [{'address': 'FD00:10::11'}]},
    'eth1_100': {'device': 'eth1.100', 'ipv4': {'address': '10.100.0.11'}},
}


def service(name, forwarding, real_servers, **kwargs):
    entry = {'name': name, 'vip': '192.0.2.10', 'port': 80, 'forwarding': forwarding, 'real_servers': real_servers}
    entry.update(kwargs)
    return entry


# The inventory as the role's filter sees it (hostvars): rs1 is this host.
HOSTVARS = {
    'rs1': {'lvs_address': '10.10.0.11', 'ansible_default_ipv4': FACTS['default_ipv4']},
    'rs2': {'lvs_address': '10.10.0.12'},
}


def setup(services, **kwargs):
    kwargs.setdefault('address', '10.10.0.11')
    kwargs.setdefault('hostvars', HOSTVARS)
    return real_server_setup(services, 'rs1', FACTS, **kwargs)


def test_host_addresses_from_facts():
    found = host_addresses(FACTS)
    assert found['10.10.0.11'] == 'eth1'
    assert found['fd00:10::11'] == 'eth1'
    assert found['10.100.0.11'] == 'eth1.100'


def test_dr_by_host_name():
    result = setup([service('web', 'dr', [{'host': 'rs1'}, {'host': 'rs2'}])])
    assert result['problems'] == []
    assert result['vips'] == [{'vip': '192.0.2.10', 'forwarding': 'dr', 'tunnel_type': None, 'tunnel_port': None, 'services': ['web']}]
    assert result['address'] == '10.10.0.11'
    assert result['arp_interface'] == 'eth1'
    assert result['nat_routes'] == [] and result['fullnat'] == []


def test_other_hosts_services_are_ignored():
    result = setup([service('web', 'dr', [{'host': 'rs2'}, {'address': '10.10.0.13'}])])
    assert result['vips'] == [] and result['problems'] == []


def test_match_by_address_in_any_notation():
    result = setup([service('web', 'dr', [{'address': 'fd00:10:0::11'}], vip='2001:DB8::10')])
    assert [v['vip'] for v in result['vips']] == ['2001:db8::10']


def test_without_lvs_address_the_default_route_address_serves():
    hostvars = {'rs1': {'ansible_default_ipv4': FACTS['default_ipv4']}}
    result = real_server_setup([service('web', 'dr', [{'host': 'rs1'}])], 'rs1', FACTS, hostvars=hostvars)
    assert result['problems'] == []
    assert result['address'] == '10.0.2.15'
    assert result['arp_interface'] == 'eth0'


def test_unknown_own_address_is_a_problem():
    facts = {'interfaces': ['lo'], 'lo': {'ipv4': {'address': '127.0.0.1'}}}
    result = real_server_setup([service('web', 'dr', [{'host': 'rs1'}])], 'rs1', facts, hostvars={'rs1': {}})
    assert result['problems'] == ['Virtual service web, real server rs1: its address is unknown. Set its host '
                                  'variable lvs_address, give the real server an address: instead of host:, or '
                                  'gather facts from that host.']


def test_tun_entries_carry_their_tunnel():
    services = [
        service('a', 'tun', [{'host': 'rs1', 'tunnel_type': 'gue', 'tunnel_port': 6080}]),
        service('b', 'tun', [{'host': 'rs1', 'tunnel_type': 'gue', 'tunnel_port': 6080}], port=443),
        service('c', 'tun', [{'host': 'rs1'}], vip='192.0.2.20'),
    ]
    result = setup(services)
    assert result['problems'] == []
    assert result['vips'] == [
        {'vip': '192.0.2.10', 'forwarding': 'tun', 'tunnel_type': 'gue', 'tunnel_port': 6080, 'services': ['a', 'b']},
        {'vip': '192.0.2.20', 'forwarding': 'tun', 'tunnel_type': 'ipip', 'tunnel_port': None, 'services': ['c']},
    ]


@pytest.mark.parametrize('services, message', [
    ([service('a', 'dr', [{'host': 'rs1'}]), service('b', 'tun', [{'host': 'rs1'}], port=443)],
     'VIP 192.0.2.10 reaches this host through a (dr) and through b (tun, ipip)'),
    ([service('a', 'tun', [{'host': 'rs1', 'tunnel_type': 'gue'}])], 'a gue tunnel needs tunnel_port'),
    ([service('a', 'tun', [{'host': 'rs1', 'tunnel_port': 6080}])], 'tunnel_port only applies to gue tunnels'),
    ([service('a', 'tun', [{'host': 'rs1', 'tunnel_type': 'vxlan'}])], 'tunnel_type must be one of'),
    ([{'name': 'm', 'fwmark': 7, 'forwarding': 'dr', 'real_servers': [{'host': 'rs1'}]}], 'real_server_extra_vips'),
    ([service('a', 'dr', [{'host': 'rs1'}], vip='192.0.2.0/24')], "'192.0.2.0/24' is not a valid IPv4 or IPv6 address"),
    ([service('a', 'bridge', [{'host': 'rs1'}])], 'forwarding must be one of'),
    ([service('a', 'nat', [{'host': 'rs1'}])], 'set real_server_nat_gateway to the director'),
    ('web', 'must be a list'),
])
def test_problems(services, message):
    problems = setup(services)['problems']
    assert any(message in problem for problem in problems), problems


def test_extra_vips_for_firewall_mark_services():
    services = [{'name': 'm', 'fwmark': 7, 'forwarding': 'dr', 'real_servers': [{'host': 'rs1'}]}]
    result = setup(services, extra_vips=[{'vip': '192.0.2.30'}, {'vip': '192.0.2.31', 'forwarding': 'tun'}])
    assert [(v['vip'], v['forwarding']) for v in result['vips']] == [('192.0.2.30', 'dr'), ('192.0.2.31', 'tun')]
    assert [p for p in result['problems'] if 'real_server_extra_vips' in p]  # the mark service still says so


def test_nat_routes_by_family_with_real_ports():
    services = [
        service('web', 'nat', [{'host': 'rs1', 'port': 8080}]),
        service('dns', 'nat', [{'host': 'rs1'}], protocol='udp', port=53),
        service('web6', 'nat', [{'address': 'fd00:10::11', 'port': 8080}], vip='2001:db8::10'),
        {'name': 'marked', 'fwmark': 3, 'forwarding': 'nat', 'real_servers': [{'host': 'rs1'}]},
    ]
    result = setup(services, nat_gateways=['10.10.0.1', 'fd00:10::1'])
    assert result['problems'] == []
    assert result['vips'] == []
    assert result['nat_routes'] == [
        {'family': 'ipv4', 'gateway': '10.10.0.1', 'rules': [
            {'source': '10.10.0.11', 'protocol': None, 'port': None},
            {'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080},
            {'source': '10.10.0.11', 'protocol': 'udp', 'port': 53},
        ]},
        {'family': 'ipv6', 'gateway': 'fd00:10::1', 'rules': [{'source': 'fd00:10::11', 'protocol': 'tcp', 'port': 8080}]},
    ]


def test_nat_gateway_of_the_wrong_family_is_a_problem():
    result = setup([service('web6', 'nat', [{'address': 'fd00:10::11'}], vip='2001:db8::10')], nat_gateways=['10.10.0.1'])
    assert 'IPv6' in result['problems'][0] and 'real_server_nat_gateway_ipv6' in result['problems'][0]


def test_bad_and_duplicate_gateways():
    services = [service('web', 'nat', [{'host': 'rs1'}])]
    assert 'not an IP address' in setup(services, nat_gateways=['director'])['problems'][0]
    assert 'one address per family' in setup(services, nat_gateways=['10.10.0.1', '10.10.0.2'])['problems'][0]


def test_fullnat_needs_nothing():
    result = setup([service('web', 'fullnat', [{'host': 'rs1'}])])
    assert result['fullnat'] == ['web']
    assert result['vips'] == [] and result['nat_routes'] == [] and result['problems'] == []


def test_every_host_sees_every_problem_of_the_model():
    """Both roles read the model through one normaliser: a typo in another host's entry stops this one too."""
    result = setup([service('web', 'dr', [{'host': 'rs1'}]), service('api', 'dr', [{'host': 'rs3'}], port=8080)])
    assert result['problems'] == ['Virtual service api, real server rs3 is not in the inventory: fix the host name, '
                                  'or give the real server an address: instead of host:.']
    twice = setup([service('web', 'dr', [{'host': 'rs1'}, {'address': '10.10.0.11'}])])
    assert len(twice['problems']) == 1 and 'lists real server 10.10.0.11:80 twice' in twice['problems'][0]
