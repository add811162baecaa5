# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner: (current table, desired table) -> the smallest list of operations."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import model
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import plan as planner


def svc(**params):
    params.setdefault('port', 80 if 'vip' in params else None)
    errors = []
    service = model.normalise_service(params, errors)
    model.raise_errors(errors)
    if service['real_servers'] is None:
        service['real_servers'] = []
    return service


def table(*services):
    return dict((model.service_key(service), copy.deepcopy(service)) for service in services)


def rules(operations):
    return [planner.format_operation(operation) for operation in operations]


WEB = dict(vip='192.0.2.10', scheduler='wrr', real_servers=[{'address': '10.0.0.1'}, {'address': '10.0.0.2', 'weight': 2}])

CASES = [
    ('empty to one service', [], [WEB],
     ['-A -t 192.0.2.10:80 -s wrr', '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1',
      '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 2']),
    ('no change', [WEB], [WEB], []),
    ('one weight', [WEB], [dict(WEB, real_servers=[{'address': '10.0.0.1'}, {'address': '10.0.0.2', 'weight': 5}])],
     ['-e -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 5']),
    ('scheduler in place, real servers untouched', [WEB], [dict(WEB, scheduler='rr')], ['-E -t 192.0.2.10:80 -s rr']),
    ('persistence in place', [WEB], [dict(WEB, persistence_timeout=300, persistence_netmask=24)],
     ['-E -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.255.0']),
    ('forwarding method in place', [WEB], [dict(WEB, forwarding='nat')],
     ['-e -t 192.0.2.10:80 -r 10.0.0.1:80 -m -w 1', '-e -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 2']),
    ('tunnel options in place', [dict(WEB, forwarding='tun')],
     [dict(WEB, forwarding='tun', real_servers=[{'address': '10.0.0.1', 'tunnel_type': 'gue', 'tunnel_port': 6080},
                                                {'address': '10.0.0.2', 'weight': 2}])],
     ['-e -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080']),
    ('thresholds in place', [WEB], [dict(WEB, real_servers=[{'address': '10.0.0.1', 'upper_threshold': 100,
                                                             'lower_threshold': 10}, {'address': '10.0.0.2', 'weight': 2}])],
     ['-e -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1 -x 100 -y 10']),
    ('a new real server port is a new real server', [dict(WEB, forwarding='nat')],
     [dict(WEB, forwarding='nat', real_servers=[{'address': '10.0.0.1', 'port': 8080}, {'address': '10.0.0.2', 'weight': 2}])],
     ['-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 1']),
    ('sh flags', [dict(vip='192.0.2.10', scheduler='sh')],
     [dict(vip='192.0.2.10', scheduler='sh', scheduler_flags=['sh-port', 'sh-fallback'])],
     ['-E -t 192.0.2.10:80 -s sh -b sh-fallback,sh-port']),
    ('an IPv6 service next to an IPv4 one', [WEB],
     [WEB, dict(vip='2001:db8::10', protocol='udp', port=53, one_packet=True, scheduler='mh', scheduler_flags=['mh-port'])],
     ['-A -u [2001:db8::10]:53 -s mh -b mh-port -o']),
    ('fwmark with pe', [], [dict(fwmark=5, family='ipv6', persistence_timeout=60, persistence_netmask=64,
                                 persistence_engine='sip', forwarding='tun',
                                 real_servers=[{'address': '2001:db8::5', 'tunnel_type': 'gre', 'tunnel_checksum': 'csum'}])],
     ['-A -f 5 -6 -s wlc -p 60 -M 64 --pe sip', '-a -f 5 -6 -r [2001:db8::5]:0 -i -w 1 --tun-type gre --tun-csum']),
]


@pytest.mark.parametrize('what, current, desired, expected', CASES, ids=[case[0] for case in CASES])
def test_plan(what, current, desired, expected):
    current_table = table(*[svc(**params) for params in current])
    desired_services = [svc(**params) for params in desired]
    operations = planner.plan(current_table, desired_services)
    assert rules(operations) == expected
    # applying the plan gives the desired table, and planning again gives nothing
    after = planner.simulate(current_table, operations)
    for service in desired_services:
        got = after[model.service_key(service)]
        assert dict(got, real_servers=None) == dict(service, real_servers=None)
        assert all(real in got['real_servers'] for real in service['real_servers'])
    assert planner.plan(after, desired_services) == []


def test_real_servers_not_listed_stay_without_exact_and_go_with_it():
    current = table(svc(**WEB))
    desired = [svc(vip='192.0.2.10', scheduler='wrr', real_servers=[{'address': '10.0.0.3'}])]
    assert rules(planner.plan(current, desired)) == ['-a -t 192.0.2.10:80 -r 10.0.0.3:80 -g -w 1']
    assert rules(planner.plan(current, desired, exact_real_servers=True)) == [
        '-d -t 192.0.2.10:80 -r 10.0.0.1:80', '-d -t 192.0.2.10:80 -r 10.0.0.2:80',
        '-a -t 192.0.2.10:80 -r 10.0.0.3:80 -g -w 1']


def test_none_real_servers_means_leave_them():
    current = table(svc(**WEB))
    desired = svc(vip='192.0.2.10', scheduler='wrr')
    desired['real_servers'] = None
    assert planner.plan(current, [desired], exact_real_servers=True) == []


def test_purge_and_scope():
    current = table(svc(**WEB), svc(vip='192.0.2.20'), svc(vip='198.51.100.1'), svc(fwmark=3), svc(fwmark=4))
    desired = [svc(**WEB)]
    assert rules(planner.plan(current, desired)) == []
    assert rules(planner.plan(current, desired, purge_services=True)) == [
        '-D -t 192.0.2.20:80', '-D -t 198.51.100.1:80', '-D -f 3', '-D -f 4']

    def scope(service):
        return service['fwmark'] == 4 or (service['vip'] or '').startswith('192.0.2.')
    assert rules(planner.plan(current, desired, purge_services=True, in_purge_scope=scope)) == [
        '-D -t 192.0.2.20:80', '-D -f 4']


def test_deletions_come_first_and_services_in_key_order():
    current = table(svc(vip='192.0.2.99'))
    desired = [svc(vip='192.0.2.20'), svc(vip='10.1.1.1'), svc(fwmark=1), svc(vip='2001:db8::1')]
    assert rules(planner.plan(current, desired, purge_services=True)) == [
        '-D -t 192.0.2.99:80', '-A -t 10.1.1.1:80 -s wlc', '-A -t 192.0.2.20:80 -s wlc',
        '-A -t [2001:db8::1]:80 -s wlc', '-A -f 1 -s wlc']


def test_inverse_undoes_everything():
    current = table(svc(**WEB), svc(vip='192.0.2.20', real_servers=[{'address': '10.0.0.9'}]))
    desired = [svc(vip='192.0.2.10', scheduler='rr', forwarding='nat',
                   real_servers=[{'address': '10.0.0.1', 'port': 8080}, {'address': '10.0.0.2', 'weight': 7}]),
               svc(vip='192.0.2.30', real_servers=[{'address': '10.0.0.4'}])]
    operations = planner.plan(current, desired, purge_services=True, exact_real_servers=True)
    kinds = set(operation.kind for operation in operations)
    assert kinds == {planner.ADD_SERVICE, planner.EDIT_SERVICE, planner.DELETE_SERVICE, planner.ADD_REAL_SERVER,
                     planner.EDIT_REAL_SERVER, planner.DELETE_REAL_SERVER}
    after = planner.simulate(current, operations)
    restored = planner.simulate(after, planner.inverse(operations))
    assert restored == current


def test_simulate_leaves_its_input_alone():
    current = table(svc(**WEB))
    frozen = copy.deepcopy(current)
    planner.simulate(current, planner.plan(current, [], purge_services=True))
    planner.simulate(current, planner.plan(current, [svc(vip='192.0.2.10', real_servers=[])], exact_real_servers=True))
    assert current == frozen


def test_touched_keys_and_views():
    current = table(svc(**WEB), svc(vip='192.0.2.20'))
    operations = planner.plan(current, [svc(vip='192.0.2.20', scheduler='rr')])
    keys = planner.touched_keys(operations)
    assert keys == [('ipv4', 'tcp', '192.0.2.20', 80)]
    assert [service['vip'] for service in planner.table_view(current, keys)] == ['192.0.2.20']
    assert [service['vip'] for service in planner.table_view(current)] == ['192.0.2.10', '192.0.2.20']


def test_describe_operation():
    operations = planner.plan(table(svc(**WEB)), [svc(vip='192.0.2.10', scheduler='rr', real_servers=[])],
                              exact_real_servers=True)
    assert [planner.describe_operation(operation) for operation in operations] == [
        'edit service tcp 192.0.2.10:80',
        'delete real server 10.0.0.1:80 from tcp 192.0.2.10:80',
        'delete real server 10.0.0.2:80 from tcp 192.0.2.10:80']


# split_for_drain: (current, desired, purge) -> the first batch, the deletes, the real servers drained.
OLD = dict(vip='192.0.2.30', real_servers=[{'address': '10.0.0.31', 'weight': 4}, {'address': '10.0.0.32', 'weight': 0}])

DRAIN_CASES = [
    ('nothing removed: one batch as planned', [WEB], [dict(WEB, scheduler='rr')], False,
     ['-E -t 192.0.2.10:80 -s rr'], [], []),
    ('a real server replaced: the new one first, then weight 0, then the removal', [WEB],
     [dict(WEB, real_servers=[{'address': '10.0.0.2', 'weight': 2}, {'address': '10.0.0.3'}])], False,
     ['-a -t 192.0.2.10:80 -r 10.0.0.3:80 -g -w 1', '-e -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 0'],
     ['-d -t 192.0.2.10:80 -r 10.0.0.1:80'],
     [('tcp 192.0.2.10:80', '10.0.0.1:80', 1)]),
    ('edits of the service stay in the first batch', [WEB],
     [dict(WEB, scheduler='rr', real_servers=[{'address': '10.0.0.1', 'weight': 7}])], False,
     ['-E -t 192.0.2.10:80 -s rr', '-e -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 7',
      '-e -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 0'],
     ['-d -t 192.0.2.10:80 -r 10.0.0.2:80'],
     [('tcp 192.0.2.10:80', '10.0.0.2:80', 2)]),
    ('a whole service: each of its real servers not at weight 0 yet', [WEB, OLD], [WEB], True,
     ['-e -t 192.0.2.30:80 -r 10.0.0.31:80 -g -w 0'],
     ['-D -t 192.0.2.30:80'],
     [('tcp 192.0.2.30:80', '10.0.0.31:80', 4), ('tcp 192.0.2.30:80', '10.0.0.32:80', 0)]),
    ('real servers removed before services, each drained first', [WEB, OLD],
     [dict(WEB, real_servers=[{'address': '10.0.0.1'}])], True,
     ['-e -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 0', '-e -t 192.0.2.30:80 -r 10.0.0.31:80 -g -w 0'],
     ['-d -t 192.0.2.10:80 -r 10.0.0.2:80', '-D -t 192.0.2.30:80'],
     [('tcp 192.0.2.10:80', '10.0.0.2:80', 2), ('tcp 192.0.2.30:80', '10.0.0.31:80', 4),
      ('tcp 192.0.2.30:80', '10.0.0.32:80', 0)]),
    ('a real server at weight 0 already is removed without an edit', [OLD],
     [dict(OLD, real_servers=[{'address': '10.0.0.31', 'weight': 4}])], True,
     [], ['-d -t 192.0.2.30:80 -r 10.0.0.32:80'], [('tcp 192.0.2.30:80', '10.0.0.32:80', 0)]),
]


@pytest.mark.parametrize('what, current, desired, purge, first, deletes, draining', DRAIN_CASES,
                         ids=[case[0] for case in DRAIN_CASES])
def test_split_for_drain(what, current, desired, purge, first, deletes, draining):
    current_table = table(*[svc(**params) for params in current])
    operations = planner.plan(current_table, [svc(**params) for params in desired], purge_services=purge,
                              exact_real_servers=True)
    got_first, got_deletes, got_draining = planner.split_for_drain(operations)
    assert rules(got_first) == first
    assert rules(got_deletes) == deletes
    assert [(model.service_label(service), model.real_server_label(real), real['weight'])
            for service, real in got_draining] == draining
    if not deletes:
        assert got_first == operations
    # Both batches together leave the table the plan leaves; undoing the
    # deletes gives the table as the first batch left it (real servers at weight 0).
    middle = planner.simulate(current_table, got_first)
    after = planner.simulate(middle, got_deletes)
    assert after == planner.simulate(current_table, operations)
    assert planner.simulate(after, planner.inverse(got_deletes)) == middle
    assert planner.simulate(middle, planner.inverse(got_first)) == current_table
    assert all(real['weight'] == 0 for service in middle.values() for real in service['real_servers']
               if (model.service_label(service), model.real_server_label(real)) in set(d[:2] for d in draining))


def test_split_for_drain_leaves_the_plan_alone():
    current = table(svc(**WEB), svc(**OLD))
    operations = planner.plan(current, [svc(vip='192.0.2.10', real_servers=[])], purge_services=True,
                              exact_real_servers=True)
    frozen = copy.deepcopy(rules(operations)), copy.deepcopy(current)
    planner.split_for_drain(operations)
    assert (rules(operations), current) == frozen
    assert [operation.before['weight'] for operation in operations if operation.kind == planner.DELETE_REAL_SERVER] == [1, 2]
