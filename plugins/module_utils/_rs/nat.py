# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The return route of an LVS NAT real server: the logic of the rs_nat_route module.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

With NAT the director rewrites the destination of the client's packets and
must rewrite the source of the replies, so the replies must go back through
it.  Two ways:

- ``default_route``: the host's default route (main table, the kernel's default
  metric) goes through the director's inner address.  A default route it
  replaces is kept in the module's record and put back by ``state=absent``.
- ``policy``: the host keeps its default route; a separate routing table holds a
  default route through the director, and rules send the replies there - by
  source address, and optionally by protocol and source port (the real server's
  port), so that the host's other traffic keeps its own route.  The module owns
  that table's default route and the rules at its priority that point to it.
  With ``purge`` (the default) the requested rules are all of them; without,
  the rules already there are kept too, and moved along when the table or the
  priority changes, so that a rolling change can add what it needs before the
  directors stop using what it replaces, and remove the rest later.

Pure functions here (``normalise_request``, ``plan``, ``boot_commands``);
``run_rs_nat_route`` is the flow.  The host side is ``_rs_host.Host``.  Every
operation carries the ``ip`` command that makes the same change; the module
reports those, and ``boot_commands`` plans the request on a host with none of it
(a freshly booted one) and returns the commands a boot script runs.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.converge import converge
from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import PROTOCOLS

RECORD_VERSION = 1
MAIN_TABLE = 254
RESERVED_TABLES = (0, 253, 254, 255)
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
# The metric a default route gets from `ip route add default via ...`.
DEFAULT_METRIC = {4: 0, 6: 1024}


@dataclass(frozen=True)
class Route:
    """A default route (destination 0/0)."""

    family: int
    table: int
    gateway: str | None
    metric: int
    device: str | None = None

    def describe(self):
        text = 'default'
        if self.gateway:
            text += ' via %s' % self.gateway
        if self.device:
            text += ' dev %s' % self.device
        if self.table != MAIN_TABLE:
            text += ' table %d' % self.table
        if self.metric:
            text += ' metric %d' % self.metric
        return text

    def to_record(self):
        return {'family': self.family, 'table': self.table, 'gateway': self.gateway, 'metric': self.metric, 'device': self.device}

    @classmethod
    def from_record(cls, data):
        return cls(int(data['family']), int(data['table']), data.get('gateway'), int(data.get('metric') or 0), data.get('device'))


@dataclass(frozen=True)
class Rule:
    """A policy routing rule, reduced to what the module sets."""

    family: int
    priority: int
    table: int
    source: str | None  # 'address/prefix'
    protocol: int | None = None
    port: int | None = None

    def sort_key(self):
        """A rule without a selector (None: any) sorts before one with it, so that all rules compare."""
        return (self.family, self.priority, self.table, self.source is not None, self.source or '',
                self.protocol is not None, self.protocol or 0, self.port is not None, self.port or 0)

    def __lt__(self, other):
        return self.sort_key() < other.sort_key()

    def describe(self):
        parts = ['priority %d' % self.priority, 'from %s' % (self.source or 'all')]
        if self.protocol is not None:
            parts.append('ipproto %s' % PROTOCOL_NAMES.get(self.protocol, self.protocol))
        if self.port is not None:
            parts.append('sport %d' % self.port)
        parts.append('lookup %d' % self.table)
        return ' '.join(parts)


@dataclass(frozen=True)
class Request:
    state: str
    mode: str
    families: tuple
    gateway: str | None
    table: int
    priority: int
    rules: tuple  # of Rule
    purge: bool = True  # policy: remove the rules at the module's place that ``rules`` does not list


@dataclass
class NatLive:
    routes: list = field(default_factory=list)  # default routes (Route) of every table
    rules: list = field(default_factory=list)  # Rule, with source/protocol/port as the kernel has them
    networks: list = field(default_factory=list)  # ip_interface of the host's addresses


@dataclass(frozen=True)
class Operation:
    kind: str  # route_replace | route_del | rule_add | rule_del
    item: object
    text: str

    @property
    def command(self):
        """The ``ip`` command that makes the same change as the module does through netlink."""
        return command_for(self.kind, self.item)


def command_for(kind, item):
    ip = 'ip -6' if item.family == 6 else 'ip'
    if kind in ('route_replace', 'route_del'):
        words = [ip, 'route', 'replace' if kind == 'route_replace' else 'del', 'default']
        if item.gateway:
            words += ['via', item.gateway]
        if item.device and kind == 'route_replace':
            words += ['dev', item.device]
        if item.table != MAIN_TABLE:
            words += ['table', str(item.table)]
        if item.metric:
            words += ['metric', str(item.metric)]
        if kind == 'route_replace':
            words += ['proto', 'static']  # as pyroute2 sets it
        return ' '.join(words)
    return '%s rule %s %s' % (ip, 'add' if kind == 'rule_add' else 'del', item.describe())


@dataclass
class Plan:
    operations: list
    record: dict
    before: dict
    after: dict
    warnings: list
    rules: list = field(default_factory=list)  # policy, present: the rules the module keeps (listed, and kept by purge=false)

    @property
    def changed(self):
        return bool(self.operations)


def family_name(family):
    return 'IPv4' if family == 4 else 'IPv6'


def _address(value, option):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise LvsError('%s: %r is not an IP address.' % (option, value))


def normalise_request(params):
    state = params.get('state') or 'present'
    mode = params.get('mode') or 'default_route'
    table = int(params.get('table') if params.get('table') is not None else 100)
    priority = int(params.get('priority') if params.get('priority') is not None else 1000)
    gateway = None
    if params.get('gateway') is not None:
        address = _address(params['gateway'], 'gateway')
        if address.is_unspecified or address.is_multicast or address.is_loopback:
            raise LvsError('gateway: %s is not the unicast address of a director.' % address)
        gateway = str(address)
    if state == 'present' and gateway is None:
        raise LvsError('gateway is required with state=present: the director\'s inner address, through which replies return.')
    if table in RESERVED_TABLES or not 0 < table < 2 ** 32:
        raise LvsError('table: %d is reserved (0, 253 default, 254 main, 255 local) or out of range; choose another table.' % table)
    if not 0 < priority < 32766:
        raise LvsError('priority: %d must be between 1 and 32765, before the rule that looks up the main table.' % priority)
    family = params.get('family')
    if gateway:
        families = (ipaddress.ip_address(gateway).version,)
        if family and family != 'ipv%d' % families[0]:
            raise LvsError('family is %s but gateway %s is an %s address.' % (family, gateway, family_name(families[0])))
    elif family:
        families = (4,) if family == 'ipv4' else (6,)
    else:
        families = (4, 6)
    rules = []
    if mode == 'policy':
        for index, rule in enumerate(params.get('rules') or []):
            where = 'rules[%d]' % index
            source = _address(rule.get('source'), where + '.source')
            if gateway and source.version != families[0]:
                raise LvsError('%s: source %s and gateway %s are of different address families.' % (where, source, gateway))
            protocol = rule.get('protocol')
            port = rule.get('port')
            if port is not None and protocol is None:
                raise LvsError('%s: port needs protocol (tcp, udp or sctp).' % where)
            if port is not None and not 0 < int(port) < 65536:
                raise LvsError('%s: port %s is not between 1 and 65535.' % (where, port))
            if protocol is not None and protocol not in PROTOCOLS:
                raise LvsError('%s: protocol must be one of tcp, udp, sctp, not %r.' % (where, protocol))
            entry = Rule(source.version, priority, table, '%s/%d' % (source, source.max_prefixlen),
                         PROTOCOLS[protocol] if protocol else None, int(port) if port is not None else None)
            if entry not in rules:
                rules.append(entry)
    elif params.get('rules'):
        raise LvsError('rules apply to mode=policy only; mode=default_route changes the default route of the main table.')
    purge = params.get('purge')
    return Request(state=state, mode=mode, families=families, gateway=gateway, table=table, priority=priority,
                   rules=tuple(sorted(rules)), purge=True if purge is None else bool(purge))


def empty_record():
    return {'version': RECORD_VERSION, 'default_route': {}, 'policy': {}}


def load_record(data):
    if data is None:
        return empty_record()
    if not isinstance(data, dict) or data.get('version') != RECORD_VERSION:
        raise LvsError('The rs_nat_route record has an unknown format; move it aside and run again.')
    record = empty_record()
    record['default_route'] = dict(data.get('default_route') or {})
    record['policy'] = dict(data.get('policy') or {})
    return record


def _main_default(live, family):
    """The main table's default route at the kernel's default metric, or None."""
    for route in live.routes:
        if route.family == family and route.table == MAIN_TABLE and route.metric == DEFAULT_METRIC[family]:
            return route
    return None


def _table_defaults(live, family, table):
    return [route for route in live.routes if route.family == family and route.table == table]


def plan(request, live, record):
    """The operations that bring the host from ``live`` to the request."""
    operations = []
    warnings = []
    kept_rules = []
    new_record = {'version': RECORD_VERSION, 'default_route': dict(record['default_route']), 'policy': dict(record['policy'])}
    before = {}
    after = {}

    def add(kind, item, text):
        operations.append(Operation(kind, item, text))

    if request.state == 'present' and request.gateway:
        family = request.families[0]
        gateway = ipaddress.ip_address(request.gateway)
        if not any(network.version == family and gateway in network.network for network in live.networks):
            raise LvsError(
                'gateway %s is not on a network this host is attached to; the director\'s inner address must be '
                'directly reachable (NAT replies go to it as the next hop).' % request.gateway)

    for family in request.families:
        name = family_name(family)
        key = str(family)
        current = _main_default(live, family)
        recorded = new_record['default_route'].get(key)
        if request.mode == 'default_route':
            before['%s default route' % name] = current.describe() if current else None
            if request.state == 'present':
                wanted = Route(family, MAIN_TABLE, request.gateway, DEFAULT_METRIC[family])
                if current is None or current.gateway != request.gateway:
                    if recorded is None:
                        new_record['default_route'][key] = {
                            'gateway': request.gateway,
                            'replaced': current.to_record() if current else None,
                        }
                    else:
                        new_record['default_route'][key] = dict(recorded, gateway=request.gateway)
                    add('route_replace', wanted, 'set the %s default route to %s (was %s)'
                        % (name, wanted.describe(), current.describe() if current else 'none'))
                    after['%s default route' % name] = wanted.describe()
                else:
                    if recorded is not None and recorded.get('gateway') != request.gateway:
                        new_record['default_route'][key] = dict(recorded, gateway=request.gateway)
                    after['%s default route' % name] = current.describe()
            else:
                after['%s default route' % name] = current.describe() if current else None
                if recorded is None:
                    continue
                del new_record['default_route'][key]
                if current is None or current.gateway != recorded.get('gateway'):
                    warnings.append('The %s default route is no longer the one rs_nat_route set (via %s); left as it is.'
                                    % (name, recorded.get('gateway')))
                    continue
                replaced = recorded.get('replaced')
                if replaced:
                    route = Route.from_record(replaced)
                    add('route_replace', route, 'put back the %s default route %s' % (name, route.describe()))
                    after['%s default route' % name] = route.describe()
                else:
                    add('route_del', current, 'remove the %s default route %s' % (name, current.describe()))
                    after['%s default route' % name] = None
        else:
            recorded_policy = new_record['policy'].get(key)
            places = []  # (table, priority) whose route and rules the module owns and looks at
            if recorded_policy:
                places.append((int(recorded_policy['table']), int(recorded_policy['priority'])))
            if request.state == 'present' and (request.table, request.priority) not in places:
                places.append((request.table, request.priority))
            rules_at = {(table, priority): sorted(rule for rule in live.rules if rule.family == family
                                                  and rule.priority == priority and rule.table == table)
                        for table, priority in places}
            wanted_rules = [rule for rule in request.rules if rule.family == family] if request.state == 'present' else []
            if request.state == 'present' and not request.purge:
                # Keep the rules already there, at the requested table and priority: added there before
                # those of an earlier table or priority go, through the requested gateway.
                wanted_rules = sorted(set(wanted_rules) | {
                    dataclasses.replace(rule, table=request.table, priority=request.priority)
                    for place_rules in rules_at.values() for rule in place_rules})
            kept_rules.extend(wanted_rules)
            for table, priority in places:
                table_routes = _table_defaults(live, family, table)
                label = '%s table %d default route' % (name, table)
                live_rules = rules_at[(table, priority)]
                keep = request.state == 'present' and (table, priority) == (request.table, request.priority)
                # Only the priority moved: the table and its route stay, for the rules at the new priority.
                table_stays = not keep and request.state == 'present' and table == request.table
                if not table_stays:
                    before[label] = sorted(route.describe() for route in table_routes) or None
                before['%s rules at priority %d' % (name, priority)] = [rule.describe() for rule in live_rules]
                after['%s rules at priority %d' % (name, priority)] = [rule.describe() for rule in wanted_rules] if keep else []
                if keep:
                    wanted = Route(family, table, request.gateway, DEFAULT_METRIC[family])
                    if [(r.gateway, r.metric) for r in table_routes] != [(wanted.gateway, wanted.metric)]:
                        for route in table_routes:
                            if route.metric != wanted.metric:
                                add('route_del', route, 'remove %s' % route.describe())
                        add('route_replace', wanted, 'set %s' % wanted.describe())
                        after[label] = [wanted.describe()]
                    else:
                        after[label] = before[label]
                elif not table_stays:
                    for route in table_routes:
                        add('route_del', route, 'remove %s' % route.describe())
                    after[label] = None
                for rule in live_rules:
                    if not keep or rule not in wanted_rules:
                        add('rule_del', rule, 'remove rule %s' % rule.describe())
                if keep:
                    for rule in wanted_rules:
                        if rule not in live_rules:
                            add('rule_add', rule, 'add rule %s' % rule.describe())
            if request.state == 'present':
                new_record['policy'][key] = {'table': request.table, 'priority': request.priority}
            else:
                new_record['policy'].pop(key, None)
    # Rules go before the table's route when added, after it when removed, so that no
    # rule ever points to an empty table.
    order = {'route_replace': 0, 'rule_add': 1, 'rule_del': 2, 'route_del': 3}
    operations.sort(key=lambda op: order[op.kind])
    return Plan(operations=operations, record=new_record, before=before, after=after, warnings=warnings, rules=kept_rules)


def boot_commands(request, live, rules=None):
    """The ``ip`` commands that set the request up on a host that has none of it (a freshly booted one).

    ``rules``: the policy rules the module keeps (``Plan.rules``); they differ from the
    request's with ``purge=false``, which keeps rules the request does not list."""
    if request.state != 'present':
        return []
    if rules is not None:
        request = dataclasses.replace(request, rules=tuple(sorted(rules)))
    empty = NatLive(routes=[], rules=[], networks=list(live.networks))
    return [op.command for op in plan(request, empty, empty_record()).operations]


def run_rs_nat_route(params, host, check_mode):
    """Read, plan, apply unless in check mode, read back; returns the module result."""
    request = normalise_request(params)
    want_commands = bool(params.get('return_commands'))
    try:
        host.lock(create=not check_mode)
        record = load_record(host.read_record())
        live = host.read_nat_state(request.families)
        first = plan(request, live, record)
        result = {
            'changed': first.changed,
            'state': request.state,
            'mode': request.mode,
            'gateway': request.gateway,
            'operations': [op.command for op in first.operations],
            'warnings': list(first.warnings),
            'diff': {'before': first.before, 'after': first.after},
        }
        if want_commands:
            result['commands'] = boot_commands(request, live, first.rules)
        if request.mode == 'policy':
            result['table'] = request.table
            result['priority'] = request.priority
            result['rules'] = [rule.describe() for rule in first.rules]
        if check_mode:
            return result
        if first.record != record:
            host.write_record(first.record)
        final, _extra = converge(first, lambda current: plan(request, host.read_nat_state(request.families), current),
                                 host.apply_nat, host.write_record)
        result['diff']['after'] = dict(first.after, **{k: v for k, v in final.before.items() if k in first.after})
        return result
    finally:
        host.close()
