# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine every IPVS module runs on: kernel access, apply, read back, verify.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

A module's flow (see table.py, service.py, real.py, info.py) validates the
whole request, reads the live table through a ``Session``, plans, and hands
the operations to ``execute``: applied unless in check mode (batched, undone
if the kernel refuses part of it), read back, and compared with what was
sent, so that an attribute the kernel ignored is reported.  Check mode takes
the same path and predicts the result with ``simulate`` instead of sending
changes.  ``run`` is the one entry point of every IPVS module.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError, run_module
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import netlink
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import (
    REAL_SERVER_FIELDS,
    SERVICE_FIELDS,
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
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.plan import (
    ADD_REAL_SERVER,
    ADD_SERVICE,
    DELETE_REAL_SERVER,
    DELETE_SERVICE,
    EDIT_REAL_SERVER,
    EDIT_SERVICE,
    describe_operation,
    format_operation,
    format_operations,
    inverse,
    simulate,
    touched_keys,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import persistence_engine_module, scheduler_module

# Tests replace this to run the modules against a simulated kernel.
open_socket = netlink.IpvsSocket.open

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
                needed.add(scheduler_module(operation.service['scheduler']))
                if operation.service['persistence_engine']:
                    needed.add(persistence_engine_module(operation.service['persistence_engine']))
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
        return ("the kernel has no scheduler %s%s: load it with 'modprobe %s'%s"
                % (service['scheduler'], ' or persistence engine %s' % engine if engine else '',
                   scheduler_module(service['scheduler']),
                   " and 'modprobe %s'" % persistence_engine_module(engine) if engine else ''))
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


def finish(module, session, operations, before, after, extra=None):
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


def run(module, flow):
    """Run an IPVS module's flow, ``flow(module, session)``, on one session."""
    def work():
        session = Session(module)
        try:
            return flow(module, session)
        finally:
            session.close()
    run_module(module, work)


def execute(session, operations, current):
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
