# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the cluster model read by the roles."""

from __future__ import annotations

import pytest

from ansible_collections.lvs.ipvs.plugins.plugin_utils import _cluster_model as model

HOSTVARS = {
    'rs1': {'lvs_address': '10.10.0.11', 'real_server_nat_gateway': '10.10.0.1'},
    'rs2': {'ansible_default_ipv4': {'address': '10.10.0.12'}, 'real_server_nat_gateway': '10.10.0.99'},
    'rs3': {},
}
# Facts as the setup module gathers them: eth0 management, eth1 faces the real servers.
FACTS = {
    'interfaces': ['lo', 'eth0', 'eth1'],
    'lo': {'ipv4': {'address': '127.0.0.1', 'netmask': '255.0.0.0'}},
    'eth0': {'ipv4': {'address': '10.0.2.15', 'netmask': '255.255.255.0'}},
    'eth1': {
        'ipv4': {'address': '10.10.0.1', 'netmask': '255.255.255.0'},
        'ipv4_secondaries': [{'address': '192.0.2.10', 'netmask': '255.255.255.255'}],
        'ipv6': [{'address': 'fd00:10::1', 'prefix': '64', 'scope': 'global'}],
    },
}


def service(**overrides):
    base = {'name': 'web', 'vip': '192.0.2.10', 'protocol': 'tcp', 'port': 80, 'scheduler': 'wrr',
            'forwarding': 'dr', 'health_check': {'type': 'http'},
            'real_servers': [{'host': 'rs1', 'weight': 2}, {'address': '10.10.0.13'}]}
    base.update(overrides)
    return base


def resolve(services, hostvars=None):
    """normalise_model for a model that must have no problem."""
    resolved, problems = model.normalise_model(services, HOSTVARS if hostvars is None else hostvars)
    assert problems == []
    return resolved


def test_normalise_takes_lvs_address_then_facts_and_defaults_port_and_forwarding():
    services = resolve(
        [service(), service(name='other', port=81, forwarding='nat', real_servers=[{'host': 'rs2', 'port': 8080}])])
    assert [rs['address'] for rs in services[0]['real_servers']] == ['10.10.0.11', '10.10.0.13']
    assert [rs['port'] for rs in services[0]['real_servers']] == [80, 80]
    assert services[1]['real_servers'] == [{'host': 'rs2', 'port': 8080, 'address': '10.10.0.12'}]
    assert [entry['label'] for entry in services] == ['web', 'other']
    six = resolve([service(name=None, vip='FD00::10', real_servers=[{'address': 'FD00:0::0:11'}])])
    assert six[0]['real_servers'][0]['address'] == 'fd00::11' and six[0]['label'] == 'tcp FD00::10:80'


@pytest.mark.parametrize('real_server, message', [
    ({'host': 'nowhere'}, 'Virtual service web, real server nowhere is not in the inventory: fix the host name'),
    ({'host': 'rs3'}, 'Virtual service web, real server rs3: its address is unknown. Set its host variable lvs_address'),
    ({'host': 'rs1', 'address': '10.0.0.1'}, 'Virtual service web, real server rs1 needs exactly one of host'),
    ({'weight': 1}, 'exactly one of host'),
    ('rs1', 'Virtual service web, real server 1 must be a dictionary'),
])
def test_normalise_names_unresolvable_real_servers(real_server, message):
    services, problems = model.normalise_model([service(real_servers=[real_server]), service(name='fine')], HOSTVARS)
    assert len(problems) == 1 and message in problems[0], problems
    assert [entry['label'] for entry in services] == ['fine']


def test_normalise_gives_every_problem_at_once():
    without = service(name='bare')
    del without['forwarding']
    services, problems = model.normalise_model(
        [service(forwarding='masq'), without, 'text',
         service(name='twice', real_servers=[{'host': 'rs1'}, {'address': '10.10.0.11'}])], HOSTVARS)
    assert services == []
    assert problems == [
        'Virtual service web: value of forwarding must be one of: nat, dr, tun, fullnat, got: masq.',
        'Virtual service bare: missing required arguments: forwarding.',
        'lvs_virtual_services[2] must be a dictionary.',
        'Virtual service twice lists real server 10.10.0.11:80 twice (as rs1 and 10.10.0.11): each address and '
        'port may appear once in a service.',
    ]
    assert model.normalise_model({'web': service()}, HOSTVARS) == ([], ['lvs_virtual_services must be a list of '
                                                                        'virtual services.'])
    assert model.normalise_model(None, HOSTVARS) == ([], [])


def test_ipvs_table_services_keeps_kernel_keys_and_writes_fullnat_as_nat():
    services = resolve([service(forwarding='fullnat', persistence_timeout=300)])
    assert model.ipvs_table_services(services) == [{
        'vip': '192.0.2.10', 'protocol': 'tcp', 'port': 80, 'scheduler': 'wrr', 'persistence_timeout': 300,
        'forwarding': 'nat',
        'real_servers': [{'address': '10.10.0.11', 'port': 80, 'weight': 2}, {'address': '10.10.0.13', 'port': 80}],
    }]


def test_vips_are_distinct_and_ordered_and_skip_fwmark():
    services = [service(vip='192.0.2.20'), service(), service(port=443), {'fwmark': 7, 'real_servers': []}]
    assert model.vips(services) == ['192.0.2.20', '192.0.2.10']


def test_host_networks_reads_primary_secondary_and_ipv6():
    networks = sorted(str(network) for network in model.host_networks(FACTS))
    assert networks == ['10.0.2.15/24', '10.10.0.1/24', '127.0.0.1/8', '192.0.2.10/32', 'fd00:10::1/64']


def problems(services, snat=('10.10.0.1',), extra=()):
    resolved = resolve(services)
    return model.director_problems(resolved, FACTS, HOSTVARS, 'real_server_nat_gateway', list(snat), list(extra))


def test_a_possible_cluster_has_no_problems():
    assert problems([service()]) == []
    assert problems([service(forwarding='nat', real_servers=[{'host': 'rs1', 'port': 8080}])]) == []
    assert problems([service(forwarding='fullnat', real_servers=[{'address': '172.16.5.5', 'port': 8080}])]) == []
    assert problems([service(forwarding='tun', real_servers=[{'address': '172.16.5.5'}])]) == []


@pytest.mark.parametrize('services, snat, extra, expected', [
    ([service(real_servers=[{'address': '172.16.5.5'}])], ['10.10.0.1'], [], 'not on a network attached to this director, and dr'),
    ([service(forwarding='nat', real_servers=[{'address': '172.16.5.5'}])], ['10.10.0.1'], [], 'cannot return through it (nat)'),
    ([service(forwarding='nat', real_servers=[{'host': 'rs2'}])], ['10.10.0.1'], [], 'its gateway 10.10.0.99'),
    ([service(forwarding='fullnat')], [], [], 'director_snat_addresses is empty'),
    ([service(forwarding='fullnat', vip='fd00:10::10', real_servers=[{'address': 'fd00:10::11'}])], ['10.10.0.1'], [],
     'an IPv6 fullnat service, but director_snat_addresses has no IPv6 address'),
    ([service(forwarding='fullnat')], ['fd00:10::1'], [], 'an IPv4 fullnat service, but director_snat_addresses has no IPv4'),
    ([{'name': 'marked', 'fwmark': 3, 'forwarding': 'fullnat', 'real_servers': []}], ['10.10.0.1'], [], 'needs a vip and port'),
])
def test_impossible_combinations_are_named(services, snat, extra, expected):
    found = problems(services, snat, extra)
    assert len(found) == 1
    assert expected in found[0]


def test_nat_gateway_may_be_a_floating_address_and_must_be_set():
    services = [service(forwarding='nat', real_servers=[{'host': 'rs2'}])]
    assert problems(services, extra=['10.10.0.99']) == []
    hostvars = dict(HOSTVARS, rs4={'lvs_address': '10.10.0.14'})
    resolved = resolve([service(forwarding='nat', real_servers=[{'host': 'rs4'}])], hostvars)
    found = model.director_problems(resolved, FACTS, hostvars, 'real_server_nat_gateway', [], [])
    assert found == ['Virtual service web, real server rs4: nat needs replies to return through the director, '
                     'but real_server_nat_gateway is not set for rs4.']


def test_director_view_reads_the_model_once_for_the_role():
    services = [
        service(scheduler='wrr'),
        service(name='tunnelled', vip='192.0.2.20', scheduler='sh', forwarding='tun',
                real_servers=[{'address': '172.16.5.5', 'tunnel_type': 'gue', 'tunnel_port': 6080},
                              {'address': '172.16.5.6'}]),
        service(name='masq', vip='192.0.2.10', port=443, forwarding='fullnat',
                real_servers=[{'host': 'rs1', 'port': 8443}]),
    ]
    view = model.director_view(services, HOSTVARS, FACTS, 'real_server_nat_gateway', ['10.10.0.1'], [], ['nf_conntrack'])
    assert view['problems'] == []
    assert view['vips'] == ['192.0.2.10', '192.0.2.20']
    assert view['ipv6'] is False
    assert [entry['forwarding'] for entry in view['table']] == ['dr', 'tun', 'nat']
    assert [entry['name'] for entry in view['fullnat']] == ['masq']
    assert view['kernel_modules'] == ['ip_vs', 'ip_vs_wrr', 'ip_vs_sh', 'fou', 'ipip', 'nf_conntrack']
    assert view['forwarding_sysctls'] == {'net.ipv4.ip_forward': 1, 'net.ipv4.vs.conntrack': 1}


def test_director_view_gives_problems_and_nothing_to_build():
    view = model.director_view([service(real_servers=[{'host': 'nowhere'}])], HOSTVARS, FACTS)
    assert view['problems'] == ['Virtual service web, real server nowhere is not in the inventory: fix the host '
                                'name, or give the real server an address: instead of host:.']
    assert view['table'] == [] and view['vips'] == [] and view['kernel_modules'] == ['ip_vs']
    impossible = model.director_view([service(forwarding='nat', real_servers=[{'address': '172.16.5.5'}])],
                                     HOSTVARS, FACTS)
    assert len(impossible['problems']) == 1 and impossible['table'] == []
    six = model.director_view([service(vip='fd00:10::10', real_servers=[{'address': 'fd00:10::11'}])], HOSTVARS, FACTS)
    assert six['problems'] == [] and six['ipv6'] is True and six['forwarding_sysctls'] == {}


@pytest.mark.parametrize('services, expected', [
    ([service(scheduler='wrrr')],
     ['Virtual service web: value of scheduler must be one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, '
      'mh, twos, got: wrrr.']),
    ([service(shceduler='wrr')], ['Virtual service web: unknown key shceduler']),
    ([service(port='http')], ["Virtual service web: argument 'port' is of type "]),  # the rest is ansible-core's wording
    ([service(real_servers=[{'host': 'rs1', 'wieght': 2}])], ['Virtual service web, real server rs1: unknown key wieght']),
    ([service(real_servers=[{'address': '10.10.0.13', 'tunnel_type': 'vxlan'}])],
     ['Virtual service web, real server 1: value of tunnel_type must be one of: ipip, gue, gre, got: vxlan.']),
    ([service(real_servers=[{'host': 'rs1', 'port': 8080}])],
     ['Virtual service web, real server 10.10.0.11:8080: dr forwarding cannot map ports']),
    ([service(real_servers=[{'address': 'web1.example'}])],
     ["Virtual service web, real server web1.example: 'web1.example' is not a valid IPv4 or IPv6 address."]),
    ([service(persistence_netmask=24)], ['Virtual service web: persistence_netmask only applies to a persistent service']),
    ([service(), service(name='again', scheduler='rr')],
     ['Virtual services web and again are the same service (tcp 192.0.2.10:80): merge them']),
])
def test_the_model_is_refused_as_the_roles_and_ipvs_table_would_refuse_it(services, expected):
    """Schema (the roles' argument specs) and ipvs_table's own checks, before any host changes:
    short sentences that name the service and, where there is one, the real server."""
    resolved, found = model.normalise_model(services, HOSTVARS)
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected):
        assert problem.startswith(start), found
        assert len(problem) < 300, problem
    assert len(resolved) == len(services) - len(expected)


def cluster(models, problems=None, groups=None):
    """hostvars of a cluster whose hosts read MODELS ({host: lvs_virtual_services}) through the roles' view tasks."""
    hostvars = {}
    for host, services in models.items():
        variables = dict(HOSTVARS.get(host, {}), lvs_virtual_services=services)
        if host.startswith('lb'):
            variables['__director'] = model.director_view(services, HOSTVARS, FACTS,
                                                          'real_server_nat_gateway', ['10.10.0.1'])
            variables['__director_problems'] = list(variables['__director']['problems'])
        else:
            variables['__real_server_problems'] = []
        variables.update((problems or {}).get(host, {}))
        hostvars[host] = variables
    directors = [host for host in models if host.startswith('lb')]
    real_servers = groups if groups is not None else [host for host in models if not host.startswith('lb')]
    return model.cluster_problems(hostvars, list(models), directors, real_servers)


def test_a_cluster_that_agrees_has_no_problem():
    web = [service(real_servers=[{'host': 'rs1'}, {'host': 'rs2'}])]
    assert cluster({'lb1': web, 'rs1': web, 'rs2': list(web)}) == []


def test_cluster_problems_are_given_once_and_host_problems_name_their_hosts():
    web = [service(real_servers=[{'host': 'rs1'}])]
    found = cluster({'lb1': web, 'rs1': web, 'rs2': web}, problems={
        'lb1': {'__director_problems': ['model problem', 'director problem']},
        'rs1': {'__real_server_problems': ['model problem']},
        'rs2': {'__real_server_problems': ['model problem', 'real server problem']}})
    assert found == ['model problem', 'lb1: director problem', 'rs2: real server problem']


def test_a_real_server_outside_the_prepared_group_is_refused():
    web = [service(real_servers=[{'host': 'rs1'}, {'host': 'rs2'}])]
    found = cluster({'lb1': web, 'rs1': web}, groups=['rs1'])
    assert found == ['Virtual service web, real server rs2: rs2 is not in the group lvs_real_servers, so '
                     'playbooks/site.yml would not prepare it for dr; add it to that group.']
    fullnat = [service(forwarding='fullnat', real_servers=[{'host': 'rs2'}])]
    assert cluster({'lb1': fullnat, 'rs1': fullnat}, groups=['rs1']) == []


def test_director_and_real_server_must_read_a_service_the_same_way():
    web = [service(real_servers=[{'host': 'rs1'}])]
    as_tun = [service(forwarding='tun', real_servers=[{'host': 'rs1'}])]
    found = cluster({'lb1': web, 'rs1': as_tun})
    assert found == ['Virtual service web: lb1 forwards to rs1 by dr to port 80, but rs1 reads tun to port 80; set '
                     'lvs_virtual_services once, where every director and real server sees it (group_vars/all).']
    found = cluster({'lb1': web, 'rs1': [service(real_servers=[{'host': 'rs2'}])], 'rs2': web}, groups=['rs1', 'rs2'])
    assert found == ['Virtual service web: lb1 forwards to rs1 by dr, but the lvs_virtual_services that rs1 sees does '
                     'not make it a real server of that service; set lvs_virtual_services once, where every director '
                     'and real server sees it (group_vars/all).']
    # The same service written differently is the same service.
    same = [service(vip='192.0.2.10', port=80, protocol='tcp', scheduler='rr', real_servers=[{'host': 'rs1', 'weight': 5}])]
    assert cluster({'lb1': web, 'rs1': same}) == []


def test_plain_gives_builtin_dicts_and_lists():
    class Mapped(dict):
        pass

    value = model.plain(Mapped(a=(1, Mapped(b=[2])), c='x'))
    assert value == {'a': [1, {'b': [2]}], 'c': 'x'}
    assert [item.__class__ for item in (value, value['a'], value['a'][1])] == [dict, list, dict]
