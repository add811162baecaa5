# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the IPVS modules share: argument specs and the one flow they all run.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

The flow: validate the whole request -> read the live table -> plan ->
apply unless in check mode (batched, undone if the kernel refuses part of
it) -> read back what was touched -> report an attribute the kernel ignored
-> return changed, operations, netlink_requests and the diff.  Check mode
takes the same path and predicts the result with ``simulate`` instead of
sending changes.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import time

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs_netlink as netlink
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs_model import (
    FAMILIES,
    FORWARDING,
    PERSISTENCE_ENGINES,
    REAL_SERVER_FIELDS,
    SCHEDULER_FLAGS,
    SCHEDULERS,
    SERVICE_FIELDS,
    TUNNEL_CHECKSUMS,
    TUNNEL_TYPES,
    check_unique_services,
    normalise_real_server,
    normalise_real_server_key,
    normalise_service,
    normalise_service_key,
    raise_errors,
    real_server_from_kernel,
    real_server_key,
    real_server_key_to_kernel,
    real_server_label,
    real_server_sort_key,
    real_server_to_kernel,
    service_from_kernel,
    service_key,
    service_key_to_kernel,
    service_label,
    service_to_kernel,
    stats_from_kernel,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs_plan import (
    ADD_REAL_SERVER,
    ADD_SERVICE,
    DELETE_REAL_SERVER,
    DELETE_SERVICE,
    EDIT_REAL_SERVER,
    EDIT_SERVICE,
    Operation,
    describe_operation,
    format_operation,
    format_operations,
    inverse,
    plan,
    simulate,
    table_view,
    touched_keys,
)

# ---------------------------------------------------------------------------
# Argument specs (documented in each module; shared so that the options mean
# the same everywhere)
# ---------------------------------------------------------------------------


def real_server_options():
    """The options of one entry of ``real_servers``."""
    return dict(
        address=dict(type='str', required=True),
        port=dict(type='int'),
        weight=dict(type='int', default=1),
        forwarding=dict(type='str', choices=sorted(FORWARDING)),
        upper_threshold=dict(type='int', default=0),
        lower_threshold=dict(type='int', default=0),
        tunnel_type=dict(type='str', choices=sorted(TUNNEL_TYPES)),
        tunnel_port=dict(type='int'),
        tunnel_checksum=dict(type='str', choices=sorted(TUNNEL_CHECKSUMS)),
    )


REAL_SERVER_RULES = dict(
    required_if=[('tunnel_type', 'gue', ('tunnel_port',))],
)


def service_key_options():
    return dict(
        vip=dict(type='str'),
        fwmark=dict(type='int'),
        protocol=dict(type='str', choices=['sctp', 'tcp', 'udp']),
        port=dict(type='int'),
        family=dict(type='str', choices=sorted(FAMILIES)),
    )


SERVICE_KEY_RULES = dict(
    mutually_exclusive=[('fwmark', 'vip'), ('fwmark', 'port'), ('fwmark', 'protocol')],
    required_one_of=[('vip', 'fwmark')],
    required_by={'vip': ('port',)},
)


def service_options():
    """The options of a virtual service (ipvs_service, an entry of ipvs_table's ``services``)."""
    options = service_key_options()
    options.update(
        scheduler=dict(type='str', default='wlc', choices=list(SCHEDULERS)),
        scheduler_flags=dict(type='list', elements='str', default=[], choices=sorted(SCHEDULER_FLAGS)),
        persistence_timeout=dict(type='int', default=0),
        persistence_netmask=dict(type='raw'),
        one_packet=dict(type='bool', default=False),
        persistence_engine=dict(type='str', choices=list(PERSISTENCE_ENGINES)),
        forwarding=dict(type='str', default='dr', choices=sorted(FORWARDING)),
        real_servers=dict(type='list', elements='dict', options=real_server_options(), **REAL_SERVER_RULES),
    )
    return options


def ipvs_service_spec():
    spec = service_options()
    spec['state'] = dict(type='str', default='present', choices=['absent', 'present'])
    return dict(argument_spec=spec, supports_check_mode=True, **SERVICE_KEY_RULES)


def ipvs_real_spec():
    spec = service_key_options()
    spec.update(
        address=dict(type='str', required=True),
        real_port=dict(type='int'),
        weight=dict(type='int', default=1),
        forwarding=dict(type='str', default='dr', choices=sorted(FORWARDING)),
        upper_threshold=dict(type='int', default=0),
        lower_threshold=dict(type='int', default=0),
        tunnel_type=dict(type='str', choices=sorted(TUNNEL_TYPES)),
        tunnel_port=dict(type='int'),
        tunnel_checksum=dict(type='str', choices=sorted(TUNNEL_CHECKSUMS)),
        state=dict(type='str', default='present', choices=['absent', 'drained', 'present']),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=300),
    )
    rules = dict(SERVICE_KEY_RULES)
    rules['required_if'] = REAL_SERVER_RULES['required_if']
    return dict(argument_spec=spec, supports_check_mode=True, **rules)


def ipvs_table_spec():
    entry = dict(type='list', elements='dict', default=[], options=service_options())
    entry.update(SERVICE_KEY_RULES)
    spec = dict(
        services=entry,
        purge=dict(type='bool', default=False),
        purge_scope=dict(type='dict', options=dict(
            vips=dict(type='list', elements='str', default=[]),
            fwmarks=dict(type='list', elements='int', default=[]),
        )),
    )
    return dict(argument_spec=spec, supports_check_mode=True)


def ipvs_info_spec():
    return dict(argument_spec=dict(statistics=dict(type='bool', default=True)), supports_check_mode=True)


# ---------------------------------------------------------------------------
# Kernel access
# ---------------------------------------------------------------------------

# Tests replace this to run the modules against a simulated kernel.
open_socket = netlink.IpvsSocket.open

# A table with more services and real servers than this is not echoed back in
# the result's ``invocation`` (see _short_invocation).
INVOCATION_ECHO_LIMIT = 200

# Up to this many touched services are read back whole after a run.
FULL_READ_BACK = 16


def _modules_dir():
    return '/lib/modules/%s' % os.uname()[2]


def load_kernel_module(module, name, dry_run=False):
    """Load a kernel module with modprobe unless it is loaded already.

    Returns None on success, or what went wrong.  ``dry_run`` (check mode)
    only checks that modprobe could load it."""
    if os.path.exists('/sys/module/%s' % name):
        return None
    modprobe = module.get_bin_path('modprobe', opt_dirs=['/sbin', '/usr/sbin'])
    if modprobe is None:
        return 'modprobe was not found'
    command = [modprobe] + (['--dry-run'] if dry_run else []) + [name]
    rc, out, err = module.run_command(command)
    if rc != 0:
        return (err or out or '').strip() or '%s exited with %d' % (' '.join(command), rc)
    return None


class Session(object):
    """One module run: the module, the netlink socket, the counters."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        self.sock = None
        self.available = True
        self.warnings = []

    # -- connection ---------------------------------------------------------

    def connect(self, load=True):
        """Open the IPVS socket.  When ip_vs is not loaded: load it (not in
        check mode, nor when ``load`` is False, where the table is then taken
        to be empty)."""
        try:
            self.sock = open_socket()
            return
        except netlink.IpvsUnavailable:
            pass
        if not load or self.check_mode:
            problem = load_kernel_module(self.module, 'ip_vs', dry_run=True) if load else None
            if problem:
                raise LvsError("IPVS is not available: the ip_vs kernel module is not loaded and cannot be loaded "
                               "(%s); install the kernel's IPVS modules or load it with 'modprobe ip_vs'" % problem)
            self.available = False
            return
        problem = load_kernel_module(self.module, 'ip_vs')
        try:
            self.sock = open_socket()
        except netlink.IpvsUnavailable:
            raise LvsError("IPVS is not available: the ip_vs kernel module is not loaded and 'modprobe ip_vs' "
                           "failed (%s); install the kernel's IPVS modules or use a kernel built with CONFIG_IP_VS"
                           % (problem or 'the module loaded but the IPVS netlink family is still missing'))

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def requests(self):
        return self.sock.requests if self.sock is not None else 0

    # -- reading ------------------------------------------------------------

    def read_services(self, with_stats=False):
        """Every service (without real servers) by key."""
        if self.sock is None:
            return {}
        services = {}
        for raw in self.sock.dump_services(with_stats=with_stats):
            service = service_from_kernel(raw)
            if with_stats:
                service['stats'] = stats_from_kernel(raw.get('stats', {}))
            services[service_key(service)] = service
        return services

    def read_service(self, service, with_real_servers=True, with_counters=False):
        """One service by key with its real servers, or None."""
        if self.sock is None:
            return None
        raw = self.sock.get_service(service_key_to_kernel(service))
        if raw is None:
            return None
        current = service_from_kernel(raw)
        if with_real_servers:
            self.read_real_servers(current, with_counters=with_counters)
        return current

    def read_back(self, operations, predicted):
        """The touched services as the kernel holds them after ``operations``
        were acknowledged.

        One or a few services are read back whole.  For many, every service
        is read (one dump) but real servers only where the kernel may have
        dropped something without an error: the tunnel options (Linux before
        5.2) and the address family of a real server of the other family
        (before 3.18).  Every other attribute either takes effect or is
        refused, and each request was acknowledged, so the real servers of
        the other services are as ``predicted``."""
        keys = touched_keys(operations)
        if len(keys) <= FULL_READ_BACK:
            after = {}
            for key in keys:
                found = self.read_service(next(op.service for op in operations if service_key(op.service) == key))
                if found is not None:
                    after[key] = found
            return after
        doubtful = set()
        for operation in operations:
            real = operation.real_server
            if operation.kind in (ADD_REAL_SERVER, EDIT_REAL_SERVER) and (
                    real['forwarding'] == 'tun' or (':' in real['address']) != (operation.service['family'] == 'ipv6')):
                doubtful.add(service_key(operation.service))
        wanted = set(keys)
        after = dict((key, service) for key, service in self.read_services().items() if key in wanted)
        for key, service in after.items():
            if key in doubtful or key not in predicted:
                self.read_real_servers(service, sort=False)
            else:
                service['real_servers'] = predicted[key]['real_servers']
        return after

    def read_real_servers(self, service, with_counters=False, with_stats=False, sort=True):
        raws = self.sock.dump_dests(service_key_to_kernel(service), with_stats=with_stats)
        reals = []
        for raw in raws:
            real = real_server_from_kernel(raw, with_counters=with_counters or with_stats)
            if with_stats:
                real['stats'] = stats_from_kernel(raw.get('stats', {}))
            reals.append(real)
        service['real_servers'] = sorted(reals, key=real_server_sort_key) if sort else reals
        return service

    # -- applying -----------------------------------------------------------

    def preflight(self, operations):
        """Load the scheduler and persistence engine modules the operations
        need.  A module that modprobe cannot find on a system that has kernel
        modules is an error before any change; without /lib/modules the
        kernel may have it built in and decides itself."""
        needed = set()
        for operation in operations:
            if operation.kind in (ADD_SERVICE, EDIT_SERVICE):
                needed.add('ip_vs_%s' % operation.service['scheduler'])
                if operation.service['persistence_engine']:
                    needed.add('ip_vs_pe_%s' % operation.service['persistence_engine'])
        if not needed or (self.sock is None and not self.check_mode):
            return
        have_modules = os.path.isdir(_modules_dir())
        for name in sorted(needed):
            problem = load_kernel_module(self.module, name, dry_run=self.check_mode)
            if problem and have_modules:
                raise LvsError("the kernel module %s is needed and cannot be loaded (%s): install it or load it with "
                               "'modprobe %s'; nothing was changed" % (name, problem, name))

    def apply(self, operations):
        """Send the operations.  If the kernel refuses any, undo those that
        took effect and raise, so that a failed run leaves the table as it
        was."""
        failures = self.sock.execute(_requests(operations))
        if not failures:
            return
        refused = dict(failures)
        problems = ['%s (%s): %s' % (describe_operation(operations[index]), format_operation(operations[index]),
                                     explain_errno(operations[index], code))
                    for index, code in failures]
        done = [operation for index, operation in enumerate(operations) if index not in refused]
        undo = inverse(done)
        undo_failures = self.sock.execute(_requests(undo)) if undo else []
        if undo_failures:
            outcome = ('%d of the %d other operations took effect and could not all be undone (%s): the table is '
                       'now partly changed' % (len(done), len(operations) - len(refused), '; '.join(
                           '%s: %s' % (describe_operation(undo[index]), explain_errno(undo[index], code))
                           for index, code in undo_failures)))
        elif done:
            outcome = 'the %d operations that had taken effect were undone: the table is as it was' % len(done)
        else:
            outcome = 'nothing was changed'
        raise LvsError('the kernel refused %d of %d IPVS operations: %s; %s'
                       % (len(refused), len(operations), '; '.join(problems[:10])
                          + ('; ...' if len(problems) > 10 else ''), outcome))

    def verify(self, operations, after):
        """Compare what the kernel holds after the run with what was sent, and
        raise for anything it ignored (an old kernel drops attributes it does
        not know without an error)."""
        problems = []
        for operation in operations:
            key = service_key(operation.service)
            service = after.get(key)
            if operation.kind == DELETE_SERVICE:
                if service is not None:
                    problems.append('%s is still there after it was deleted' % service_label(operation.service))
                continue
            if service is None:
                problems.append('%s is missing after the run' % service_label(operation.service))
                continue
            if operation.kind in (ADD_SERVICE, EDIT_SERVICE):
                for field in SERVICE_FIELDS:
                    if service[field] != operation.service[field]:
                        problems.append('%s: %s is %r in the kernel, not %r as sent'
                                        % (service_label(service), field, service[field], operation.service[field]))
                continue
            reals = dict((real_server_key(real), real) for real in service['real_servers'])
            real = reals.get(real_server_key(operation.real_server))
            if operation.kind == DELETE_REAL_SERVER:
                if real is not None:
                    problems.append('%s: real server %s is still there after it was deleted'
                                    % (service_label(service), real_server_label(real)))
            elif real is None:
                problems.append('%s: real server %s is missing after the run'
                                % (service_label(service), real_server_label(operation.real_server)))
            else:
                for field in REAL_SERVER_FIELDS:
                    if real[field] != operation.real_server[field]:
                        problems.append('%s: real server %s: %s is %r in the kernel, not %r as sent'
                                        % (service_label(service), real_server_label(real), field, real[field],
                                           operation.real_server[field]))
        if problems:
            raise LvsError('the kernel did not take everything it was sent (an older kernel ignores attributes it '
                           'does not know, such as tunnel types before Linux 5.2): %s' % '; '.join(problems[:10]))


def _requests(operations):
    """The netlink payloads of the operations (each service key packed once)."""
    keys = {}
    requests = []
    for operation in operations:
        kind = operation.kind
        service = operation.service
        if kind == ADD_SERVICE:
            requests.append(netlink.service_request(netlink.CMD_NEW_SERVICE, service_to_kernel(service)))
        elif kind == EDIT_SERVICE:
            requests.append(netlink.service_request(netlink.CMD_SET_SERVICE, service_to_kernel(service)))
        elif kind == DELETE_SERVICE:
            requests.append(netlink.service_request(netlink.CMD_DEL_SERVICE, service_key_to_kernel(service)))
        else:
            key = service_key(service)
            nest = keys.get(key)
            if nest is None:
                nest = keys[key] = netlink.encode_service_key(service_key_to_kernel(service))
            if kind == DELETE_REAL_SERVER:
                requests.append(netlink.dest_request(netlink.CMD_DEL_DEST, nest,
                                                     real_server_key_to_kernel(operation.real_server)))
            else:
                command = netlink.CMD_NEW_DEST if kind == ADD_REAL_SERVER else netlink.CMD_SET_DEST
                requests.append(netlink.dest_request(command, nest, real_server_to_kernel(operation.real_server)))
    return requests


def explain_errno(operation, code):
    """What an error number means for an IPVS operation, in words a person can act on."""
    kind = operation.kind
    if code == errno.EEXIST:
        return 'it exists already (did another tool change the table meanwhile?)'
    if code == errno.ESRCH:
        return 'the service does not exist (did another tool change the table meanwhile?)'
    if code == errno.ENOENT and kind in (ADD_SERVICE, EDIT_SERVICE):
        service = operation.service
        engine = service['persistence_engine']
        return ("the kernel has no scheduler %s%s: load it with 'modprobe ip_vs_%s'%s"
                % (service['scheduler'], ' or persistence engine %s' % engine if engine else '',
                   service['scheduler'], " and 'modprobe ip_vs_pe_%s'" % engine if engine else ''))
    if code == errno.ENOENT:
        return 'the real server does not exist (did another tool change the table meanwhile?)'
    if code == errno.EINVAL and kind in (ADD_REAL_SERVER, EDIT_REAL_SERVER):
        return ('the kernel refused the real server: its address must be unicast from the director\'s point of '
                'view (not a broadcast address of one of its networks), and a real server of another address '
                'family needs tun forwarding and no running sync daemon')
    if code == errno.EINVAL:
        return 'the kernel refused the request as invalid'
    if code == errno.ERANGE:
        return 'the lower threshold is above the upper threshold or the weight is out of range'
    if code == errno.EAFNOSUPPORT:
        return 'the kernel does not support this address family (IPv6 disabled, or IPVS built without IPv6)'
    if code == errno.EPERM:
        return 'permission denied: managing IPVS needs root (become: true)'
    return os.strerror(code)


# ---------------------------------------------------------------------------
# The flows
# ---------------------------------------------------------------------------

def _finish(module, session, operations, before, after, extra=None):
    result = dict(
        changed=bool(operations),
        operations=format_operations(operations),
        netlink_requests=session.requests,
    )
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    if session.warnings:
        result['warnings'] = session.warnings
    if extra:
        result.update(extra)
    return result


def _run(module, flow):
    session = Session(module)
    try:
        result = flow(module, session)
    except LvsError as exc:
        module.fail_json(msg=str(exc))
    finally:
        session.close()
    module.exit_json(**result)


def _execute(session, operations, current):
    """Apply (or, in check mode, predict) and return the table afterwards,
    restricted to the services the operations touched."""
    keys = touched_keys(operations)
    predicted = simulate(dict((key, current[key]) for key in keys if key in current), operations)
    if session.check_mode or not operations:
        return predicted
    session.preflight(operations)
    session.apply(operations)
    after = session.read_back(operations, predicted)
    session.verify(operations, after)
    return after


# -- ipvs_table ---------------------------------------------------------------

def _purge_scope(scope):
    if not scope:
        return None
    networks = []
    errors = []
    for text in scope.get('vips') or ():
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            errors.append('purge_scope: %r is not an address or network' % text)
    raise_errors(errors)
    fwmarks = set(scope.get('fwmarks') or ())

    def in_scope(service):
        if service.get('fwmark'):
            return service['fwmark'] in fwmarks
        address = ipaddress.ip_address(service['vip'])
        return any(address.version == network.version and address in network for network in networks)
    return in_scope


def table_flow(module, session):
    params = module.params
    errors = []
    desired = []
    for entry in params['services']:
        service = normalise_service(entry, errors)
        if service.get('real_servers') is None:
            service['real_servers'] = []
        desired.append(service)
    check_unique_services([service for service in desired if service.get('family')], errors)
    raise_errors(errors)
    purge = params['purge']
    in_scope = _purge_scope(params.get('purge_scope'))

    session.connect()
    current = session.read_services()
    wanted = set(service_key(service) for service in desired)
    for key, service in current.items():
        if key in wanted or (purge and (in_scope is None or in_scope(service))):
            session.read_real_servers(service, sort=False)
    operations = plan(current, desired, purge_services=purge, in_purge_scope=in_scope, exact_real_servers=purge)
    # The diff's views are built only for --diff: a copy of every touched
    # service is a noticeable cost when a run builds thousands.
    before_keys = touched_keys(operations)
    before = dict(services=table_view(current, before_keys)) if module._diff else None
    after_table = _execute(session, operations, current)
    after = dict(services=table_view(after_table, before_keys)) if module._diff else None
    return _finish(module, session, operations, before, after, _short_invocation(params, desired))


def _short_invocation(params, desired):
    """The ``invocation`` of a large table without its services.

    Ansible echoes a module's arguments back in its result (shown at -vvv)
    and first walks the whole result for values to hide: for a table of
    thousands of real servers that is megabytes sent back over ssh and about
    a second of work, for a copy of what the playbook holds already."""
    real_servers = sum(len(service['real_servers']) for service in desired)
    if len(desired) + real_servers <= INVOCATION_ECHO_LIMIT:
        return None
    args = dict(params, services='%d services with %d real servers (not echoed back: more than %d entries)'
                % (len(desired), real_servers, INVOCATION_ECHO_LIMIT))
    return dict(invocation=dict(module_args=args))


# -- ipvs_service -------------------------------------------------------------

KEY_OPTIONS = ('vip', 'fwmark', 'protocol', 'port', 'family')


def service_flow(module, session):
    params = module.params
    state = params['state']
    errors = []
    if state == 'absent':
        service = normalise_service_key(params, errors)[0]
    else:
        service = normalise_service(params, errors)
    raise_errors(errors)

    session.connect(load=state == 'present')
    existing = session.read_service(service)
    current = {} if existing is None else {service_key(existing): existing}
    if state == 'absent':
        key = service_key(service)
        operations = plan(current, [], purge_services=True, in_purge_scope=lambda other: service_key(other) == key)
    else:
        operations = plan(current, [service], exact_real_servers=True)
    after_table = _execute(session, operations, current)
    after = after_table.get(service_key(service)) if operations else existing
    return _finish(module, session, operations, existing or {}, after or {}, dict(service=after or {}))


# -- ipvs_real ----------------------------------------------------------------

COUNTERS = ('active_connections', 'inactive_connections', 'persistent_connections')


def _real_params(params):
    return dict(address=params['address'], port=params['real_port'], weight=params['weight'],
                forwarding=params['forwarding'], upper_threshold=params['upper_threshold'],
                lower_threshold=params['lower_threshold'], tunnel_type=params['tunnel_type'],
                tunnel_port=params['tunnel_port'], tunnel_checksum=params['tunnel_checksum'])


def _find_real(service, real):
    if service is None:
        return None
    for candidate in service['real_servers']:
        if real_server_key(candidate) == real_server_key(real):
            return candidate
    return None


def _settings(real):
    """A real server without its connection counters (for diffs)."""
    if real is None:
        return {}
    return dict((field, value) for field, value in real.items() if field not in COUNTERS)


def real_flow(module, session):
    """present: the real server as given.  drained: weight 0, nothing else
    changed.  absent: removed (with ``wait``: drained first, then removed
    once its connections are gone)."""
    params = module.params
    state = params['state']
    wait = params['wait']
    errors = []
    service = normalise_service_key(params, errors)[0]
    if not errors:
        if state == 'present':
            wanted = normalise_real_server(_real_params(params), service, errors)
        else:
            wanted = normalise_real_server_key(_real_params(params), service, errors)
    if params['wait_timeout'] < 0:
        errors.append('wait_timeout must be 0 or more seconds, not %d' % params['wait_timeout'])
    raise_errors(errors)

    session.connect(load=state == 'present')
    existing = session.read_service(service, with_counters=True)
    if existing is None:
        if state == 'present':
            raise LvsError('%s does not exist: create it first with lvs.ipvs.ipvs_service or lvs.ipvs.ipvs_table'
                           % service_label(service))
        return _finish(module, session, [], {}, {}, dict(real_server={}))
    key = service_key(existing)
    current = {key: existing}
    current_real = _find_real(existing, wanted)

    operations = []
    if state == 'present':
        operations = plan(current, [dict(existing, real_servers=[wanted])])
    elif current_real is not None and (state == 'drained' or wait):
        operations = plan(current, [dict(existing, real_servers=[dict(current_real, weight=0)])])
    table = _execute(session, operations, current) if operations else current
    after_real = _find_real(table.get(key), wanted)

    extra = {}
    if wait and state != 'present' and current_real is not None and not session.check_mode:
        extra['connections'] = _wait_for_drain(session, existing, wanted, params['wait_timeout'])
    if state == 'absent' and after_real is not None:
        removal = [Operation(DELETE_REAL_SERVER, dict(existing, real_servers=None), after_real, before=after_real)]
        _execute(session, removal, table)
        operations = operations + removal
        after_real = None
    if after_real is not None and not session.check_mode and operations:
        # Read back with the connection counters for the result.
        after_real = _find_real(session.read_service(existing, with_counters=True), wanted)
    extra['real_server'] = after_real or {}
    return _finish(module, session, operations, _settings(current_real), _settings(after_real), extra)


def _wait_for_drain(session, service, real, timeout, interval=1.0):
    """Poll until the real server has no active and no inactive connection."""
    deadline = time.monotonic() + timeout
    while True:
        found = _find_real(session.read_service(service, with_counters=True), real)
        if found is None:
            return dict(active=0, inactive=0, persistent=0)
        counts = dict(active=found['active_connections'], inactive=found['inactive_connections'],
                      persistent=found['persistent_connections'])
        if counts['active'] == 0 and counts['inactive'] == 0:
            return counts
        if time.monotonic() >= deadline:
            raise LvsError('real server %s of %s still has %d active and %d inactive connections after %d seconds: '
                           'it is drained (weight 0) but %s' % (
                               real_server_label(real), service_label(service), counts['active'],
                               counts['inactive'], timeout,
                               'was not removed' if session.module.params['state'] == 'absent'
                               else 'its connections have not ended yet'))
        time.sleep(interval)


# -- ipvs_info ----------------------------------------------------------------

_DAEMON_STATES = {1: 'master', 2: 'backup'}


def info_flow(module, session):
    with_stats = module.params['statistics']
    session.connect(load=False)
    result = dict(changed=False, loaded=session.sock is not None, services=[], timeouts={}, sync_daemons=[],
                  version=None, connection_table_size=None)
    if session.sock is None:
        return result
    services = session.read_services(with_stats=with_stats)
    for service in services.values():
        session.read_real_servers(service, with_counters=True, with_stats=with_stats)
    result['services'] = table_view(services)
    result['timeouts'] = session.sock.get_config()
    result.update(session.sock.get_info())
    result['sync_daemons'] = [dict(
        state=_DAEMON_STATES.get(daemon.get('state'), daemon.get('state')),
        interface=daemon.get('mcast_ifn'),
        sync_id=daemon.get('sync_id'),
        max_length=daemon.get('sync_maxlen'),
        group=daemon.get('mcast_group'),
        port=daemon.get('mcast_port'),
        ttl=daemon.get('mcast_ttl'),
    ) for daemon in session.sock.dump_daemons()]
    return result


def run_table(module):
    _run(module, table_flow)


def run_service(module):
    _run(module, service_flow)


def run_real(module):
    _run(module, real_flow)


def run_info(module):
    _run(module, info_flow)
