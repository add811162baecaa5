# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the pure parts of rs_nat_route: request checks and planning."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._rs import nat as rn

MGMT = rn.Route(4, rn.MAIN_TABLE, '10.0.2.2', 0, 'eth0')


def params(**kwargs):
    base = {'state': 'present', 'mode': 'default_route', 'gateway': '10.10.0.1', 'table': 100, 'priority': 1000, 'rules': []}
    base.update(kwargs)
    return base


def live(routes=(MGMT,), rules=()):
    networks = [ipaddress.ip_interface(n) for n in ('10.0.2.15/24', '10.10.0.11/24', 'fd00:10::11/64')]
    return rn.NatLive(routes=list(routes), rules=list(rules), networks=networks)


def apply_plan(state, the_plan):
    routes, rules = list(state.routes), list(state.rules)
    for op in the_plan.operations:
        if op.kind == 'route_replace':
            routes = [r for r in routes if (r.family, r.table, r.metric) != (op.item.family, op.item.table, op.item.metric)]
            routes.append(op.item)
        elif op.kind == 'route_del':
            routes.remove(op.item)
        elif op.kind == 'rule_add':
            rules.append(op.item)
        elif op.kind == 'rule_del':
            rules.remove(op.item)
    return rn.NatLive(routes=routes, rules=rules, networks=state.networks)


def converge(host, record, **kwargs):
    the_plan = rn.plan(rn.normalise_request(params(**kwargs)), host, record)
    return the_plan, apply_plan(host, the_plan), the_plan.record


@pytest.mark.parametrize('kwargs, message', [
    ({'gateway': None}, 'gateway is required'),
    ({'gateway': 'director'}, 'is not an IP address'),
    ({'gateway': '224.0.0.1'}, 'not the unicast address'),
    ({'table': 254}, 'reserved'),
    ({'table': 0}, 'reserved'),
    ({'priority': 32766}, 'between 1 and 32765'),
    ({'mode': 'policy', 'rules': [{'source': 'fd00::1'}]}, 'different address families'),
    ({'mode': 'policy', 'rules': [{'source': '10.10.0.11', 'port': 80}]}, 'port needs protocol'),
    ({'mode': 'policy', 'rules': [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 0}]}, 'between 1 and 65535'),
    ({'rules': [{'source': '10.10.0.11'}]}, 'mode=policy only'),
    ({'family': 'ipv6'}, 'family is ipv6 but gateway 10.10.0.1 is an IPv4 address'),
])
def test_bad_requests(kwargs, message):
    with pytest.raises(LvsError, match=message):
        rn.normalise_request(params(**kwargs))


def test_gateway_must_be_on_link():
    with pytest.raises(LvsError, match='not on a network this host is attached to'):
        rn.plan(rn.normalise_request(params(gateway='192.0.2.1')), live(), rn.empty_record())


def test_default_route_replaces_and_absent_puts_back():
    original = live()
    the_plan, state, record = converge(original, rn.empty_record())
    assert [(op.kind, op.item.gateway) for op in the_plan.operations] == [('route_replace', '10.10.0.1')]
    assert record['default_route']['4']['replaced'] == MGMT.to_record()
    assert rn.plan(rn.normalise_request(params()), state, record).operations == []
    the_plan, state, record = converge(state, record, state='absent', gateway=None)
    assert [op.text for op in the_plan.operations] == ['put back the IPv4 default route default via 10.0.2.2 dev eth0']
    assert state.routes == original.routes
    assert record['default_route'] == {}


def test_default_route_added_where_there_was_none_is_removed():
    the_plan, state, record = converge(live(routes=()), rn.empty_record())
    the_plan, state, record = converge(state, record, state='absent', gateway=None)
    assert [op.kind for op in the_plan.operations] == ['route_del']
    assert state.routes == []


def test_default_route_already_via_the_director_is_not_ours_to_remove():
    state = live(routes=[rn.Route(4, rn.MAIN_TABLE, '10.10.0.1', 0, 'eth1')])
    the_plan, state, record = converge(state, rn.empty_record())
    assert the_plan.operations == [] and record['default_route'] == {}
    the_plan, state, record = converge(state, record, state='absent', gateway=None)
    assert the_plan.operations == []
    assert state.routes[0].gateway == '10.10.0.1'


def test_default_route_changed_by_someone_else_is_left_with_a_warning():
    _p, state, record = converge(live(), rn.empty_record())
    state.routes = [rn.Route(4, rn.MAIN_TABLE, '10.0.2.3', 0, 'eth0')]
    the_plan = rn.plan(rn.normalise_request(params(state='absent', gateway=None)), state, record)
    assert the_plan.operations == []
    assert 'no longer the one rs_nat_route set' in the_plan.warnings[0]


def test_other_metrics_are_left_alone():
    backup = rn.Route(4, rn.MAIN_TABLE, '10.0.2.2', 100, 'eth0')
    the_plan, state, _record = converge(live(routes=[backup]), rn.empty_record())
    assert backup in state.routes and len(state.routes) == 2


def test_ipv6_default_route_uses_metric_1024():
    the_plan = rn.plan(rn.normalise_request(params(gateway='fd00:10::1')), live(), rn.empty_record())
    assert the_plan.operations[0].item == rn.Route(6, rn.MAIN_TABLE, 'fd00:10::1', 1024)


def test_policy_routes_by_source_port_and_keeps_the_default_route():
    rules = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}, {'source': '10.10.0.11', 'protocol': 'udp', 'port': 53}]
    the_plan, state, record = converge(live(), rn.empty_record(), mode='policy', rules=rules)
    assert [op.kind for op in the_plan.operations] == ['route_replace', 'rule_add', 'rule_add']
    assert the_plan.operations[0].item == rn.Route(4, 100, '10.10.0.1', 0)
    assert rn.Rule(4, 1000, 100, '10.10.0.11/32', 6, 8080) in state.rules
    assert MGMT in state.routes
    assert record['policy'] == {'4': {'table': 100, 'priority': 1000}}
    again = rn.plan(rn.normalise_request(params(mode='policy', rules=rules)), state, record)
    assert again.operations == [] and again.before == again.after
    # a rule that is no longer listed goes; rules at other priorities stay
    foreign = rn.Rule(4, 500, 100, '10.10.0.12/32')
    state.rules.append(foreign)
    the_plan, state, record = converge(state, record, mode='policy', rules=rules[:1])
    assert [op.text for op in the_plan.operations] == ['remove rule priority 1000 from 10.10.0.11/32 ipproto udp sport 53 lookup 100']
    assert foreign in state.rules


def test_policy_absent_touches_nothing_it_did_not_set_up():
    someone_elses = rn.Rule(4, 1000, 100, '10.10.0.99/32')
    state = live(routes=[MGMT, rn.Route(4, 100, '10.0.2.9', 0, 'eth0')], rules=[someone_elses])
    the_plan = rn.plan(rn.normalise_request(params(mode='policy', state='absent', gateway=None)), state, rn.empty_record())
    assert the_plan.operations == []


def test_policy_moving_to_another_table_cleans_the_old_one():
    rules = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}]
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=rules)
    the_plan, state, record = converge(state, record, mode='policy', rules=rules, table=200, priority=900)
    assert sorted(op.text for op in the_plan.operations) == sorted([
        'remove default via 10.10.0.1 table 100',
        'remove rule priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
        'set default via 10.10.0.1 table 200',
        'add rule priority 900 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 200',
    ])
    assert [r.table for r in state.rules] == [200]
    assert record['policy'] == {'4': {'table': 200, 'priority': 900}}


def test_policy_absent_removes_rules_before_the_route():
    rules = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}]
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=rules)
    the_plan, state, record = converge(state, record, mode='policy', state='absent', gateway=None)
    assert [op.kind for op in the_plan.operations] == ['rule_del', 'route_del']
    assert state.rules == [] and state.routes == [MGMT]


def test_policy_without_port_routes_by_address():
    request = rn.normalise_request(params(mode='policy', rules=[{'source': '10.10.0.11'}, {'source': '10.10.0.11'}]))
    assert request.rules == (rn.Rule(4, 1000, 100, '10.10.0.11/32'),)
    assert request.rules[0].describe() == 'priority 1000 from 10.10.0.11/32 lookup 100'


@pytest.mark.parametrize('kwargs, families', [
    ({'state': 'absent', 'gateway': None}, (4, 6)),
    ({'state': 'absent', 'gateway': None, 'family': 'ipv6'}, (6,)),
    ({'state': 'absent'}, (4,)),
])
def test_absent_families(kwargs, families):
    assert rn.normalise_request(params(**kwargs)).families == families


def test_policy_moving_to_another_priority_keeps_the_table_route():
    rules = [{'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}]
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=rules)
    the_plan, state, record = converge(state, record, mode='policy', rules=rules, priority=900)
    assert [op.command for op in the_plan.operations] == [
        'ip rule add priority 900 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
        'ip rule del priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
    ]
    assert rn.Route(4, 100, '10.10.0.1', 0) in state.routes
    assert rn.plan(rn.normalise_request(params(mode='policy', rules=rules, priority=900)), state, record).operations == []


def test_policy_rules_with_and_without_port_for_one_address():
    request = rn.normalise_request(params(mode='policy', rules=[
        {'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}, {'source': '10.10.0.11'}, {'source': '10.10.0.11', 'protocol': 'udp'}]))
    assert [rule.describe() for rule in request.rules] == [
        'priority 1000 from 10.10.0.11/32 lookup 100',
        'priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
        'priority 1000 from 10.10.0.11/32 ipproto udp lookup 100',
    ]
    _p, state, record = converge(live(rules=[rn.Rule(4, 1000, 100, None)]), rn.empty_record(), mode='policy',
                                 rules=[{'source': '10.10.0.11'}])
    assert state.rules == [rn.Rule(4, 1000, 100, '10.10.0.11/32')]


# purge=false (mode=policy): the rules already at the module's table and priority are kept.

TCP_8080 = {'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8080}
TCP_8081 = {'source': '10.10.0.11', 'protocol': 'tcp', 'port': 8081}


def rule(port, table=100, priority=1000):
    return rn.Rule(4, priority, table, '10.10.0.11/32', 6, port)


def boot_state(request, state, the_plan):
    """What the boot commands give a host with none of it: the plan from empty, applied."""
    empty = rn.NatLive(routes=[], rules=[], networks=state.networks)
    boot = rn.plan(dataclasses.replace(request, rules=tuple(the_plan.rules)), empty, rn.empty_record())
    assert [op.command for op in boot.operations] == rn.boot_commands(request, state, the_plan.rules)
    return apply_plan(empty, boot)


@pytest.mark.parametrize('purge, kept', [(False, [rule(8080), rule(8081)]), (True, [rule(8081)])])
def test_policy_purge_decides_whether_an_unlisted_rule_stays(purge, kept):
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080])
    request = rn.normalise_request(params(mode='policy', rules=[TCP_8081], purge=purge))
    the_plan = rn.plan(request, state, record)
    assert [op.kind for op in the_plan.operations] == ['rule_add'] + ([] if not purge else ['rule_del'])
    assert the_plan.rules == kept
    assert the_plan.after['IPv4 rules at priority 1000'] == [r.describe() for r in kept]
    state = apply_plan(state, the_plan)
    assert sorted(state.rules) == kept
    # the boot commands give exactly the live rules and table route
    assert sorted(boot_state(request, state, the_plan).rules) == kept
    assert boot_state(request, state, the_plan).routes == [r for r in state.routes if r.table == 100]
    again = rn.plan(request, state, the_plan.record)
    assert again.operations == [] and again.rules == kept


def test_policy_purge_false_then_true_removes_what_is_no_longer_listed():
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080])
    _p, state, record = converge(state, record, mode='policy', rules=[TCP_8081], purge=False)
    the_plan, state, record = converge(state, record, mode='policy', rules=[TCP_8081])
    assert [op.command for op in the_plan.operations] == [
        'ip rule del priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100']
    assert state.rules == [rule(8081)]


def test_policy_purge_false_with_nothing_listed_keeps_everything():
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080, TCP_8081])
    the_plan = rn.plan(rn.normalise_request(params(mode='policy', rules=[], purge=False)), state, record)
    assert the_plan.operations == [] and the_plan.rules == [rule(8080), rule(8081)]


def test_policy_purge_false_keeps_a_rule_it_did_not_list_on_a_first_run():
    by_address = rn.Rule(4, 1000, 100, '10.10.0.12/32')
    state = live(rules=[by_address])
    the_plan, state, _record = converge(state, rn.empty_record(), mode='policy', rules=[TCP_8080], purge=False)
    assert [op.kind for op in the_plan.operations] == ['route_replace', 'rule_add']
    assert the_plan.rules == [rule(8080), by_address] and sorted(state.rules) == the_plan.rules


def test_policy_purge_false_moves_the_rules_of_an_earlier_table_and_priority():
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080])
    the_plan, state, record = converge(state, record, mode='policy', rules=[TCP_8081], table=200, priority=900,
                                       gateway='10.10.0.2', purge=False)
    # added where they go before anything is removed; the old table's route after its rules
    assert [op.command for op in the_plan.operations] == [
        'ip route replace default via 10.10.0.2 table 200 proto static',
        'ip rule add priority 900 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 200',
        'ip rule add priority 900 from 10.10.0.11/32 ipproto tcp sport 8081 lookup 200',
        'ip rule del priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100',
        'ip route del default via 10.10.0.1 table 100',
    ]
    assert sorted(state.rules) == the_plan.rules == [rule(8080, 200, 900), rule(8081, 200, 900)]
    assert record['policy'] == {'4': {'table': 200, 'priority': 900}}
    the_plan, state, record = converge(state, record, mode='policy', rules=[TCP_8081], table=200, priority=900,
                                       gateway='10.10.0.2')
    assert [op.kind for op in the_plan.operations] == ['rule_del'] and state.rules == [rule(8081, 200, 900)]


def test_policy_purge_false_still_changes_the_gateway():
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080])
    the_plan = rn.plan(rn.normalise_request(params(mode='policy', gateway='10.10.0.2', rules=[], purge=False)), state, record)
    assert [op.command for op in the_plan.operations] == ['ip route replace default via 10.10.0.2 table 100 proto static']
    assert the_plan.rules == [rule(8080)]


def test_default_route_purge_false_still_changes_the_gateway():
    _p, state, record = converge(live(), rn.empty_record())
    the_plan, state, record = converge(state, record, gateway='10.10.0.2', purge=False)
    assert [op.command for op in the_plan.operations] == ['ip route replace default via 10.10.0.2 proto static']
    assert record['default_route']['4']['replaced'] == MGMT.to_record() and the_plan.rules == []


def test_policy_absent_ignores_purge():
    _p, state, record = converge(live(), rn.empty_record(), mode='policy', rules=[TCP_8080])
    the_plan, state, record = converge(state, record, mode='policy', state='absent', gateway=None, purge=False)
    assert [op.kind for op in the_plan.operations] == ['rule_del', 'route_del'] and the_plan.rules == []


def test_purge_defaults_to_true():
    assert rn.normalise_request(params()).purge is True
    assert rn.normalise_request(params(purge=None)).purge is True
    assert rn.normalise_request(params(purge=False)).purge is False
