# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan the smallest list of IPVS operations from the current and the desired table.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Pure functions over normalised services (see ``model``).  A table is a
dict mapping ``service_key(service)`` to a service whose ``real_servers`` is a
list.  Whatever the kernel can change in place is changed in place: a
scheduler, its flags, persistence, one-packet scheduling and the persistence
engine by editing the service; weight, thresholds, forwarding method and
tunnel options by editing the real server.  Only a new key (address,
protocol, port, fwmark, family) means a new object.
"""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    REAL_SERVER_FIELDS,
    SERVICE_FIELDS,
    hostport,
    real_server_key,
    real_server_label,
    real_server_sort_key,
    service_key,
    service_label,
    sort_key,
)

ADD_SERVICE = 'add_service'
EDIT_SERVICE = 'edit_service'
DELETE_SERVICE = 'delete_service'
ADD_REAL_SERVER = 'add_real_server'
EDIT_REAL_SERVER = 'edit_real_server'
DELETE_REAL_SERVER = 'delete_real_server'


class Operation(object):
    """One netlink change request.

    ``service`` is the service the request names (its desired form for an
    add or edit, its current form for a delete); ``real_server`` likewise;
    ``before`` is the current form of an edited or deleted object, so that an
    operation can be undone."""

    __slots__ = ('kind', 'service', 'real_server', 'before', 'changes')

    def __init__(self, kind, service, real_server=None, before=None, changes=()):
        self.kind = kind
        self.service = service
        self.real_server = real_server
        self.before = before
        self.changes = tuple(changes)

    def __repr__(self):
        return 'Operation(%s)' % format_operation(self)

    def __eq__(self, other):
        return isinstance(other, Operation) and format_operation(self) == format_operation(other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(format_operation(self))


def service_changes(current, desired):
    """The service fields that differ (the key is assumed equal)."""
    return [field for field in SERVICE_FIELDS if current.get(field) != desired.get(field)]


def real_server_changes(current, desired):
    return [field for field in REAL_SERVER_FIELDS if current.get(field) != desired.get(field)]


def _service_only(service):
    """A copy of a service without its real servers (what an operation carries)."""
    result = dict(service)
    result['real_servers'] = None
    return result


def plan(current, desired, purge_services=False, in_purge_scope=None, exact_real_servers=False):
    """The operations that turn ``current`` into ``desired``.

    ``desired`` is a list of normalised services.  A service whose
    ``real_servers`` is None keeps its real servers as they are; otherwise the
    listed ones are added or edited and, with ``exact_real_servers``, the
    others are deleted.  With ``purge_services``, services absent from
    ``desired`` are deleted when ``in_purge_scope(service)`` says so (all of
    them when it is None).  Deletions come first, then each service in key
    order: its edit or addition, then its real servers."""
    operations = []
    wanted = dict((service_key(service), service) for service in desired)
    if purge_services:
        for key in sorted(current, key=sort_key):
            if key not in wanted and (in_purge_scope is None or in_purge_scope(current[key])):
                operations.append(Operation(DELETE_SERVICE, _service_only(current[key]), before=current[key]))
    for key in sorted(wanted, key=sort_key):
        service = wanted[key]
        existing = current.get(key)
        header = _service_only(service)
        if existing is None:
            operations.append(Operation(ADD_SERVICE, header))
            for real in service['real_servers'] or ():
                operations.append(Operation(ADD_REAL_SERVER, header, real))
            continue
        changes = service_changes(existing, service)
        if changes:
            operations.append(Operation(EDIT_SERVICE, header, before=_service_only(existing), changes=changes))
        if service['real_servers'] is None:
            continue
        existing_reals = dict((real_server_key(real), real) for real in existing.get('real_servers') or ())
        wanted_reals = dict((real_server_key(real), real) for real in service['real_servers'])
        if exact_real_servers:
            for real_key in sorted(existing_reals, key=lambda k: real_server_sort_key(existing_reals[k])):
                if real_key not in wanted_reals:
                    operations.append(Operation(DELETE_REAL_SERVER, header, existing_reals[real_key],
                                                before=existing_reals[real_key]))
        for real in service['real_servers']:
            old = existing_reals.get(real_server_key(real))
            if old is None:
                operations.append(Operation(ADD_REAL_SERVER, header, real))
            elif old != real:
                changes = real_server_changes(old, real)
                if changes:
                    operations.append(Operation(EDIT_REAL_SERVER, header, real, before=old, changes=changes))
    return operations


def simulate(current, operations):
    """The table the operations would leave (used to predict in check mode and
    to compute the diff); ``current`` is not modified."""
    table = dict((key, dict(service, real_servers=list(service.get('real_servers') or ())))
                 for key, service in current.items())
    reals = {}      # service key -> {real server key: real server}, for the services whose real servers change
    for operation in operations:
        key = service_key(operation.service)
        kind = operation.kind
        if kind == ADD_SERVICE:
            table[key] = dict(operation.service, real_servers=[])
            reals[key] = {}
        elif kind == EDIT_SERVICE:
            table[key] = dict(operation.service, real_servers=table[key]['real_servers'])
        elif kind == DELETE_SERVICE:
            table.pop(key, None)
            reals.pop(key, None)
        else:
            if key not in reals:
                reals[key] = dict((real_server_key(real), real) for real in table[key]['real_servers'])
            real_key = real_server_key(operation.real_server)
            if kind == DELETE_REAL_SERVER:
                reals[key].pop(real_key, None)
            else:
                reals[key][real_key] = operation.real_server
    for key, by_key in reals.items():
        table[key]['real_servers'] = sorted(by_key.values(), key=real_server_sort_key)
    return table


def inverse(operations):
    """The operations that undo ``operations`` (which took effect in order).

    A deleted real server or service comes back with its former settings;
    the kernel keeps deleted real servers in its trash for a while and
    revives them, connections included, when they are added back."""
    undo = []
    for operation in reversed(operations):
        kind = operation.kind
        if kind == ADD_SERVICE:
            undo.append(Operation(DELETE_SERVICE, operation.service, before=operation.service))
        elif kind == EDIT_SERVICE:
            undo.append(Operation(EDIT_SERVICE, operation.before, before=operation.service, changes=operation.changes))
        elif kind == DELETE_SERVICE:
            header = _service_only(operation.before)
            undo.append(Operation(ADD_SERVICE, header))
            for real in operation.before.get('real_servers') or ():
                undo.append(Operation(ADD_REAL_SERVER, header, real))
        elif kind == ADD_REAL_SERVER:
            undo.append(Operation(DELETE_REAL_SERVER, operation.service, operation.real_server,
                                  before=operation.real_server))
        elif kind == EDIT_REAL_SERVER:
            undo.append(Operation(EDIT_REAL_SERVER, operation.service, operation.before, before=operation.real_server,
                                  changes=operation.changes))
        elif kind == DELETE_REAL_SERVER:
            undo.append(Operation(ADD_REAL_SERVER, operation.service, operation.before))
    return undo


def split_for_drain(operations):
    """A plan as two batches, so that the real servers it removes are drained first.

    Returns ``(first, deletes, draining)``.  ``first`` holds every operation
    of the plan that is not a delete, in the plan's order, then an edit to
    weight 0 of each real server a delete removes, its own or its service's
    (none for one at weight 0 already): the additions come before the
    weight 0, so that a service never lacks a real server for a new
    connection in between.  ``deletes`` holds the deletes, real servers
    first, then services, each carrying the weight-0 form as ``before`` so
    that undoing a refused part of that batch restores the table as
    ``first`` left it.  ``draining`` lists ``(service, real server)`` for each
    real server removed, with its settings before the run (its weight among
    them).  A plan without deletes is ``(operations, [], [])``."""
    first = [operation for operation in operations if operation.kind not in (DELETE_REAL_SERVER, DELETE_SERVICE)]
    if len(first) == len(operations):
        return list(operations), [], []
    weight_zero = []
    real_deletes = []
    service_deletes = []
    draining = []

    def drained(service, real):
        draining.append((service, real))
        zero = dict(real, weight=0)
        if real['weight'] != 0:
            weight_zero.append(Operation(EDIT_REAL_SERVER, service, zero, before=real, changes=('weight',)))
        return zero
    for operation in operations:
        if operation.kind == DELETE_REAL_SERVER:
            zero = drained(operation.service, operation.real_server)
            real_deletes.append(Operation(DELETE_REAL_SERVER, operation.service, zero, before=zero))
    for operation in operations:
        if operation.kind == DELETE_SERVICE:
            zeroes = [drained(operation.service, real) for real in operation.before.get('real_servers') or ()]
            service_deletes.append(Operation(DELETE_SERVICE, operation.service,
                                             before=dict(operation.before, real_servers=zeroes)))
    return first + weight_zero, real_deletes + service_deletes, draining


def touched_keys(operations):
    keys = []
    seen = set()
    for operation in operations:
        key = service_key(operation.service)
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


# ---------------------------------------------------------------------------
# Presentation: each operation as the equivalent ipvsadm rule
# ---------------------------------------------------------------------------

_SERVICE_OPTION = {'tcp': '-t', 'udp': '-u', 'sctp': '--sctp-service'}
_FORWARDING_OPTION = {'nat': '-m', 'dr': '-g', 'tun': '-i'}
_COMMAND = {
    ADD_SERVICE: '-A', EDIT_SERVICE: '-E', DELETE_SERVICE: '-D',
    ADD_REAL_SERVER: '-a', EDIT_REAL_SERVER: '-e', DELETE_REAL_SERVER: '-d',
}


def _service_words(service):
    if service.get('fwmark'):
        words = ['-f', str(service['fwmark'])]
        if service['family'] == 'ipv6':
            words.append('-6')
        return words
    return [_SERVICE_OPTION[service['protocol']], hostport(service['vip'], service['port'])]


def format_operations(operations):
    """format_operation of each operation; the words naming a service are
    built once per service (a table's real servers share them)."""
    services = {}
    return [format_operation(operation, services) for operation in operations]


def format_operation(operation, services=None):
    """The operation in ipvsadm's rule syntax (as ``ipvsadm-save -n`` writes it),
    so that an LVS administrator reads it at a glance and could replay it.
    ``services`` caches the service words by key (see format_operations)."""
    if services is None:
        service_words = _service_words(operation.service)
    else:
        key = service_key(operation.service)
        service_words = services.get(key)
        if service_words is None:
            service_words = services[key] = _service_words(operation.service)
    words = [_COMMAND[operation.kind]] + service_words
    if operation.kind in (ADD_SERVICE, EDIT_SERVICE):
        service = operation.service
        words += ['-s', service['scheduler']]
        if service['scheduler_flags']:
            words += ['-b', ','.join(service['scheduler_flags'])]
        if service['persistence_timeout']:
            words += ['-p', str(service['persistence_timeout'])]
            netmask = service['persistence_netmask']
            host = 128 if service['family'] == 'ipv6' else 32
            if netmask != host:
                words += ['-M', _netmask_text(netmask, service['family'])]
        if service['one_packet']:
            words.append('-o')
        if service['persistence_engine']:
            words += ['--pe', service['persistence_engine']]
    elif operation.kind in (ADD_REAL_SERVER, EDIT_REAL_SERVER, DELETE_REAL_SERVER):
        real = operation.real_server
        words += ['-r', hostport(real['address'], real['port'])]
        if operation.kind != DELETE_REAL_SERVER:
            words += [_FORWARDING_OPTION.get(real['forwarding'], real['forwarding']), '-w', str(real['weight'])]
            if real['upper_threshold']:
                words += ['-x', str(real['upper_threshold'])]
            if real['lower_threshold']:
                words += ['-y', str(real['lower_threshold'])]
            if real['forwarding'] == 'tun':
                words += ['--tun-type', real['tunnel_type']]
                if real['tunnel_port']:
                    words += ['--tun-port', str(real['tunnel_port'])]
                if real['tunnel_checksum'] != 'nocsum':
                    words.append('--tun-%s' % real['tunnel_checksum'])
    return ' '.join(words)


_PROTOCOL_OF_OPTION = dict((option, protocol) for protocol, option in _SERVICE_OPTION.items())


def rule_service_key(rule):
    """The identity of the service an ``-A`` rule adds (the rules
    format_operation writes, or ``ipvsadm-save -n``), as options for
    ``normalise_service_key``; None for any other line (a real server, a
    comment, a blank line)."""
    words = rule.split()
    if len(words) < 3 or words[0] not in ('-A', '--add-service'):
        return None
    if words[1] in ('-f', '--fwmark-service'):
        family = 'ipv6' if '-6' in words[3:] or '--ipv6' in words[3:] else 'ipv4'
        return dict(fwmark=_integer(words[2], rule), family=family)
    protocol = _PROTOCOL_OF_OPTION.get(words[1]) or {
        '--tcp-service': 'tcp', '--udp-service': 'udp'}.get(words[1])
    if protocol is None:
        raise ValueError('%r: expected -t, -u, --sctp-service or -f after -A' % rule)
    host, separator, port = words[2].rpartition(':')
    if not separator:
        raise ValueError('%r: %r is not an address and port' % (rule, words[2]))
    return dict(vip=host[1:-1] if host.startswith('[') and host.endswith(']') else host,
                protocol=protocol, port=_integer(port, rule))


def _integer(text, rule):
    try:
        return int(text)
    except ValueError:
        raise ValueError('%r: %r is not a number' % (rule, text))


def _netmask_text(netmask, family):
    if family == 'ipv4' and isinstance(netmask, int):
        mask = (0xFFFFFFFF << (32 - netmask)) & 0xFFFFFFFF if netmask else 0
        return '%d.%d.%d.%d' % (mask >> 24, (mask >> 16) & 0xFF, (mask >> 8) & 0xFF, mask & 0xFF)
    return str(netmask)


def describe_operation(operation):
    """A sentence for error messages: 'add real server 10.0.0.1:80 to tcp 192.0.2.1:80'."""
    kind = operation.kind
    if kind in (ADD_SERVICE, EDIT_SERVICE, DELETE_SERVICE):
        return '%s service %s' % (kind.split('_')[0], service_label(operation.service))
    preposition = {'add': 'to', 'edit': 'of', 'delete': 'from'}[kind.split('_')[0]]
    return '%s real server %s %s %s' % (kind.split('_')[0], real_server_label(operation.real_server), preposition,
                                        service_label(operation.service))


def table_view(table, keys=None):
    """Services of a table as a sorted list (for results and diffs); ``keys``
    restricts it to those services."""
    chosen = table if keys is None else dict((key, table[key]) for key in keys if key in table)
    view = []
    for key in sorted(chosen, key=sort_key):
        service = _copy_entry(chosen[key])
        if service.get('real_servers'):
            service['real_servers'] = sorted((_copy_entry(real) for real in service['real_servers']),
                                             key=real_server_sort_key)
        view.append(service)
    return view


def _copy_entry(entry):
    """A copy of a service or real server dict whose nested lists and dicts
    (scheduler_flags, stats) are copies too; real_servers is left to the caller.
    copy.deepcopy does the same several times slower, which a table of
    thousands of real servers notices."""
    copied = dict(entry)
    for field, value in entry.items():
        if isinstance(value, dict):
            copied[field] = dict(value)
        elif isinstance(value, list) and field != 'real_servers':
            copied[field] = list(value)
    return copied
