# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_table against the simulated kernel: check mode, idempotence, one
request per weight, purge, validation before any change, undo on refusal,
attributes an old kernel ignores."""

from __future__ import annotations

import copy
import errno

import pytest

from ansible_collections.lvs.ipvs.plugins.modules import ipvs_table
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.ipvs_harness import Environment

SERVICES = [
    {'vip': '192.0.2.10', 'port': 80, 'scheduler': 'wrr',
     'real_servers': [{'address': '10.0.0.1', 'weight': 2}, {'address': '10.0.0.2'}]},
    {'vip': '192.0.2.10', 'protocol': 'udp', 'port': 53, 'scheduler': 'mh', 'scheduler_flags': ['mh-port', 'mh-fallback'],
     'one_packet': True, 'forwarding': 'nat', 'real_servers': [{'address': '10.0.0.3', 'port': 5353}]},
    {'vip': '2001:db8::10', 'port': 443, 'persistence_timeout': 300, 'persistence_netmask': 64,
     'real_servers': [{'address': '2001:db8::21', 'upper_threshold': 100, 'lower_threshold': 50}]},
    {'fwmark': 7, 'scheduler': 'sh', 'scheduler_flags': ['sh-fallback'], 'forwarding': 'tun',
     'real_servers': [{'address': '198.51.100.5', 'tunnel_type': 'gue', 'tunnel_port': 6080, 'tunnel_checksum': 'csum'},
                      {'address': '2001:db8::99', 'tunnel_type': 'gre'}]},
    {'vip': '192.0.2.11', 'protocol': 'sctp', 'port': 0, 'persistence_timeout': 60, 'persistence_netmask': '255.255.255.0',
     'real_servers': [{'address': '10.0.0.7', 'port': 0}]},
]
RULES = [
    '-A -t 192.0.2.10:80 -s wrr',
    '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 2',
    '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 1',
    '-A -u 192.0.2.10:53 -s mh -b mh-fallback,mh-port -o',
    '-a -u 192.0.2.10:53 -r 10.0.0.3:5353 -m -w 1',
    '-A --sctp-service 192.0.2.11:0 -s wlc -p 60 -M 255.255.255.0',
    '-a --sctp-service 192.0.2.11:0 -r 10.0.0.7:0 -g -w 1',
    '-A -t [2001:db8::10]:443 -s wlc -p 300 -M 64',
    '-a -t [2001:db8::10]:443 -r [2001:db8::21]:443 -g -w 1 -x 100 -y 50',
    '-A -f 7 -s sh -b sh-fallback',
    '-a -f 7 -r 198.51.100.5:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
    '-a -f 7 -r [2001:db8::99]:0 -i -w 1 --tun-type gre',
]


@pytest.fixture
def env(monkeypatch):
    return Environment(monkeypatch)


def test_check_real_check_real(env):
    args = {'services': SERVICES}
    first = env.run(ipvs_table.main, args, check=True, diff=True)
    assert first['changed'] is True
    assert first['operations'] == RULES
    assert first['_kernel_changes'] == 0 and first['netlink_requests'] == 0
    assert env.kernel.services == {}

    second = env.run(ipvs_table.main, args, diff=True)
    assert second['changed'] is True
    assert second['operations'] == RULES
    assert second['netlink_requests'] == second['_kernel_changes'] == len(RULES)
    # check mode predicted exactly what the real run produced
    assert first['diff'] == second['diff']
    assert second['diff']['before'] == {'services': []}
    assert len(second['diff']['after']['services']) == 5

    third = env.run(ipvs_table.main, args, check=True)
    fourth = env.run(ipvs_table.main, args)
    for result in (third, fourth):
        assert result['changed'] is False
        assert result['operations'] == []
        assert result['_kernel_changes'] == 0


def test_kernel_holds_what_was_asked(env):
    env.run(ipvs_table.main, {'services': SERVICES})
    kernel = env.kernel.services
    mh = kernel[(2, 17, '192.0.2.10', 53)]
    assert (mh['sched_name'], mh['flags']) == ('mh', 0x4 | 0x8 | 0x10)
    six = kernel[(10, 6, '2001:db8::10', 443)]
    assert (six['flags'], six['timeout'], six['netmask']) == (0x1, 300, 64)
    sctp = kernel[(2, 132, '192.0.2.11', 0)]
    assert sctp['netmask'] == 0xFFFFFF00
    fwm = kernel[(2, 'fwmark', 7)]
    gue = fwm['dests'][(2, '198.51.100.5', 0)]
    assert (gue['fwd_method'], gue['tun_type'], gue['tun_port'], gue['tun_flags']) == (2, 1, 6080, 1)
    gre = fwm['dests'][(10, '2001:db8::99', 0)]
    assert (gre['tun_type'], gre['tun_flags']) == (2, 0)


def test_one_weight_is_one_request(env):
    env.run(ipvs_table.main, {'services': SERVICES})
    changed = copy.deepcopy(SERVICES)
    changed[0]['real_servers'][1]['weight'] = 9
    result = env.run(ipvs_table.main, {'services': changed}, diff=True)
    assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 9']
    assert result['netlink_requests'] == 1 == result['_kernel_changes']
    assert env.kernel.services[(2, 6, '192.0.2.10', 80)]['dests'][(2, '10.0.0.2', 80)]['weight'] == 9
    assert [s['vip'] for s in result['diff']['after']['services']] == ['192.0.2.10']


def test_scheduler_and_forwarding_change_in_place(env):
    env.run(ipvs_table.main, {'services': SERVICES})
    changed = copy.deepcopy(SERVICES)
    changed[0]['scheduler'] = 'rr'
    changed[0]['forwarding'] = 'tun'
    result = env.run(ipvs_table.main, {'services': changed})
    assert result['operations'] == ['-E -t 192.0.2.10:80 -s rr',
                                    '-e -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 2 --tun-type ipip',
                                    '-e -t 192.0.2.10:80 -r 10.0.0.2:80 -i -w 1 --tun-type ipip']
    received = [cmd for cmd, _flags in env.kernel.received[-10:]]
    assert 3 not in received and 7 not in received      # no DEL_SERVICE, no DEL_DEST


def test_purge(env):
    env.run(ipvs_table.main, {'services': SERVICES})
    svc = env.kernel.add_service(addr='203.0.113.1', port=8080)
    env.kernel.add_dest(svc, addr='10.9.9.9', port=8080)
    extra_rs = env.kernel.services[(2, 6, '192.0.2.10', 80)]
    env.kernel.add_dest(extra_rs, addr='10.0.0.99', port=80)

    kept = env.run(ipvs_table.main, {'services': SERVICES})
    assert kept['changed'] is False

    scoped = env.run(ipvs_table.main, {'services': SERVICES, 'purge': True,
                                       'purge_scope': {'vips': ['192.0.2.0/24'], 'fwmarks': []}})
    assert scoped['operations'] == ['-d -t 192.0.2.10:80 -r 10.0.0.99:80']
    assert (2, 6, '203.0.113.1', 8080) in env.kernel.services

    purged = env.run(ipvs_table.main, {'services': SERVICES[:2], 'purge': True}, diff=True)
    assert purged['operations'] == ['-D --sctp-service 192.0.2.11:0', '-D -t 203.0.113.1:8080',
                                    '-D -t [2001:db8::10]:443', '-D -f 7']
    assert len(env.kernel.services) == 2
    assert purged['diff']['after'] == {'services': []}
    assert [s['port'] for s in purged['diff']['before']['services']] == [0, 8080, 443, None]

    emptied = env.run(ipvs_table.main, {'services': [], 'purge': True})
    assert emptied['changed'] and env.kernel.services == {}


def test_rules_are_the_table_from_empty_in_check_mode_and_when_nothing_changes(env):
    args = {'services': SERVICES, 'return_rules': True}
    predicted = env.run(ipvs_table.main, args, check=True)
    built = env.run(ipvs_table.main, args)
    unchanged = env.run(ipvs_table.main, args)
    assert predicted['rules'] == built['rules'] == unchanged['rules'] == built['operations'] == RULES
    assert unchanged['operations'] == []
    # A prefix length is written as the netmask ipvsadm-restore reads for IPv4 (not "-M 24").
    netmask = env.run(ipvs_table.main, {'return_rules': True, 'services': [
        {'vip': '192.0.2.12', 'port': 80, 'persistence_timeout': 60, 'persistence_netmask': 24, 'real_servers': []}]})
    assert netmask['rules'] == ['-A -t 192.0.2.12:80 -s wlc -p 60 -M 255.255.255.0']
    assert 'rules' not in env.run(ipvs_table.main, {'services': SERVICES})


def test_purge_scope_rules_remove_only_what_an_earlier_run_created(env):
    env.run(ipvs_table.main, {'services': SERVICES})
    by_hand = env.kernel.add_service(addr='192.0.2.10', port=8080)
    env.kernel.add_dest(by_hand, addr='10.9.9.9', port=8080)
    saved = ['# a comment, then the rules', ''] + RULES
    result = env.run(ipvs_table.main, {'services': SERVICES[1:], 'purge': True, 'purge_scope': {'rules': saved}})
    assert result['operations'] == ['-D -t 192.0.2.10:80']
    assert (2, 6, '192.0.2.10', 8080) in env.kernel.services
    again = env.run(ipvs_table.main, {'services': SERVICES[1:], 'purge': True, 'purge_scope': {'rules': saved}})
    assert again['changed'] is False


@pytest.mark.parametrize('rule, message', [
    ('-A -x 192.0.2.1:80 -s rr', 'expected -t, -u, --sctp-service or -f after -A'),
    ('-A -t 192.0.2.1 -s rr', 'is not an address and port'),
    ('-A -t 192.0.2.1:http -s rr', "'http' is not a number"),
    ('-A -t 192.0.2.300:80 -s rr', 'is not a valid IPv4 or IPv6 address'),
])
def test_purge_scope_rules_that_cannot_be_read_change_nothing(env, rule, message):
    env.run(ipvs_table.main, {'services': SERVICES})
    before = env.kernel.snapshot()
    result = env.run(ipvs_table.main, {'services': [], 'purge': True, 'purge_scope': {'rules': [rule]}})
    assert result['failed'] is True
    assert 'purge_scope.rules' in result['msg'] and message in result['msg'], result['msg']
    assert result['_kernel_changes'] == 0 and env.kernel.snapshot() == before


BAD = [
    ('invalid address', {'vip': '192.0.2.300', 'port': 80}, 'is not a valid IPv4 or IPv6 address'),
    ('port out of range', {'vip': '192.0.2.1', 'port': 65536}, 'port must be from 0 to 65535'),
    ('port 0 not persistent', {'vip': '192.0.2.1', 'port': 0}, 'needs a persistent service'),
    ('unknown scheduler', {'vip': '192.0.2.1', 'port': 80, 'scheduler': 'fastest'}, 'value of scheduler must be one of'),
    ('flag of another scheduler', {'vip': '192.0.2.1', 'port': 80, 'scheduler': 'rr', 'scheduler_flags': ['sh-port']},
     'belongs to the sh scheduler'),
    ('port mapping with dr', {'vip': '192.0.2.1', 'port': 80, 'real_servers': [{'address': '10.0.0.1', 'port': 81}]},
     'cannot map ports'),
    ('tunnel options with nat', {'vip': '192.0.2.1', 'port': 80, 'forwarding': 'nat',
                                 'real_servers': [{'address': '10.0.0.1', 'tunnel_type': 'gre'}]},
     'only apply to tun forwarding'),
    ('gue without port', {'vip': '192.0.2.1', 'port': 80, 'forwarding': 'tun',
                          'real_servers': [{'address': '10.0.0.1', 'tunnel_type': 'gue'}]},
     'tunnel_type is gue but all of the following are missing: tunnel_port'),
    ('lower above upper', {'vip': '192.0.2.1', 'port': 80,
                           'real_servers': [{'address': '10.0.0.1', 'upper_threshold': 1, 'lower_threshold': 2}]},
     'lower_threshold 2 is above upper_threshold 1'),
    ('fwmark with address', {'fwmark': 1, 'vip': '192.0.2.1'}, 'parameters are mutually exclusive: fwmark|vip'),
    ('fwmark with port', {'fwmark': 1, 'port': 80}, 'parameters are mutually exclusive: fwmark|port'),
    ('mixed families with dr', {'vip': '192.0.2.1', 'port': 80, 'real_servers': [{'address': '2001:db8::1'}]},
     'needs tun forwarding'),
    ('same real server twice', {'vip': '192.0.2.1', 'port': 80,
                                'real_servers': [{'address': '10.0.0.1'}, {'address': '10.0.0.1', 'weight': 2}]},
     'listed twice'),
]


@pytest.mark.parametrize('what, bad, message', BAD, ids=[case[0] for case in BAD])
def test_bad_input_changes_nothing(env, what, bad, message):
    env.run(ipvs_table.main, {'services': SERVICES})
    before = env.kernel.snapshot()
    changed = copy.deepcopy(SERVICES)
    changed[0]['real_servers'][0]['weight'] = 5     # a valid change in the same request
    for check in (True, False):
        result = env.run(ipvs_table.main, {'services': changed + [bad], 'purge': True}, check=check)
        assert result['failed'] is True, what
        assert message in result['msg'], result['msg']
        assert result['_kernel_changes'] == 0
    assert env.kernel.snapshot() == before


def test_two_services_with_one_key(env):
    result = env.run(ipvs_table.main, {'services': SERVICES + [{'vip': '192.0.2.10', 'port': 80, 'scheduler': 'rr'}]})
    assert result['failed'] and 'tcp 192.0.2.10:80 is listed twice in services' in result['msg']
    assert env.kernel.services == {}


def test_kernel_refusal_is_undone(monkeypatch):
    env = Environment(monkeypatch, refuse_addresses=['10.0.0.3'])
    env.run(ipvs_table.main, {'services': SERVICES[:1]})
    before = env.kernel.snapshot()
    changed = copy.deepcopy(SERVICES)
    changed[0]['scheduler'] = 'rr'
    changed[0]['real_servers'][0]['weight'] = 7
    result = env.run(ipvs_table.main, {'services': changed, 'purge': True})
    assert result['failed']
    assert 'the kernel refused 1 of' in result['msg']
    assert 'add real server 10.0.0.3:5353 to udp 192.0.2.10:53' in result['msg']
    assert 'were undone: the table is as it was' in result['msg']
    assert env.kernel.snapshot() == before


def test_missing_scheduler_in_the_kernel(monkeypatch):
    env = Environment(monkeypatch, schedulers=frozenset(['wrr', 'wlc']))
    result = env.run(ipvs_table.main, {'services': SERVICES[:2]})
    assert result['failed']
    assert "the kernel has no scheduler mh: load it with 'modprobe ip_vs_mh'" in result['msg']
    assert env.kernel.services == {}
    assert ('ip_vs_mh', False) in env.modprobe and ('ip_vs_wrr', False) in env.modprobe


def test_scheduler_module_that_modprobe_cannot_find_fails_before_any_change(monkeypatch):
    env = Environment(monkeypatch, modprobe_fails=['ip_vs_mh'])
    result = env.run(ipvs_table.main, {'services': SERVICES[:2]})
    assert result['failed'] and 'ip_vs_mh is needed and cannot be loaded' in result['msg']
    assert result['_kernel_changes'] == 0


def test_old_kernel_ignoring_tunnel_attributes_is_reported(monkeypatch):
    env = Environment(monkeypatch, old_kernel=True)
    result = env.run(ipvs_table.main, {'services': SERVICES[3:4]})
    assert result['failed']
    assert 'did not take everything' in result['msg']
    assert "tunnel_type is 'ipip' in the kernel, not 'gue' as sent" in result['msg']


def test_ip_vs_not_loaded(monkeypatch):
    env = Environment(monkeypatch, loaded=False)
    check = env.run(ipvs_table.main, {'services': SERVICES[:1]}, check=True)
    assert check['changed'] and check['operations'] == RULES[:3]
    assert env.modprobe == [('ip_vs', True)] and not env.loaded
    real = env.run(ipvs_table.main, {'services': SERVICES[:1]})
    assert real['changed'] and ('ip_vs', False) in env.modprobe and len(env.kernel.services) == 1


def test_ip_vs_cannot_be_loaded(monkeypatch):
    env = Environment(monkeypatch, loaded=False, modprobe_fails=['ip_vs'])
    for check in (True, False):
        result = env.run(ipvs_table.main, {'services': SERVICES[:1]}, check=check)
        assert result['failed']
        assert "modprobe ip_vs" in result['msg'] and 'not loaded' in result['msg']


def test_permission_denied_is_explained(monkeypatch):
    env = Environment(monkeypatch)

    def refuse(data):
        seq = int.from_bytes(data[8:12], 'little')
        return [env.kernel._error(seq, errno.EPERM)]
    monkeypatch.setattr(env.kernel, 'handle', refuse)
    result = env.run(ipvs_table.main, {'services': SERVICES[:1]})
    assert result['failed'] and 'become: true' in result['msg']


def _many(count):
    return [{'vip': '198.18.0.%d' % (index + 1), 'port': 80,
             'real_servers': [{'address': '198.19.0.%d' % (index + 1)}, {'address': '198.19.1.%d' % (index + 1)}]}
            for index in range(count)]


def test_large_run_reads_back_only_what_a_kernel_may_drop(monkeypatch):
    env = Environment(monkeypatch, old_kernel=True)
    services = _many(20) + SERVICES[3:4]
    check = env.run(ipvs_table.main, {'services': _many(20)}, check=True, diff=True)
    received = len(env.kernel.received)
    real = env.run(ipvs_table.main, {'services': _many(20)}, diff=True)
    assert real['changed'] and real['diff'] == check['diff']
    dumps_of_real_servers = [cmd for cmd, _flags in env.kernel.received[received:] if cmd == 8]
    assert dumps_of_real_servers == []          # dr real servers: nothing a kernel drops silently
    received = len(env.kernel.received)
    result = env.run(ipvs_table.main, {'services': services})
    # 20 dumps to read the current real servers of the listed services, and one
    # to read back the tunnel service's: its tunnel options are what an old kernel drops
    assert [cmd for cmd, _flags in env.kernel.received[received:] if cmd == 8] == [8] * 21
    assert result['failed'] and "tunnel_type is 'ipip' in the kernel, not 'gue' as sent" in result['msg']


def test_a_large_table_is_not_echoed_back(env):
    # 70 services x 2 real servers = 210 entries, above the echo limit of 200.
    result = env.run(ipvs_table.main, {'services': _many(70), 'purge': True})
    assert result['changed'] and result['netlink_requests'] == 210
    args = result['invocation']['module_args']
    assert args['services'] == '70 services with 140 real servers (not echoed back: more than 200 entries)'
    assert args['purge'] is True
    # A small table leaves the echo to Ansible's exit_json (which the harness replaces).
    small = env.run(ipvs_table.main, {'services': _many(3)})
    assert 'invocation' not in small


# ---------------------------------------------------------------------------
# drain_timeout: weight 0 first, wait for the active connections, then remove
# ---------------------------------------------------------------------------

WEB_KEY = (2, 6, '192.0.2.10', 80)
DRAIN_WEB = {'vip': '192.0.2.10', 'port': 80, 'scheduler': 'wrr',
             'real_servers': [{'address': '10.0.0.2'}, {'address': '10.0.0.3'}]}
DRAIN_OPERATIONS = ['-a -t 192.0.2.10:80 -r 10.0.0.3:80 -g -w 1', '-e -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 0',
                    '-d -t 192.0.2.10:80 -r 10.0.0.1:80']


@pytest.fixture
def web(env):
    """tcp 192.0.2.10:80 with 10.0.0.1 (weight 2, 2 active and 5 inactive connections) and 10.0.0.2."""
    env.run(ipvs_table.main, {'services': SERVICES[:1]})
    service = env.kernel.services[WEB_KEY]
    service['dests'][(2, '10.0.0.1', 80)].update(active_conns=2, inact_conns=5)
    return service


def test_drain_applies_the_other_changes_and_weight_0_then_waits_until_no_active_connection(env, web):
    leaving = web['dests'][(2, '10.0.0.1', 80)]
    seen = []

    def connections_end(sleeps):
        seen.append((leaving['weight'], (2, '10.0.0.1', 80) in web['dests'], (2, '10.0.0.3', 80) in web['dests']))
        if sleeps == 3:
            leaving['active_conns'] = 0
    clock = env.fake_time(connections_end)
    result = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30})
    # While it waited: the new real server in, the leaving one at weight 0 and still there.
    assert seen == [(0, True, True)] * 3
    assert clock.sleeps == 3 and clock.slept == [1.0, 1.0, 1.0]
    assert result['changed'] and result['operations'] == DRAIN_OPERATIONS
    assert env.kernel.change_requests[-3:] == [5, 6, 7]          # NEW_DEST, SET_DEST, DEL_DEST, in that order
    assert result['netlink_requests'] == result['_kernel_changes'] == 3
    assert result['drained'] == [{'service': 'tcp 192.0.2.10:80', 'real_server': '10.0.0.1:80', 'weight_before': 2,
                                  'active_connections': 0, 'inactive_connections': 5, 'seconds_waited': 3.0}]
    assert result['_warnings'] == []
    assert sorted(web['dests']) == [(2, '10.0.0.2', 80), (2, '10.0.0.3', 80)]
    again = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30})
    assert again['changed'] is False and again['drained'] == [] and again['_kernel_changes'] == 0


def test_drain_without_active_connections_removes_at_once(env, web):
    web['dests'][(2, '10.0.0.1', 80)]['active_conns'] = 0
    clock = env.fake_time()
    result = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30})
    assert clock.sleeps == 0
    assert result['operations'] == DRAIN_OPERATIONS
    assert result['drained'][0]['active_connections'] == 0 and result['drained'][0]['inactive_connections'] == 5
    assert result['drained'][0]['seconds_waited'] == 0.0


def test_drain_timeout_passes_removes_anyway_and_reports_the_connections(env, web):
    clock = env.fake_time()
    result = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 5})
    assert not result.get('failed') and result['changed']
    assert clock.now == 1005.0 and clock.sleeps == 5
    assert result['operations'] == DRAIN_OPERATIONS
    assert result['drained'] == [{'service': 'tcp 192.0.2.10:80', 'real_server': '10.0.0.1:80', 'weight_before': 2,
                                  'active_connections': 2, 'inactive_connections': 5, 'seconds_waited': 5.0}]
    assert result['_warnings'] == ['tcp 192.0.2.10:80: real server 10.0.0.1:80 still had 2 active connections after '
                                   'drain_timeout (5 seconds); it was removed all the same']
    assert (2, '10.0.0.1', 80) not in web['dests']


def test_drain_check_mode_predicts_the_same_operations_and_sends_nothing(env, web):
    clock = env.fake_time()
    before = env.kernel.snapshot()
    args = {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30}
    check = env.run(ipvs_table.main, args, check=True, diff=True)
    assert check['changed'] and check['operations'] == DRAIN_OPERATIONS
    assert check['_kernel_changes'] == check['netlink_requests'] == 0
    assert check['drained'] == [] and clock.sleeps == 0
    assert env.kernel.snapshot() == before
    web['dests'][(2, '10.0.0.1', 80)]['active_conns'] = 0
    real = env.run(ipvs_table.main, args, diff=True)
    assert real['operations'] == check['operations'] and real['diff'] == check['diff']
    assert [real['address'] for real in real['diff']['after']['services'][0]['real_servers']] == ['10.0.0.2', '10.0.0.3']


def test_drain_of_whole_services(env):
    env.run(ipvs_table.main, {'services': SERVICES[:2]})
    dns = env.kernel.services[(2, 17, '192.0.2.10', 53)]
    env.kernel.add_dest(dns, addr='10.0.0.4', port=5353, fwd_method=0, weight=0, inact_conns=7)
    dns['dests'][(2, '10.0.0.3', 5353)]['active_conns'] = 1

    def connection_ends(sleeps):
        dns['dests'][(2, '10.0.0.3', 5353)]['active_conns'] = 0
    clock = env.fake_time(connection_ends)
    result = env.run(ipvs_table.main, {'services': SERVICES[:1], 'purge': True, 'drain_timeout': 10})
    # 10.0.0.4 is at weight 0 already: no edit, but it is drained and reported.
    assert result['operations'] == ['-e -u 192.0.2.10:53 -r 10.0.0.3:5353 -m -w 0', '-D -u 192.0.2.10:53']
    assert [(entry['real_server'], entry['weight_before'], entry['active_connections'], entry['inactive_connections'])
            for entry in result['drained']] == [('10.0.0.3:5353', 1, 0, 0), ('10.0.0.4:5353', 0, 0, 7)]
    assert {entry['service'] for entry in result['drained']} == {'udp 192.0.2.10:53'}
    assert clock.sleeps == 1 and list(env.kernel.services) == [WEB_KEY]


def test_drain_timeout_costs_nothing_when_nothing_is_removed(monkeypatch):
    """No removal: the same requests and reads, and no wait, as without drain_timeout."""
    changed = copy.deepcopy(SERVICES)
    changed[0]['real_servers'][1]['weight'] = 9
    changed[1]['scheduler'] = 'rr'
    received = []
    for drain_timeout in (0, 60):
        env = Environment(monkeypatch)
        clock = env.fake_time()
        for services in (SERVICES, SERVICES, changed, changed + [{'vip': '192.0.2.99', 'port': 80}]):
            env.run(ipvs_table.main, {'services': services, 'purge': True, 'drain_timeout': drain_timeout})
        received.append(env.kernel.received)
        assert clock.sleeps == 0
    assert received[0] == received[1]
    assert 8 in [cmd for cmd, _flags in received[0]] and 5 in [cmd for cmd, _flags in received[0]]


def test_drain_first_batch_refused_is_undone_and_nothing_is_removed(monkeypatch):
    env = Environment(monkeypatch, refuse_addresses=['10.0.0.3'])
    env.run(ipvs_table.main, {'services': SERVICES[:1]})
    env.kernel.services[WEB_KEY]['dests'][(2, '10.0.0.1', 80)]['active_conns'] = 1
    before = env.kernel.snapshot()
    clock = env.fake_time()
    result = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30})
    assert result['failed'] and 'add real server 10.0.0.3:80 to tcp 192.0.2.10:80' in result['msg']
    assert 'the kernel refused 1 of 2 IPVS operations' in result['msg']
    assert 'were undone: the table is as it was' in result['msg']
    assert clock.sleeps == 0 and 7 not in env.kernel.change_requests
    assert env.kernel.snapshot() == before


def test_drain_removal_refused_is_undone_and_the_drain_stays(env, web):
    """Another tool removes one of the two leaving real servers while the run
    waits: its delete is refused, the other delete is undone (the real server
    comes back at weight 0, as the first batch left it), the first batch stays."""
    env.kernel.add_dest(web, addr='10.0.0.5', port=80, weight=3, active_conns=1)

    def meanwhile(sleeps):
        del web['dests'][(2, '10.0.0.5', 80)]
        web['dests'][(2, '10.0.0.1', 80)]['active_conns'] = 0
    env.fake_time(meanwhile)
    result = env.run(ipvs_table.main, {'services': [DRAIN_WEB], 'purge': True, 'drain_timeout': 30})
    assert result['failed']
    assert 'delete real server 10.0.0.5:80 from tcp 192.0.2.10:80' in result['msg']
    assert 'the 1 operations that had taken effect were undone' in result['msg']
    assert 'this was the removal after the drain' in result['msg']
    assert sorted((key[1], dest['weight']) for key, dest in web['dests'].items()) == [
        ('10.0.0.1', 0), ('10.0.0.2', 1), ('10.0.0.3', 1)]


def test_drain_timeout_below_0_is_refused(env):
    result = env.run(ipvs_table.main, {'services': [], 'purge': True, 'drain_timeout': -1})
    assert result['failed'] and 'drain_timeout must be 0 or more seconds, not -1' in result['msg']
    assert result['_kernel_changes'] == 0
