# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and changing a real server's kernel state for the rs_vip module.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

It is the only place of the rs_vip code that touches the host: links and
addresses through rtnetlink (pyroute2's IPRoute), fou receive ports through
generic netlink, sysctls through /proc/sys, kernel modules through modprobe,
and the module's record file.  Everything it returns is plain data for the
pure planner in ``vip``.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import os
import socket
import tempfile
import traceback

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._common import run_module as common_run_module
from ansible_collections.lvs.ipvs.plugins.module_utils._pyroute2 import missing_message, preload
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.nat import NatLive, Route, Rule
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.vip import (
    DEVICE_MODULES,
    FOU_MODULE,
    LiveState,
    Link,
    sysctl_display,
)

try:
    preload('pyroute2.iproute', 'pyroute2.netlink', 'pyroute2.netlink.exceptions', 'pyroute2.netlink.generic')
    from pyroute2.iproute import IPRoute
    from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, genlmsg
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic import GenericNetlinkSocket
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
    IPRoute = GenericNetlinkSocket = genlmsg = None
    NLM_F_ACK = NLM_F_DUMP = NLM_F_REQUEST = 0

    class NetlinkError(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except NetlinkError`` works without pyroute2."""

        code = 0
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

RECORD_PATH = '/var/lib/lvs-ipvs/rs_vip.json'
NAT_RECORD_PATH = '/var/lib/lvs-ipvs/rs_nat_route.json'
PROC_SYS = '/proc/sys'
PROC_NET_ROUTE = '/proc/net/route'
PROC_MODULES = '/proc/modules'
SYS_MODULE = '/sys/module'
LIB_MODULES = '/lib/modules'

IPV4_SYSCTLS = ('arp_ignore', 'arp_announce', 'rp_filter')
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

FOU_GENL_NAME = 'fou'
FOU_GENL_VERSION = 1
FOU_CMD_ADD = 1
FOU_CMD_DEL = 2
FOU_CMD_GET = 3
FOU_ENCAP_GUE = 2


def run_module(module, run):
    """The end of rs_vip and rs_nat_route: fail without pyroute2, then the
    collection's one run_module (``run()`` returns the result)."""
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_message(), exception=PYROUTE2_IMPORT_ERROR)
    common_run_module(module, run)


def _fou_message_class():
    """The generic netlink message of the kernel's fou family (pyroute2 has none)."""

    class FouMessage(genlmsg):  # pylint: disable=too-few-public-methods
        prefix = 'FOU_ATTR_'
        nla_map = (
            ('FOU_ATTR_UNSPEC', 'none'),
            ('FOU_ATTR_PORT', 'be16'),
            ('FOU_ATTR_AF', 'uint8'),
            ('FOU_ATTR_IPPROTO', 'uint8'),
            ('FOU_ATTR_TYPE', 'uint8'),
            ('FOU_ATTR_REMCSUM_NOPARTIAL', 'flag'),
            ('FOU_ATTR_LOCAL_V4', 'ip4addr'),
            ('FOU_ATTR_LOCAL_V6', 'ip6addr'),
            ('FOU_ATTR_PEER_V4', 'ip4addr'),
            ('FOU_ATTR_PEER_V6', 'ip6addr'),
            ('FOU_ATTR_PEER_PORT', 'be16'),
            ('FOU_ATTR_IFINDEX', 'int32'),
        )

    return FouMessage


def _errno_text(exc):
    code = getattr(exc, 'code', None) or getattr(exc, 'errno', None)
    text = os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)
    if code in (errno.EPERM, errno.EACCES):
        text += ' (the module must run as root: use become)'
    return text


class Host:
    """The real server's kernel, as the rs_vip module sees it."""

    def __init__(self, run_command=None, get_bin_path=None, record_path=None, nat=False):
        self._run_command = run_command
        self._get_bin_path = get_bin_path
        self.record_path = record_path or (NAT_RECORD_PATH if nat else RECORD_PATH)
        self._ipr = None
        self._fou = None
        self._lock_file = None

    # -- sessions

    def ipr(self):
        if self._ipr is None:
            self._ipr = IPRoute()
        return self._ipr

    def close(self):
        for sock in (self._ipr, self._fou):
            if sock is not None:
                sock.close()
        self._ipr = self._fou = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- the record of what the module manages

    def lock(self, create):
        """Serialise runs of the module on this host (several plays, several VIPs)."""
        directory = os.path.dirname(self.record_path)
        lock_path = self.record_path + '.lock'
        if not create and not os.path.exists(lock_path):
            return  # check mode on a host where the module never ran: nothing to protect, nothing to create
        os.makedirs(directory, mode=0o755, exist_ok=True)
        # pylint: disable-next=consider-using-with
        self._lock_file = open(lock_path, 'a+', encoding='utf-8')
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)

    def read_record(self):
        try:
            with open(self.record_path, encoding='utf-8') as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise LvsError('The rs_vip record %s is not valid JSON (%s); move it aside and run again.' % (self.record_path, exc))

    def write_record(self, record):
        directory = os.path.dirname(self.record_path)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix='.rs_vip.', dir=directory)
        try:
            with os.fdopen(handle, 'w', encoding='utf-8') as out:
                json.dump(record, out, indent=2, sort_keys=True)
                out.write('\n')
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.record_path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    # -- reading

    def read_state(self):
        state = LiveState()
        try:
            links = self.ipr().get_links()
            addresses = self.ipr().get_addr()
        except NetlinkError as exc:
            raise LvsError('Could not read the interfaces through netlink: %s.' % _errno_text(exc))
        names = {}
        for msg in links:
            name = msg.get_attr('IFLA_IFNAME')
            info = msg.get_attr('IFLA_LINKINFO')
            kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
            flags = msg['flags']
            state.links[name] = Link(name=name, index=msg['index'], kind=kind, up=bool(flags & IFF_UP), loopback=bool(flags & IFF_LOOPBACK))
            names[msg['index']] = name
        for msg in addresses:
            name = names.get(msg['index'])
            address = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
            if name is None or address is None:
                continue
            canonical = '%s/%d' % (ipaddress.ip_address(address), msg['prefixlen'])
            state.addresses.setdefault(name, set()).add(canonical)
        state.sysctls = self.read_sysctls()
        state.default_route_interface = self.read_default_route_interface()
        state.ipv6 = os.path.isdir(os.path.join(PROC_SYS, 'net', 'ipv6'))
        state.udev = bool(self._get_bin_path and self._get_bin_path('udevadm'))
        state.modules = {name for name in (FOU_MODULE,) + tuple(DEVICE_MODULES.values()) if self.module_present(name)}
        if FOU_MODULE in state.modules:
            state.fou_ports = self.read_fou_ports()
        return state

    @staticmethod
    def read_sysctls():
        values = {}
        base = os.path.join(PROC_SYS, 'net', 'ipv4', 'conf')
        try:
            devices = os.listdir(base)
        except OSError:
            return values
        for device in devices:
            for name in IPV4_SYSCTLS:
                try:
                    with open(os.path.join(base, device, name), encoding='ascii') as handle:
                        values['%s/%s' % (device, name)] = int(handle.read().strip())
                except (OSError, ValueError):
                    continue
        return values

    @staticmethod
    def read_default_route_interface():
        """The interface of the IPv4 default route of the main table (lowest metric)."""
        best = None
        try:
            with open(PROC_NET_ROUTE, encoding='ascii') as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if len(fields) < 8:
                continue
            device, destination, flags, metric, mask = fields[0], fields[1], int(fields[3], 16), int(fields[6]), fields[7]
            if destination == '00000000' and mask == '00000000' and flags & 0x1:
                if best is None or metric < best[0]:
                    best = (metric, device)
        return best[1] if best else None

    @staticmethod
    def module_present(name):
        """Whether a kernel module is loaded or built in."""
        if os.path.isdir(os.path.join(SYS_MODULE, name)):
            return True
        if not os.path.exists(PROC_MODULES):
            return True  # a kernel without loadable modules: what it has is built in
        try:
            release = os.uname().release
            with open(os.path.join(LIB_MODULES, release, 'modules.builtin'), encoding='utf-8') as handle:
                return any(os.path.basename(line.strip()) == name + '.ko' for line in handle)
        except OSError:
            return False

    def fou(self):
        if self._fou is None:
            sock = GenericNetlinkSocket()
            try:
                sock.bind(FOU_GENL_NAME, _fou_message_class())
            except NetlinkError as exc:
                sock.close()
                if exc.code == errno.ENOENT:
                    return None
                raise LvsError('Could not reach the kernel fou family: %s.' % _errno_text(exc))
            self._fou = sock
        return self._fou

    def _fou_request(self, command, flags, attrs):
        sock = self.fou()
        if sock is None:
            raise LvsError('The kernel has no fou support (module fou), which GUE tunnels need.')
        msg = _fou_message_class()()
        msg['cmd'] = command
        msg['version'] = FOU_GENL_VERSION
        msg['attrs'] = attrs
        return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=flags))

    def read_fou_ports(self):
        if self.fou() is None:
            return {}
        try:
            messages = self._fou_request(FOU_CMD_GET, NLM_F_REQUEST | NLM_F_DUMP, [])
        except NetlinkError as exc:
            raise LvsError('Could not list the fou ports: %s.' % _errno_text(exc))
        ports = {}
        for msg in messages:
            port = msg.get_attr('FOU_ATTR_PORT')
            if port is None:
                continue
            family = 6 if msg.get_attr('FOU_ATTR_AF') == socket.AF_INET6 else 4
            ports[(family, port)] = msg.get_attr('FOU_ATTR_TYPE')
        return ports

    # -- changing

    def _index(self, name):
        found = self.ipr().link_lookup(ifname=name)
        if not found:
            raise LvsError('The device %s has disappeared while the module was working; run again.' % name)
        return found[0]

    def apply(self, op):
        """Carry out one planned Operation."""
        try:
            getattr(self, '_apply_' + op.kind)(op)
        except NetlinkError as exc:
            raise LvsError('Could not %s: %s.' % (op.text, _errno_text(exc)))
        except OSError as exc:
            raise LvsError('Could not %s: %s.' % (op.text, _errno_text(exc)))

    def _apply_module(self, op):
        modprobe = self._get_bin_path('modprobe') if self._get_bin_path else None
        if modprobe is None:
            raise LvsError('Could not %s: modprobe is not installed (package kmod).' % op.text)
        rc, _out, err = self._run_command([modprobe, '--', op.target])
        if rc != 0:
            raise LvsError('Could not %s: modprobe said: %s' % (op.text, err.strip() or 'exit code %d' % rc))
        device = op.extra
        if device and not self.ipr().link_lookup(ifname=device):
            raise LvsError(
                'Kernel module %s is loaded but %s does not exist. In a network namespace other than the first, '
                'the kernel creates no fallback tunnel devices when net.core.fb_tunnels_only_for_init_net is 1 or 2.'
                % (op.target, device)
            )

    def _apply_settle(self, op):
        """Wait until udev has handled the devices just made (it may apply sysctl.d files to them)."""
        udevadm = self._get_bin_path('udevadm') if self._get_bin_path else None
        if udevadm is None:
            return  # no udev: nothing acts on new devices behind the module's back
        rc, _out, err = self._run_command([udevadm, 'settle'])
        if rc != 0:
            raise LvsError('Could not %s: udevadm settle said: %s' % (op.text, err.strip() or 'exit code %d' % rc))

    def _apply_link_add(self, op):
        self.ipr().link('add', ifname=op.target, kind=op.value)

    def _apply_link_del(self, op):
        self.ipr().link('del', index=self._index(op.target))

    def _apply_link_up(self, op):
        self.ipr().link('set', index=self._index(op.target), state='up')

    def _apply_link_down(self, op):
        self.ipr().link('set', index=self._index(op.target), state='down')

    def _address(self, command, op):
        iface = ipaddress.ip_interface(op.value)
        self.ipr().addr(command, index=self._index(op.target), address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def _apply_addr_add(self, op):
        self._address('add', op)

    def _apply_addr_del(self, op):
        self._address('del', op)

    def _apply_sysctl(self, op):
        device, name = op.target.rsplit('/', 1)
        path = os.path.join(PROC_SYS, 'net', 'ipv4', 'conf', device, name)
        if not os.path.exists(path):
            raise LvsError('Could not set %s: %s does not exist.' % (sysctl_display(op.target), path))
        with open(path, 'w', encoding='ascii') as handle:
            handle.write('%d\n' % op.value)

    def _fou_attrs(self, op):
        family, port = op.value
        return [('FOU_ATTR_PORT', port), ('FOU_ATTR_AF', socket.AF_INET6 if family == 6 else socket.AF_INET)]

    def _apply_fou_add(self, op):
        self._fou_request(FOU_CMD_ADD, NLM_F_REQUEST | NLM_F_ACK, self._fou_attrs(op) + [('FOU_ATTR_TYPE', FOU_ENCAP_GUE)])

    def _apply_fou_del(self, op):
        self._fou_request(FOU_CMD_DEL, NLM_F_REQUEST | NLM_F_ACK, self._fou_attrs(op))

    # -- routes and rules (rs_nat_route)

    def read_nat_state(self, families):
        state = NatLive()
        try:
            links = self.ipr().get_links()
            names = {msg['index']: msg.get_attr('IFLA_IFNAME') for msg in links}
            for msg in self.ipr().get_addr():
                address = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
                if address:
                    state.networks.append(ipaddress.ip_interface('%s/%d' % (address, msg['prefixlen'])))
            for family in families:
                af = socket.AF_INET if family == 4 else socket.AF_INET6
                for msg in self.ipr().get_routes(family=af):
                    if msg['dst_len'] != 0 or msg['type'] != 1:  # default routes of type unicast
                        continue
                    table = msg.get_attr('RTA_TABLE') or msg['table']
                    state.routes.append(Route(
                        family=family, table=table, gateway=msg.get_attr('RTA_GATEWAY'),
                        metric=msg.get_attr('RTA_PRIORITY') or 0, device=names.get(msg.get_attr('RTA_OIF'))))
                for msg in self.ipr().get_rules(family=af):
                    source = msg.get_attr('FRA_SRC')
                    port = None
                    sport = msg.get_attr('FRA_SPORT_RANGE')
                    if sport:
                        first, last = (int(x) for x in str(sport).split(':'))
                        port = first if first == last else None
                    state.rules.append(Rule(
                        family=family, priority=msg.get_attr('FRA_PRIORITY') or 0, table=msg.get_attr('FRA_TABLE') or msg['table'],
                        source='%s/%d' % (source, msg['src_len']) if source else None,
                        protocol=msg.get_attr('FRA_IP_PROTO'), port=port))
        except NetlinkError as exc:
            raise LvsError('Could not read the routes through netlink: %s.' % _errno_text(exc))
        return state

    def apply_nat(self, op):
        """Carry out one planned rs_nat_route Operation."""
        item = op.item
        af = socket.AF_INET if item.family == 4 else socket.AF_INET6
        try:
            if op.kind in ('route_replace', 'route_del'):
                args = dict(family=af, dst='0.0.0.0' if item.family == 4 else '::', dst_len=0, table=item.table, priority=item.metric)
                if item.gateway:
                    args['gateway'] = item.gateway
                if item.device and op.kind == 'route_replace':
                    args['oif'] = self._index(item.device)
                self.ipr().route('replace' if op.kind == 'route_replace' else 'del', **args)
            else:
                args = dict(family=af, priority=item.priority, table=item.table)
                if item.source:
                    address, length = item.source.split('/')
                    args.update(src=address, src_len=int(length))
                if item.protocol is not None:
                    args['ip_proto'] = item.protocol
                if item.port is not None:
                    args['sport_range'] = '%d:%d' % (item.port, item.port)
                self.ipr().rule('add' if op.kind == 'rule_add' else 'del', **args)
        except NetlinkError as exc:
            text = _errno_text(exc)
            if getattr(exc, 'code', None) == errno.ENETUNREACH:
                text += ' (the gateway must be on a network of this host)'
            raise LvsError('Could not %s: %s.' % (op.text, text))
