# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Normalisation, validation and the mapping to and from the kernel's form."""

from __future__ import annotations

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import model


def _service(**params):
    errors = []
    service = model.normalise_service(params, errors)
    model.raise_errors(errors)
    return service


def _errors(**params):
    errors = []
    model.normalise_service(params, errors)
    return errors


def test_defaults_of_a_minimal_service():
    assert _service(vip='192.0.2.10', port=80, real_servers=[{'address': '10.0.0.1'}]) == {
        'family': 'ipv4', 'protocol': 'tcp', 'vip': '192.0.2.10', 'port': 80, 'fwmark': None,
        'scheduler': 'wlc', 'scheduler_flags': [], 'persistence_timeout': 0, 'persistence_netmask': 32,
        'one_packet': False, 'persistence_engine': None,
        'real_servers': [{'address': '10.0.0.1', 'port': 80, 'weight': 1, 'forwarding': 'dr',
                          'upper_threshold': 0, 'lower_threshold': 0,
                          'tunnel_type': None, 'tunnel_port': None, 'tunnel_checksum': None}],
    }


def test_ipv6_and_canonical_addresses():
    service = _service(vip='2001:DB8:0:0::10', protocol='udp', port=53, persistence_timeout=60,
                       persistence_netmask='/64', forwarding='nat',
                       real_servers=[{'address': '2001:db8:0::0:21', 'port': 5353}])
    assert service['vip'] == '2001:db8::10'
    assert service['family'] == 'ipv6'
    assert service['persistence_netmask'] == 64
    assert service['real_servers'][0]['address'] == '2001:db8::21'


def test_real_servers_none_means_leave_alone_and_list_is_sorted():
    assert _service(vip='192.0.2.1', port=1)['real_servers'] is None
    service = _service(vip='192.0.2.1', port=1, real_servers=[{'address': '10.0.0.10'}, {'address': '10.0.0.9'},
                                                              {'address': '10.0.0.9', 'port': 2, 'forwarding': 'nat'}])
    assert [(r['address'], r['port']) for r in service['real_servers']] == [('10.0.0.9', 1), ('10.0.0.9', 2),
                                                                            ('10.0.0.10', 1)]


@pytest.mark.parametrize('value, family, expected', [
    (24, 'ipv4', 24), ('24', 'ipv4', 24), ('/16', 'ipv4', 16), ('255.255.255.0', 'ipv4', 24), ('0.0.0.0', 'ipv4', 0),
    ('255.255.255.255', 'ipv4', 32), (64, 'ipv6', 64), ('128', 'ipv6', 128), (1, 'ipv6', 1),
])
def test_parse_netmask(value, family, expected):
    errors = []
    assert model.parse_netmask(value, family, 'x', errors) == expected
    assert errors == []


@pytest.mark.parametrize('value, family', [
    (33, 'ipv4'), ('255.0.255.0', 'ipv4'), ('mask', 'ipv4'), (0, 'ipv6'), (129, 'ipv6'), ('ffff::', 'ipv6'),
])
def test_parse_netmask_rejects(value, family):
    errors = []
    assert model.parse_netmask(value, family, 'x', errors) is None
    assert len(errors) == 1


def test_fwmark_service_and_its_real_servers():
    service = _service(fwmark=7, family='ipv6', scheduler='sh', scheduler_flags=['sh-port', 'sh-fallback', 'sh-port'],
                       forwarding='tun', one_packet=True,
                       real_servers=[{'address': '2001:db8::5', 'tunnel_type': 'gue', 'tunnel_port': 6080,
                                      'tunnel_checksum': 'remcsum'},
                                     {'address': '192.0.2.50', 'tunnel_type': 'gre', 'tunnel_checksum': 'csum'}])
    assert service['fwmark'] == 7 and service['vip'] is None and service['port'] is None
    assert service['scheduler_flags'] == ['sh-fallback', 'sh-port']
    assert service['real_servers'][0]['port'] == 0
    assert service['real_servers'][0]['tunnel_type'] == 'gre'     # IPv4 sorts first
    assert service['real_servers'][1] == {'address': '2001:db8::5', 'port': 0, 'weight': 1, 'forwarding': 'tun',
                                          'upper_threshold': 0, 'lower_threshold': 0, 'tunnel_type': 'gue',
                                          'tunnel_port': 6080, 'tunnel_checksum': 'remcsum'}


def test_tun_defaults():
    real = _service(vip='192.0.2.1', port=80, forwarding='tun', real_servers=[{'address': '10.0.0.1'}])['real_servers'][0]
    assert (real['tunnel_type'], real['tunnel_port'], real['tunnel_checksum']) == ('ipip', None, 'nocsum')


# Every bad input the issue lists, and a few more: each gives a clear error.
BAD = [
    ('an invalid vip', dict(vip='192.0.2.300', port=80), 'is not a valid IPv4 or IPv6 address'),
    ('an invalid real server address', dict(vip='192.0.2.1', port=80, real_servers=[{'address': 'web1'}]),
     "'web1' is not a valid IPv4 or IPv6 address"),
    ('a port above 65535', dict(vip='192.0.2.1', port=65536), 'port must be from 0 to 65535, not 65536'),
    ('a negative port', dict(vip='192.0.2.1', port=-1), 'port must be from 0 to 65535'),
    ('a real server port above 65535', dict(vip='192.0.2.1', port=80, forwarding='nat',
                                            real_servers=[{'address': '10.0.0.1', 'port': 70000}]),
     'port must be from 0 to 65535, not 70000'),
    ('port 0 without persistence', dict(vip='192.0.2.1', port=0), 'port 0 (every port) needs a persistent service'),
    ('an unknown scheduler', dict(vip='192.0.2.1', port=80, scheduler='fastest'), "unknown scheduler 'fastest'"),
    ('a flag of another scheduler', dict(vip='192.0.2.1', port=80, scheduler='mh', scheduler_flags=['sh-port']),
     'scheduler flag sh-port belongs to the sh scheduler, not mh'),
    ('a flag of no scheduler', dict(vip='192.0.2.1', port=80, scheduler='rr', scheduler_flags=['mh-port']),
     'belongs to the mh scheduler, not rr'),
    ('an unknown flag', dict(vip='192.0.2.1', port=80, scheduler='sh', scheduler_flags=['flag-1']),
     "unknown scheduler flag 'flag-1'"),
    ('port mapping with dr', dict(vip='192.0.2.1', port=80, real_servers=[{'address': '10.0.0.1', 'port': 8080}]),
     'dr forwarding cannot map ports: the real server port must be the service port 80'),
    ('port mapping with tun', dict(vip='192.0.2.1', port=80, forwarding='tun',
                                   real_servers=[{'address': '10.0.0.1', 'port': 81}]),
     'tun forwarding cannot map ports'),
    ('port mapping with dr on a fwmark service', dict(fwmark=1, real_servers=[{'address': '10.0.0.1', 'port': 80}]),
     'must be the service port 0'),
    ('tunnel options with nat', dict(vip='192.0.2.1', port=80, forwarding='nat',
                                     real_servers=[{'address': '10.0.0.1', 'tunnel_type': 'gue', 'tunnel_port': 1}]),
     'tunnel_type, tunnel_port only apply to tun forwarding, not nat'),
    ('a tunnel checksum with dr', dict(vip='192.0.2.1', port=80,
                                       real_servers=[{'address': '10.0.0.1', 'tunnel_checksum': 'csum'}]),
     'tunnel_checksum only apply to tun forwarding, not dr'),
    ('gue without a tunnel port', dict(vip='192.0.2.1', port=80, forwarding='tun',
                                       real_servers=[{'address': '10.0.0.1', 'tunnel_type': 'gue'}]),
     'a gue tunnel needs tunnel_port'),
    ('a tunnel port with ipip', dict(vip='192.0.2.1', port=80, forwarding='tun',
                                     real_servers=[{'address': '10.0.0.1', 'tunnel_port': 5555}]),
     'tunnel_port only applies to gue tunnels, not ipip'),
    ('remcsum with gre', dict(vip='192.0.2.1', port=80, forwarding='tun',
                              real_servers=[{'address': '10.0.0.1', 'tunnel_type': 'gre', 'tunnel_checksum': 'remcsum'}]),
     'tunnel_checksum remcsum does not apply to gre tunnels'),
    ('a lower threshold above the upper', dict(vip='192.0.2.1', port=80, real_servers=[
        {'address': '10.0.0.1', 'upper_threshold': 5, 'lower_threshold': 10}]),
     'lower_threshold 10 is above upper_threshold 5'),
    ('a lower threshold without an upper', dict(vip='192.0.2.1', port=80, real_servers=[
        {'address': '10.0.0.1', 'lower_threshold': 10}]), 'lower_threshold 10 is above upper_threshold 0'),
    ('fwmark with an address', dict(fwmark=3, vip='192.0.2.1'), 'fwmark identifies the service on its own; remove vip'),
    ('fwmark with a port', dict(fwmark=3, port=80), 'remove port'),
    ('fwmark with a protocol', dict(fwmark=3, protocol='udp'), 'remove protocol'),
    ('fwmark 0', dict(fwmark=0), 'fwmark must be from 1 to 4294967295'),
    ('mixed families with nat', dict(vip='192.0.2.1', port=80, forwarding='nat',
                                     real_servers=[{'address': '2001:db8::1'}]),
     'an ipv6 real server in an ipv4 service needs tun forwarding'),
    ('mixed families with dr on fwmark', dict(fwmark=2, real_servers=[{'address': '2001:db8::1'}]),
     'an ipv6 real server in an ipv4 service needs tun forwarding'),
    ('the same real server twice', dict(vip='192.0.2.1', port=80, real_servers=[
        {'address': '10.0.0.1'}, {'address': '10.0.0.2'}, {'address': '10.0.0.1', 'weight': 3}]),
     'real server 10.0.0.1:80 is listed twice'),
    ('the same IPv6 real server twice, written differently', dict(vip='2001:db8::1', port=80, real_servers=[
        {'address': '2001:db8::a'}, {'address': '2001:DB8:0::A'}]), 'real server [2001:db8::a]:80 is listed twice'),
    ('a family that contradicts the vip', dict(vip='192.0.2.1', port=80, family='ipv6'),
     'family ipv6 does not match the ipv4 address'),
    ('a netmask without persistence', dict(vip='192.0.2.1', port=80, persistence_netmask=24),
     'persistence_netmask only applies to a persistent service'),
    ('an IPv6 netmask of 0', dict(vip='2001:db8::1', port=80, persistence_timeout=5, persistence_netmask=0),
     'a ipv6 prefix length must be from 1 to 128'),
    ('a persistence engine without persistence', dict(vip='192.0.2.1', protocol='udp', port=5060,
                                                      persistence_engine='sip'),
     'persistence_engine sip needs a persistent service'),
    ('one-packet scheduling on tcp', dict(vip='192.0.2.1', port=80, one_packet=True),
     'one_packet scheduling only works for UDP'),
    ('a weight out of range', dict(vip='192.0.2.1', port=80, real_servers=[{'address': '10.0.0.1', 'weight': -1}]),
     'weight must be from 0 to 2147483647'),
    ('a threshold out of range', dict(vip='192.0.2.1', port=80, real_servers=[
        {'address': '10.0.0.1', 'upper_threshold': 2 ** 31}]), 'upper_threshold must be from 0 to 2147483647'),
    ('a persistence timeout too long', dict(vip='192.0.2.1', port=80, persistence_timeout=86400 * 32),
     'persistence_timeout must be from 0 to 2678400'),
    ('a multicast real server', dict(vip='192.0.2.1', port=80, real_servers=[{'address': '224.0.0.1'}]),
     'needs a unicast address'),
    ('a link-local IPv6 real server', dict(vip='2001:db8::1', port=80, real_servers=[{'address': 'fe80::1'}]),
     'does not accept a link-local'),
    ('neither vip nor fwmark', dict(port=80), 'give either vip'),
    ('vip without port', dict(vip='192.0.2.1'), 'port is required with vip'),
]


@pytest.mark.parametrize('what, params, message', BAD, ids=[case[0] for case in BAD])
def test_bad_input_is_reported(what, params, message):
    errors = _errors(**params)
    assert any(message in error for error in errors), (what, errors)
    with pytest.raises(LvsError, match='invalid request'):
        model.raise_errors(errors)


def test_all_problems_are_reported_together():
    errors = _errors(vip='192.0.2.1', port=80, scheduler='rr', scheduler_flags=['sh-port'],
                     persistence_netmask=24)
    assert len(errors) == 2
    with pytest.raises(LvsError, match=r'invalid request \(2 problems\)'):
        model.raise_errors(errors)


def test_two_services_with_one_key():
    errors = []
    services = [_service(vip='192.0.2.1', port=80), _service(vip='192.0.2.1', port=80, scheduler='rr'),
                _service(vip='192.0.2.1', port=80, protocol='udp'), _service(fwmark=1), _service(fwmark=1, family='ipv6'),
                _service(fwmark=1, scheduler='rr')]
    model.check_unique_services(services, errors)
    assert errors == ['tcp 192.0.2.1:80 is listed twice in services (a service is identified by protocol, vip and port)',
                      'fwmark 1 (ipv4) is listed twice in services (a service is identified by its fwmark and family)']


def test_key_only_normalisers():
    errors = []
    service, _where = model.normalise_service_key(dict(vip='192.0.2.1', port=0), errors)
    assert errors == [] and model.service_key(service) == ('ipv4', 'tcp', '192.0.2.1', 0)
    assert model.normalise_real_server_key({'address': '10.0.0.1', 'port': None}, service, errors) == {
        'address': '10.0.0.1', 'port': 0}
    assert model.normalise_real_server_key({'address': 'x'}, service, errors) is None
    assert len(errors) == 1


# -- kernel mapping --------------------------------------------------------------

def test_service_to_kernel_and_back():
    service = _service(vip='192.0.2.10', protocol='udp', port=53, scheduler='sh', scheduler_flags=['sh-fallback'],
                       persistence_timeout=300, persistence_netmask='255.255.0.0', one_packet=True,
                       persistence_engine='sip')
    raw = model.service_to_kernel(service)
    assert raw == dict(af=2, protocol=17, addr='192.0.2.10', port=53, fwmark=0, sched_name='sh',
                       flags=model.F_PERSISTENT | model.F_ONEPACKET | model.F_SCHED1, timeout=300,
                       netmask=0xFFFF0000, pe_name='sip')
    raw['flags'] |= model.F_HASHED          # the kernel always sets it
    back = model.service_from_kernel(raw)
    assert back == dict(service, real_servers=[])


def test_ipv6_fwmark_service_to_kernel_and_back():
    service = _service(fwmark=99, family='ipv6', scheduler='mh', scheduler_flags=['mh-port', 'mh-fallback'],
                       persistence_timeout=10, persistence_netmask=48)
    raw = model.service_to_kernel(service)
    assert raw == dict(af=10, fwmark=99, sched_name='mh', flags=model.F_PERSISTENT | model.F_SCHED1 | model.F_SCHED2,
                       timeout=10, netmask=48, pe_name=None)
    assert model.service_from_kernel(dict(raw, flags=raw['flags'] | model.F_HASHED)) == dict(service, real_servers=[])


def test_service_from_kernel_odd_values():
    raw = dict(af=2, protocol=6, addr='192.0.2.1', port=80, sched_name='rr', timeout=300,
               flags=model.F_HASHED | model.F_SCHED1 | model.F_SCHED3, netmask=0xFF00FF00)
    service = model.service_from_kernel(raw)
    # flags another tool set without meaning for rr, and a mask that is not a prefix
    assert service['scheduler_flags'] == ['flag-1', 'flag-3']
    assert service['persistence_netmask'] == '255.0.255.0'
    # a timeout without the persistent flag is not persistence
    assert service['persistence_timeout'] == 0
    assert model.service_from_kernel(dict(raw, netmask=0))['persistence_netmask'] == 0


def test_real_server_to_kernel_and_back():
    service = _service(vip='192.0.2.10', port=80, forwarding='tun', real_servers=[
        {'address': '2001:db8::7', 'weight': 4, 'upper_threshold': 9, 'lower_threshold': 3, 'tunnel_type': 'gue',
         'tunnel_port': 6080, 'tunnel_checksum': 'csum'},
        {'address': '10.0.0.1', 'forwarding': 'nat', 'port': 8080}])
    for real in service['real_servers']:
        raw = model.real_server_to_kernel(real)
        if real['forwarding'] == 'tun':
            assert raw == dict(af=10, addr='2001:db8::7', port=80, fwd_method=2, weight=4, u_thresh=9, l_thresh=3,
                               tun_type=1, tun_port=6080, tun_flags=1)
        else:
            assert raw == dict(af=2, addr='10.0.0.1', port=8080, fwd_method=0, weight=1, u_thresh=0, l_thresh=0)
            # a kernel reports tunnel attributes of 0 for any real server
            raw.update(tun_type=0, tun_port=0, tun_flags=0)
        assert model.real_server_from_kernel(raw) == real


def test_real_server_from_kernel_counters_and_old_kernel():
    raw = dict(af=2, addr='10.0.0.1', port=80, fwd_method=2, weight=1, u_thresh=0, l_thresh=0,
               active_conns=3, inact_conns=4, persist_conns=5)
    real = model.real_server_from_kernel(raw, with_counters=True)
    assert (real['tunnel_type'], real['tunnel_port'], real['tunnel_checksum']) == ('ipip', None, 'nocsum')
    assert (real['active_connections'], real['inactive_connections'], real['persistent_connections']) == (3, 4, 5)
    assert model.real_server_from_kernel(dict(raw, fwd_method=1))['forwarding'] == 'local'


def test_stats_names():
    assert model.stats_from_kernel({'conns': 1, 'outbps': 2}) == {
        'connections': 1, 'packets_in': 0, 'packets_out': 0, 'bytes_in': 0, 'bytes_out': 0,
        'connections_per_second': 0, 'packets_in_per_second': 0, 'packets_out_per_second': 0,
        'bytes_in_per_second': 0, 'bytes_out_per_second': 2}


def test_labels():
    assert model.service_label(_service(vip='2001:db8::1', port=443)) == 'tcp [2001:db8::1]:443'
    assert model.service_label(_service(fwmark=5, family='ipv6')) == 'fwmark 5 (ipv6)'
