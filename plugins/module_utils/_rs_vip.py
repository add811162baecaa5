# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""VIP, ARP and tunnel set-up on an LVS real server: the logic of the rs_vip module.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Everything here is pure (no kernel, no files): ``normalise_request`` checks and
canonicalises the module options, ``plan`` compares a snapshot of the host
(``LiveState``) and the module's record of what it manages with the request and
returns the operations to run, the new record, and the before/after views.
``run_rs_vip`` is the flow the module runs: read, plan, apply unless in check
mode, read back.

The model.  Every VIP the module manages is kept in a record on the host
(``/var/lib/lvs-ipvs/rs_vip.json``) with the host-wide settings (ARP sysctls,
the interface facing the director, rp_filter for tunnels).  From the record the
planner derives the *resources* the host needs: sysctl values, dummy devices,
devices that must be up, fou receive ports.  When the module changes a resource
it saves the value the resource had before; when no managed VIP needs the
resource any more, the saved value is put back.  So ``state=absent`` removes
what the module added and nothing else, even when several VIPs share a sysctl.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError

RECORD_VERSION = 1

FORWARDING_METHODS = ('dr', 'tun')
TUNNEL_TYPES = ('ipip', 'gue', 'gre')

# The kernel's fallback tunnel device that receives each kind of tunnel packet,
# by VIP address family, and the kernel module that creates it.
TUNNEL_DEVICES = {
    (4, 'ipip'): 'tunl0',
    (4, 'gue'): 'tunl0',
    (4, 'gre'): 'gre0',
    (6, 'ipip'): 'ip6tnl0',
    (6, 'gue'): 'ip6tnl0',
    (6, 'gre'): 'ip6gre0',
}
DEVICE_MODULES = {
    'tunl0': 'ipip',
    'gre0': 'ip_gre',
    'ip6tnl0': 'ip6_tunnel',
    'ip6gre0': 'ip6_gre',
}
FOU_MODULE = 'fou'
# Names that the kernel gives to devices of its own (fallback tunnels and their
# companions); a dummy device for DR must not take one of them.
RESERVED_DEVICE_NAMES = frozenset(['tunl0', 'gre0', 'gretap0', 'erspan0', 'ip6tnl0', 'ip6gre0', 'sit0', 'ip_vti0', 'ip6_vti0'])
# Sysctl directory names under net/ipv4/conf that are not interfaces.
SYSCTL_PSEUDO_DEVICES = ('all', 'default')

ARP_IGNORE_CHOICES = (1, 2, 8)
ARP_ANNOUNCE_CHOICES = (1, 2)
RP_FILTER_CHOICES = (0, 2)
DEFAULT_ARP_IGNORE = 1
DEFAULT_ARP_ANNOUNCE = 2
DEFAULT_RP_FILTER = 0
DEFAULT_DR_DEVICE = 'lo'

# Resources the module sets but never puts back: a loopback device that is down
# is a broken host, not a choice to respect.
NEVER_RESTORED = frozenset(['up:lo'])

FOU_ENCAP_DIRECT = 1
FOU_ENCAP_GUE = 2

_DEVICE_NAME = re.compile(r'^[^\s/:]{1,15}$')


# ---------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Vip:
    """One VIP as the module manages it (and stores it in the record)."""

    address: str  # canonical interface form: '192.0.2.10/32', '2001:db8::10/128'
    forwarding: str  # dr | tun
    device: str
    tunnel_type: str | None = None
    tunnel_port: int | None = None

    @property
    def family(self):
        return ipaddress.ip_interface(self.address).version

    def to_record(self):
        return {
            'forwarding': self.forwarding,
            'device': self.device,
            'tunnel_type': self.tunnel_type,
            'tunnel_port': self.tunnel_port,
        }

    @classmethod
    def from_record(cls, address, data):
        return cls(
            address=address,
            forwarding=data['forwarding'],
            device=data['device'],
            tunnel_type=data.get('tunnel_type'),
            tunnel_port=data.get('tunnel_port'),
        )

    def describe(self):
        out = {'vip': self.address, 'forwarding': self.forwarding, 'device': self.device}
        if self.forwarding == 'tun':
            out['tunnel_type'] = self.tunnel_type
            out['tunnel_port'] = self.tunnel_port
        return out


@dataclass(frozen=True)
class Settings:
    """Host-wide settings shared by every VIP of the host."""

    arp_ignore: int = DEFAULT_ARP_IGNORE
    arp_announce: int = DEFAULT_ARP_ANNOUNCE
    arp_interface: str | None = None
    rp_filter: int = DEFAULT_RP_FILTER

    def to_record(self):
        return {
            'arp_ignore': self.arp_ignore,
            'arp_announce': self.arp_announce,
            'arp_interface': self.arp_interface,
            'rp_filter': self.rp_filter,
        }

    @classmethod
    def from_record(cls, data):
        return cls(
            arp_ignore=int(data.get('arp_ignore', DEFAULT_ARP_IGNORE)),
            arp_announce=int(data.get('arp_announce', DEFAULT_ARP_ANNOUNCE)),
            arp_interface=data.get('arp_interface'),
            rp_filter=int(data.get('rp_filter', DEFAULT_RP_FILTER)),
        )


@dataclass(frozen=True)
class Request:
    """The module options, checked and made canonical."""

    vip: Vip
    state: str
    settings: Settings  # arp_interface None: the interface of the default route


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None
    up: bool
    loopback: bool = False


@dataclass
class LiveState:
    """A snapshot of what the module looks at on the host."""

    links: dict = field(default_factory=dict)  # name -> Link
    addresses: dict = field(default_factory=dict)  # device name -> set of canonical 'addr/prefix'
    sysctls: dict = field(default_factory=dict)  # 'dev/key' under net/ipv4/conf -> int
    default_route_interface: str | None = None  # IPv4 default route of the main table
    fou_ports: dict = field(default_factory=dict)  # (family, port) -> fou encapsulation type
    modules: set = field(default_factory=set)  # kernel modules loaded or built in, among those asked about
    ipv6: bool = True  # the kernel has IPv6


@dataclass(frozen=True)
class Operation:
    """One change to make; ``text`` is what the module reports in ``operations``."""

    phase: int
    kind: str
    target: str
    value: object = None
    extra: object = None
    text: str = ''


@dataclass
class Plan:
    operations: list
    record: dict
    before: dict
    after: dict
    warnings: list
    sysctls: dict  # display name -> value: the sysctls the managed VIPs need (for sysctl.d)
    kernel_modules: list  # kernel modules the managed VIPs need (for modules-load.d)
    creates_devices: bool  # some operation creates a device (modules, dummy): re-read after those

    @property
    def changed(self):
        return bool(self.operations)


# Phases: the order in which operations run.  ARP is made quiet before a VIP
# appears and restored only after the last one is gone; devices exist before
# their sysctls are written; the compensating rp_filter values are raised before
# net.ipv4.conf.all.rp_filter is lowered.
PHASE_ADDR_DEL = 0
PHASE_MODULE = 1
PHASE_LINK_ADD = 2
PHASE_SYSCTL = 3
PHASE_FOU_ADD = 4
PHASE_LINK_UP = 5
PHASE_ADDR_ADD = 6
PHASE_FOU_DEL = 7
PHASE_LINK_DOWN = 8
PHASE_LINK_DEL = 9


# ---------------------------------------------------------------------------
# Naming helpers


def sysctl_key(device, name):
    """The key of an IPv4 interface sysctl as used in LiveState and the record."""
    return '%s/%s' % (device, name)


def sysctl_display(key):
    """``eth0.100/rp_filter`` -> ``net.ipv4.conf.eth0/100.rp_filter`` (sysctl(8) notation)."""
    device, name = key.rsplit('/', 1)
    return 'net.ipv4.conf.%s.%s' % (device.replace('.', '/'), name)


def family_name(family):
    return 'IPv4' if family == 4 else 'IPv6'


def resource_display(key):
    kind, rest = key.split(':', 1)
    if kind == 'sysctl':
        return sysctl_display(rest)
    if kind == 'link':
        return 'device %s' % rest
    if kind == 'up':
        return 'device %s state' % rest
    if kind == 'fou':
        family, port = rest.split(':')
        return 'fou port %s/%s' % (port, 'ipv4' if family == '4' else 'ipv6')
    if kind == 'address':
        device, address = rest.split(':', 1)
        return '%s on %s' % (address, device)
    raise ValueError(key)


def validate_device_name(value, option):
    if not _DEVICE_NAME.match(value) or value in ('.', '..') or value in SYSCTL_PSEUDO_DEVICES:
        raise LvsError(
            '%s: %r is not a usable interface name (1 to 15 characters, no spaces, "/" or ":", '
            'and not "all" or "default").' % (option, value)
        )


# ---------------------------------------------------------------------------
# Request


def parse_vip(value):
    """Return the canonical 'address/prefix' of a VIP, or raise LvsError."""
    text = str(value).strip()
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise LvsError('vip: %r is not an IP address (write 192.0.2.10, 192.0.2.10/32 or 2001:db8::10).' % (value,))
    host_prefix = iface.max_prefixlen
    if iface.network.prefixlen != host_prefix:
        raise LvsError(
            'vip: %s has prefix length /%d; a VIP is one address, so only /%d (or no prefix) is accepted.'
            % (text, iface.network.prefixlen, host_prefix)
        )
    address = iface.ip
    broadcast = address.version == 4 and str(address) == '255.255.255.255'
    if address.is_unspecified or address.is_loopback or address.is_multicast or broadcast:
        raise LvsError('vip: %s is not a unicast address that clients can reach.' % address)
    if address.version == 6 and address.is_link_local:
        raise LvsError('vip: %s is an IPv6 link-local address, which cannot be a VIP.' % address)
    return '%s/%d' % (address, host_prefix)


def normalise_request(params):
    """Check the options beyond what the argument spec says and make them canonical."""
    state = params.get('state') or 'present'
    forwarding = params.get('forwarding') or 'dr'
    address = parse_vip(params.get('vip'))
    family = ipaddress.ip_interface(address).version

    device = params.get('device')
    tunnel_type = params.get('tunnel_type')
    tunnel_port = params.get('tunnel_port')
    rp_filter = params.get('rp_filter')

    if forwarding == 'dr':
        if tunnel_type is not None or tunnel_port is not None:
            raise LvsError('tunnel_type and tunnel_port apply to forwarding=tun only; this VIP uses forwarding=dr.')
        if rp_filter is not None:
            raise LvsError('rp_filter applies to forwarding=tun only (DR needs no change to reverse path filtering).')
        device = device or DEFAULT_DR_DEVICE
        validate_device_name(device, 'device')
        if device in RESERVED_DEVICE_NAMES:
            raise LvsError('device: %s is a name the kernel uses for its own tunnel devices; choose another name for the dummy device.' % device)
    elif forwarding == 'tun':
        tunnel_type = tunnel_type or 'ipip'
        if tunnel_type not in TUNNEL_TYPES:
            raise LvsError('tunnel_type: %r is not one of %s.' % (tunnel_type, ', '.join(TUNNEL_TYPES)))
        if tunnel_type == 'gue':
            if tunnel_port is None:
                raise LvsError('tunnel_type=gue needs tunnel_port, the UDP port the director sends GUE packets to (the same as its --tun-port).')
        elif tunnel_port is not None:
            raise LvsError('tunnel_port applies to tunnel_type=gue only; %s carries no UDP port.' % tunnel_type)
        if tunnel_port is not None and not 1 <= int(tunnel_port) <= 65535:
            raise LvsError('tunnel_port: %s is not a UDP port (1-65535).' % tunnel_port)
        expected = TUNNEL_DEVICES[(family, tunnel_type)]
        if device is not None and device != expected:
            raise LvsError(
                'device: with forwarding=tun the VIP goes on the kernel tunnel device that receives %s packets '
                '(%s for an %s VIP); leave device unset or set it to %s.' % (tunnel_type, expected, family_name(family), expected)
            )
        device = expected
        tunnel_port = int(tunnel_port) if tunnel_port is not None else None
        if rp_filter is None:
            rp_filter = DEFAULT_RP_FILTER
    else:
        raise LvsError('forwarding: %r is not one of %s (NAT and FULLNAT real servers need no VIP).' % (forwarding, ', '.join(FORWARDING_METHODS)))

    arp_ignore = int(params.get('arp_ignore') if params.get('arp_ignore') is not None else DEFAULT_ARP_IGNORE)
    arp_announce = int(params.get('arp_announce') if params.get('arp_announce') is not None else DEFAULT_ARP_ANNOUNCE)
    if arp_ignore not in ARP_IGNORE_CHOICES:
        raise LvsError('arp_ignore: %s would let the real server answer ARP for the VIP; use one of %s.' % (arp_ignore, ARP_IGNORE_CHOICES))
    if arp_announce not in ARP_ANNOUNCE_CHOICES:
        raise LvsError('arp_announce: %s would let the VIP appear in ARP requests; use one of %s.' % (arp_announce, ARP_ANNOUNCE_CHOICES))
    arp_interface = params.get('arp_interface')
    if arp_interface is not None:
        validate_device_name(arp_interface, 'arp_interface')
    rp_filter = DEFAULT_RP_FILTER if rp_filter is None else int(rp_filter)
    if rp_filter not in RP_FILTER_CHOICES:
        raise LvsError('rp_filter: %s would drop decapsulated packets; use 0 (off) or 2 (loose).' % rp_filter)

    return Request(
        vip=Vip(address=address, forwarding=forwarding, device=device, tunnel_type=tunnel_type if forwarding == 'tun' else None,
                tunnel_port=tunnel_port if forwarding == 'tun' else None),
        state=state,
        settings=Settings(arp_ignore=arp_ignore, arp_announce=arp_announce, arp_interface=arp_interface, rp_filter=rp_filter),
    )


# ---------------------------------------------------------------------------
# Record


def empty_record():
    return {'version': RECORD_VERSION, 'vips': {}, 'settings': Settings().to_record(), 'saved': {}}


def load_record(data):
    """Check a record read from the host; None (no file) gives an empty one."""
    if data is None:
        return empty_record()
    if not isinstance(data, dict) or data.get('version') != RECORD_VERSION:
        version = data.get('version') if isinstance(data, dict) else None
        raise LvsError('The rs_vip record has an unknown format (version %r); move it aside and run again.' % (version,))
    record = empty_record()
    record['vips'] = dict(data.get('vips') or {})
    record['settings'] = dict(Settings.from_record(data.get('settings') or {}).to_record())
    record['saved'] = dict(data.get('saved') or {})
    return record


def record_vips(record):
    return {address: Vip.from_record(address, data) for address, data in record['vips'].items()}


# ---------------------------------------------------------------------------
# Planning


def _is_link_local(address):
    iface = ipaddress.ip_interface(address)
    return iface.version == 6 and iface.ip.is_link_local


def _tunnel_devices_v4(vips):
    return sorted({v.device for v in vips.values() if v.forwarding == 'tun' and v.family == 4})


def kernel_modules_for(vips):
    modules = set()
    for vip in vips.values():
        if vip.forwarding == 'tun':
            modules.add(DEVICE_MODULES[vip.device])
            if vip.tunnel_type == 'gue':
                modules.add(FOU_MODULE)
    return sorted(modules)


class _Planner:
    """Derives the operations for one request; see ``plan``."""

    def __init__(self, request, live, record):
        self.request = request
        self.live = live
        self.old_record = record
        self.saved = dict(record['saved'])
        self.warnings = []
        self.operations = []
        self.vips = record_vips(record)
        self.previous = self.vips.get(request.vip.address)
        self.settings = Settings.from_record(record['settings'])
        self.created_links = set()  # devices that come into being during this run
        self.planned_defaults = {}  # sysctl name -> value this run gives net.ipv4.conf.default

    # -- the state of the host

    def link_exists(self, name):
        return name in self.live.links or name in self.created_links

    def current(self, key, predicted=True):
        """The value of a resource now; with ``predicted``, devices created by this run count as present."""
        kind, rest = key.split(':', 1)
        if kind == 'sysctl':
            device, name = rest.rsplit('/', 1)
            if rest in self.live.sysctls:
                return self.live.sysctls[rest]
            if predicted and device in self.created_links:
                # A new device takes its values from net.ipv4.conf.default, and keeps
                # following `default` until written itself; so it ends up with the value
                # `default` has at the end of this run.
                if name in self.planned_defaults:
                    return self.planned_defaults[name]
                return self.live.sysctls.get(sysctl_key('default', name))
            return None
        if kind == 'link':
            return 'present' if (self.link_exists(rest) if predicted else rest in self.live.links) else 'absent'
        if kind == 'up':
            link = self.live.links.get(rest)
            if link is not None:
                return 'up' if link.up else 'down'
            return 'down' if predicted and rest in self.created_links else None
        if kind == 'fou':
            family, port = rest.split(':')
            encap = self.live.fou_ports.get((int(family), int(port)))
            if encap is None:
                return 'absent'
            return 'gue' if encap == FOU_ENCAP_GUE else 'direct'
        if kind == 'address':
            device, address = rest.split(':', 1)
            return 'present' if address in self.live.addresses.get(device, set()) else 'absent'
        raise ValueError(key)

    def original(self, key):
        """The value a resource had before the module first changed it."""
        if key in self.saved:
            return self.saved[key]
        return self.current(key)

    # -- checks that need the live state

    def check_request(self):
        request = self.request
        vip = request.vip
        if request.state != 'present':
            return
        if vip.family == 6 and not self.live.ipv6:
            raise LvsError('vip: %s is an IPv6 address but the kernel has no IPv6 (disabled or not loaded).' % vip.address)
        if vip.forwarding == 'dr':
            link = self.live.links.get(vip.device)
            if link is not None and not (link.loopback or link.kind == 'dummy'):
                raise LvsError(
                    'device: %s is a %s device, which answers ARP; a DR real server holds the VIP on lo or on a '
                    'dummy device (the module creates one with the name you give).' % (vip.device, link.kind or 'network')
                )
        # The VIP must not sit on a device where the module did not put it.
        for device, addresses in sorted(self.live.addresses.items()):
            if vip.address in addresses and device != vip.device and (self.previous is None or self.previous.device != device):
                raise LvsError(
                    '%s is already on %s, where rs_vip did not put it. A real server must hold the VIP only on its '
                    'non-ARP device (here %s); remove it from %s first (ip address del %s dev %s).'
                    % (vip.address, device, vip.device, device, vip.address, device)
                )
        if vip.tunnel_type == 'gue':
            encap = self.live.fou_ports.get((vip.family, vip.tunnel_port))
            if encap is not None and encap != FOU_ENCAP_GUE:
                raise LvsError(
                    'UDP port %d already receives fou packets without GUE (a direct fou port); GUE needs its own port: '
                    'remove that port (ip fou del port %d) or choose another tunnel_port.' % (vip.tunnel_port, vip.tunnel_port)
                )

    def resolve_settings(self):
        settings = self.request.settings
        arp_interface = settings.arp_interface
        needs_arp = any(v.family == 4 for v in self.vips.values())
        if arp_interface is None:
            arp_interface = self.live.default_route_interface
            if arp_interface is None and needs_arp:
                raise LvsError(
                    'arp_interface is not set and the host has no IPv4 default route to take it from; '
                    'set arp_interface to the interface that faces the director.'
                )
        if needs_arp and arp_interface not in self.live.links:
            raise LvsError('arp_interface: the host has no interface %s.' % arp_interface)
        return Settings(arp_ignore=settings.arp_ignore, arp_announce=settings.arp_announce, arp_interface=arp_interface,
                        rp_filter=settings.rp_filter)

    # -- what the managed VIPs need

    def wanted(self):
        """Resource key -> value that the managed VIPs need."""
        want = {}
        vips = self.vips
        settings = self.settings
        if any(v.family == 4 for v in vips.values()):
            for device in ('all', settings.arp_interface):
                if device == 'all' or self.link_exists(device):
                    want['sysctl:' + sysctl_key(device, 'arp_ignore')] = settings.arp_ignore
                    want['sysctl:' + sysctl_key(device, 'arp_announce')] = settings.arp_announce
        tunnels = _tunnel_devices_v4(vips)
        if tunnels:
            wanted_rp = settings.rp_filter
            for device in tunnels:
                want['sysctl:' + sysctl_key(device, 'rp_filter')] = wanted_rp
            all_key = 'sysctl:' + sysctl_key('all', 'rp_filter')
            original_all = self.original(all_key)
            if original_all is not None and original_all > wanted_rp:
                # The kernel uses max(all, device): lower `all`, and raise every other
                # interface (and `default`, for interfaces to come) to the old `all`
                # value so that their filtering does not change.
                want[all_key] = wanted_rp
                devices = set(self.live.links) | self.created_links | {'default'}
                for device in sorted(devices - set(tunnels)):
                    key = 'sysctl:' + sysctl_key(device, 'rp_filter')
                    value = self.original(key)
                    if value is not None and value < original_all:
                        want[key] = original_all
        for vip in vips.values():
            if vip.forwarding == 'dr' and vip.device != DEFAULT_DR_DEVICE:
                want['link:' + vip.device] = 'present'
            want['up:' + vip.device] = 'up'
            if vip.tunnel_type == 'gue':
                want['fou:%d:%d' % (vip.family, vip.tunnel_port)] = 'gue'
        return want

    # -- building the operations

    def add(self, phase, kind, target, value=None, extra=None, text=''):
        self.operations.append(Operation(phase=phase, kind=kind, target=target, value=value, extra=extra, text=text))

    def plan_modules(self):
        """Load the kernel modules that create missing tunnel devices, and fou."""
        loading = set()
        for vip in sorted(self.vips.values(), key=lambda v: v.address):
            if vip.forwarding != 'tun':
                continue
            if not self.link_exists(vip.device):
                module = DEVICE_MODULES[vip.device]
                if module not in loading:
                    loading.add(module)
                    self.add(PHASE_MODULE, 'module', module, extra=vip.device,
                             text='load kernel module %s (creates %s)' % (module, vip.device))
                self.created_links.add(vip.device)
            if vip.tunnel_type == 'gue' and FOU_MODULE not in self.live.modules and FOU_MODULE not in loading:
                loading.add(FOU_MODULE)
                self.add(PHASE_MODULE, 'module', FOU_MODULE, text='load kernel module %s (GUE receive ports)' % FOU_MODULE)

    def plan_addresses(self):
        request = self.request
        vip = request.vip
        remove_from = set()
        if self.previous is not None and (request.state == 'absent' or self.previous.device != vip.device):
            remove_from.add(self.previous.device)
        if request.state == 'absent' and self.previous is None:
            remove_from.add(vip.device)
        for device in sorted(remove_from):
            if vip.address in self.live.addresses.get(device, set()):
                self.add(PHASE_ADDR_DEL, 'addr_del', device, vip.address, text='remove %s from %s' % (vip.address, device))
        if request.state == 'present' and vip.address not in self.live.addresses.get(vip.device, set()):
            self.add(PHASE_ADDR_ADD, 'addr_add', vip.device, vip.address, text='add %s to %s' % (vip.address, vip.device))

    def addresses_after(self, device):
        """Addresses left on a device once this plan has run (IPv6 link-local ones aside)."""
        result = set(a for a in self.live.addresses.get(device, set()) if not _is_link_local(a))
        for op in self.operations:
            if op.target == device and op.kind == 'addr_del':
                result.discard(op.value)
            elif op.target == device and op.kind == 'addr_add':
                result.add(op.value)
        return result

    def plan_resources(self, want):
        prefix = 'sysctl:default/'
        self.planned_defaults = {key[len(prefix):]: value for key, value in want.items() if key.startswith(prefix)}
        for key in self.saved:
            if key.startswith(prefix) and key not in want:
                self.planned_defaults[key[len(prefix):]] = self.saved[key]
        # Resources the managed VIPs need.
        for key in sorted(want):
            value = want[key]
            current = self.current(key)
            if current == value:
                continue
            if key not in self.saved and key not in NEVER_RESTORED:
                self.saved[key] = current
            self.change(key, current, value)
        # Resources the module changed that nothing needs any more: put them back.
        kept = set()  # devices left in place because they hold addresses of others
        for key in sorted(self.saved):
            if key in want:
                continue
            value = self.saved.pop(key)
            current = self.current(key)
            if current is None or current == value:
                continue  # the device has gone, or someone already put the value back
            kind, rest = key.split(':', 1)
            if kind in ('link', 'up'):
                left = self.addresses_after(rest)
                if left and rest in kept:
                    continue
                if left:
                    kept.add(rest)
                    self.warnings.append(
                        '%s still holds %s, which rs_vip did not add: the device is left %s.'
                        % (rest, ', '.join(sorted(left)), 'in place' if kind == 'link' else 'up')
                    )
                    continue
            self.change(key, current, value)

    def change(self, key, current, value):
        kind, rest = key.split(':', 1)
        if kind == 'sysctl':
            self.add(PHASE_SYSCTL, 'sysctl', rest, value, current,
                     text='set %s = %s (was %s)' % (sysctl_display(rest), value, current))
        elif kind == 'link':
            if value == 'present':
                self.created_links.add(rest)
                self.add(PHASE_LINK_ADD, 'link_add', rest, 'dummy', text='create dummy device %s' % rest)
            else:
                self.add(PHASE_LINK_DEL, 'link_del', rest, text='delete dummy device %s' % rest)
        elif kind == 'up':
            if value == 'up':
                self.add(PHASE_LINK_UP, 'link_up', rest, text='set %s up' % rest)
            else:
                self.add(PHASE_LINK_DOWN, 'link_down', rest, text='set %s down' % rest)
        elif kind == 'fou':
            family, port = (int(x) for x in rest.split(':'))
            if value == 'gue':
                self.add(PHASE_FOU_ADD, 'fou_add', rest, (family, port),
                         text='add fou GUE receive port %d (%s)' % (port, family_name(family)))
            else:
                self.add(PHASE_FOU_DEL, 'fou_del', rest, (family, port),
                         text='remove fou GUE receive port %d (%s)' % (port, family_name(family)))

    def ordered(self):
        def sort_key(item):
            index, op = item
            # In the sysctl phase, raise values before lowering others: the kernel takes
            # the larger of `all` and the device, so no moment filters less than both
            # the old and the new set-up.
            lowering = 1 if op.kind == 'sysctl' and op.extra is not None and op.value < op.extra else 0
            return (op.phase, lowering, index)

        ordered = [op for _index, op in sorted(enumerate(self.operations), key=sort_key)]
        # A device that is deleted need not be set down first.
        deleted = {op.target for op in ordered if op.kind == 'link_del'}
        return [op for op in ordered if not (op.kind == 'link_down' and op.target in deleted)]

    # -- views

    def views(self, keys):
        """Before and after values of the given resources, keyed by a readable name."""
        changes = {}
        for op in self.operations:
            if op.kind == 'sysctl':
                changes['sysctl:' + op.target] = op.value
            elif op.kind in ('link_add', 'link_del'):
                changes['link:' + op.target] = 'present' if op.kind == 'link_add' else 'absent'
            elif op.kind in ('link_up', 'link_down'):
                changes['up:' + op.target] = 'up' if op.kind == 'link_up' else 'down'
            elif op.kind in ('fou_add', 'fou_del'):
                changes['fou:' + op.target] = 'gue' if op.kind == 'fou_add' else 'absent'
            elif op.kind in ('addr_add', 'addr_del'):
                changes['address:%s:%s' % (op.target, op.value)] = 'present' if op.kind == 'addr_add' else 'absent'
        before, after = {}, {}
        for key in sorted(keys):
            name = resource_display(key)
            before[name] = self.current(key, predicted=False)
            after[name] = changes.get(key, self.current(key, predicted=True))
        return before, after

    # -- the whole plan

    def run(self):
        request = self.request
        vip = request.vip
        if request.state == 'present':
            self.vips[vip.address] = vip
        else:
            self.vips.pop(vip.address, None)
        self.check_request()
        if request.state == 'present':
            self.settings = self.resolve_settings()
        self.plan_addresses()
        self.plan_modules()
        want = self.wanted()
        self.plan_resources(want)
        self.operations = self.ordered()
        want = self.wanted()  # with the devices this run creates

        record = {
            'version': RECORD_VERSION,
            'vips': {address: v.to_record() for address, v in sorted(self.vips.items())},
            'settings': self.settings.to_record(),
            'saved': dict(sorted(self.saved.items())),
        }
        keys = set(want) | set(self.old_record['saved'])
        devices = {vip.device} | ({self.previous.device} if self.previous else set())
        keys.update('address:%s:%s' % (device, vip.address) for device in devices)
        before, after = self.views(keys)
        before['managed VIPs'] = sorted(self.old_record['vips'])
        after['managed VIPs'] = sorted(record['vips'])
        return Plan(
            operations=self.operations,
            record=record,
            before=before,
            after=after,
            warnings=self.warnings,
            sysctls={sysctl_display(k.split(':', 1)[1]): v for k, v in sorted(want.items()) if k.startswith('sysctl:')},
            kernel_modules=kernel_modules_for(self.vips),
            creates_devices=any(op.kind in ('module', 'link_add') for op in self.operations),
        )


def plan(request, live, record):
    """Return the Plan that brings the host from ``live`` to what ``request`` asks.

    ``record`` is the module's record (see ``load_record``).  Raises LvsError,
    before anything is changed, when the request cannot be met.
    """
    return _Planner(request, live, record).run()


# ---------------------------------------------------------------------------
# The module's flow

SETTLE_ROUNDS = 3
SETTLE_DELAY = 0.5


def run_rs_vip(params, host, check_mode, sleep=time.sleep):
    """Read, plan, apply unless in check mode, read back.  Returns the module result.

    ``host`` is a ``_rs_host.Host`` (or a stand-in with the same methods).
    Devices that appear during the run (a tunnel module creates its fallback
    device, udev then applies sysctl.d to it) are settled by planning again
    after the first pass, a few times at most.
    """
    request = normalise_request(params)
    try:
        host.lock(create=not check_mode)
        record = load_record(host.read_record())
        live = host.read_state()
        first = plan(request, live, record)
        result = {
            'changed': first.changed,
            'vip': request.vip.address,
            'forwarding': request.vip.forwarding,
            'device': request.vip.device,
            'state': request.state,
            'operations': [op.text for op in first.operations],
            'warnings': list(first.warnings),
            'diff': {'before': first.before, 'after': first.after},
            'sysctls': first.sysctls,
            'kernel_modules': first.kernel_modules,
            'managed_vips': [v.describe() for _a, v in sorted(record_vips(first.record).items())],
        }
        if check_mode:
            return result
        if first.record != record:
            host.write_record(first.record)
        for op in first.operations:
            host.apply(op)
        current = first
        for _round in range(SETTLE_ROUNDS):
            if current.creates_devices and sleep is not None:
                sleep(SETTLE_DELAY)
            live = host.read_state()
            current = plan(request, live, current.record)
            if not current.operations:
                break
            if current.record != first.record:
                host.write_record(current.record)
            for op in current.operations:
                host.apply(op)
            result['operations'].extend(op.text for op in current.operations)
            result['changed'] = True
        else:
            live = host.read_state()
            current = plan(request, live, current.record)
            if current.operations:
                raise LvsError('The kernel did not keep the changes; still needed: %s.' % '; '.join(op.text for op in current.operations))
        result['diff']['after'] = _read_back_view(first, current)
        result['sysctls'] = current.sysctls
        result['kernel_modules'] = current.kernel_modules
        for warning in current.warnings:
            if warning not in result['warnings']:
                result['warnings'].append(warning)
        return result
    finally:
        host.close()


def _read_back_view(first, final):
    """The after view of the first plan's resources, as read back from the host."""
    view = dict(first.after)
    for name, value in final.before.items():
        if name in view:
            view[name] = value
    return view
