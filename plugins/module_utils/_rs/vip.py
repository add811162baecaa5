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

Every operation carries the shell command that does the same change (``ip``,
``sysctl``, ``modprobe``, ``udevadm``); the module reports those.  The host as a
fresh boot gives it is the live host with the module's changes undone
(``pristine``, from the record); ``boot_commands`` plans the whole set on that
host, through the same planner, and returns the commands: what a boot script
runs to give the host, after a reboot, exactly what the module applied.

The model.  Every VIP the module manages is kept in a record on the host
(``/var/lib/lvs-ipvs/rs_vip.json``) with the host-wide settings (ARP sysctls,
the interface facing the director, rp_filter for tunnels).  From the record the
planner derives the *resources* the host needs: sysctl values, dummy devices,
devices that must be up, fou receive ports.  When the module changes a resource
it saves the value the resource had before; when no managed VIP needs the
resource any more, the saved value is put back.  So removing a VIP (``purge``,
or an entry with ``state=absent``) removes what the module added and nothing
else, even when several VIPs share a sysctl.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import time
from dataclasses import dataclass, field, replace

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.converge import converge
from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import TUNNEL_TYPES, VIP_FORWARDING

RECORD_VERSION = 1

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
class Entry:
    """One entry of the module's ``vips`` option."""

    vip: Vip
    state: str  # present | absent


@dataclass(frozen=True)
class Request:
    """The module options, checked and made canonical."""

    entries: tuple  # of Entry, sorted by address
    purge: bool  # remove the managed VIPs that ``entries`` does not list
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
    udev: bool = True  # the host has udevadm (udev may act on new devices)


@dataclass(frozen=True)
class Operation:
    """One change to make; ``text`` is what the module reports in ``operations``."""

    phase: int
    kind: str
    target: str
    value: object = None
    extra: object = None
    text: str = ''  # what it does, in words (for messages)
    command: str = ''  # the shell command that does the same (what the module reports)


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
# Devices that a module or `ip link add` creates are announced to udev, which may
# apply sysctl.d files to them: the settle phase waits for that before the module
# writes their sysctls.
PHASE_ADDR_DEL = 0
PHASE_MODULE = 1
PHASE_LINK_ADD = 2
PHASE_SETTLE = 3
PHASE_SYSCTL = 4
PHASE_FOU_ADD = 5
PHASE_LINK_UP = 6
PHASE_ADDR_ADD = 7
PHASE_FOU_DEL = 8
PHASE_LINK_DOWN = 9
PHASE_LINK_DEL = 10

SETTLE_COMMAND = 'udevadm settle'


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


def normalise_vip(entry, where):
    """One entry of ``vips``, checked and made canonical: a Vip and its state."""
    state = entry.get('state') or 'present'
    forwarding = entry.get('forwarding') or 'dr'
    try:
        address = parse_vip(entry.get('vip'))
    except LvsError as exc:
        raise LvsError('%s.%s' % (where, exc))
    family = ipaddress.ip_interface(address).version

    device = entry.get('device')
    tunnel_type = entry.get('tunnel_type')
    tunnel_port = entry.get('tunnel_port')
    label = '%s (%s)' % (where, address)

    if forwarding == 'dr':
        if tunnel_type is not None or tunnel_port is not None:
            raise LvsError('%s: tunnel_type and tunnel_port apply to forwarding=tun only; this VIP uses forwarding=dr.' % label)
        device = device or DEFAULT_DR_DEVICE
        validate_device_name(device, '%s: device' % label)
        if device in RESERVED_DEVICE_NAMES:
            raise LvsError('%s: device %s is a name the kernel uses for its own tunnel devices; choose another name for the '
                           'dummy device.' % (label, device))
    elif forwarding == 'tun':
        tunnel_type = tunnel_type or 'ipip'
        if tunnel_type not in TUNNEL_TYPES:
            raise LvsError('%s: tunnel_type %r is not one of %s.' % (label, tunnel_type, ', '.join(TUNNEL_TYPES)))
        if tunnel_type == 'gue':
            if tunnel_port is None:
                raise LvsError('%s: tunnel_type=gue needs tunnel_port, the UDP port the director sends GUE packets to (the '
                               'same as its --tun-port).' % label)
        elif tunnel_port is not None:
            raise LvsError('%s: tunnel_port applies to tunnel_type=gue only; %s carries no UDP port.' % (label, tunnel_type))
        if tunnel_port is not None and not 1 <= int(tunnel_port) <= 65535:
            raise LvsError('%s: tunnel_port %s is not a UDP port (1-65535).' % (label, tunnel_port))
        expected = TUNNEL_DEVICES[(family, tunnel_type)]
        if device is not None and device != expected:
            raise LvsError(
                '%s: with forwarding=tun the VIP goes on the kernel tunnel device that receives %s packets '
                '(%s for an %s VIP); leave device unset or set it to %s.' % (label, tunnel_type, expected, family_name(family), expected)
            )
        device = expected
        tunnel_port = int(tunnel_port) if tunnel_port is not None else None
    else:
        raise LvsError('%s: forwarding %r is not one of %s (NAT and FULLNAT real servers need no VIP).'
                       % (label, forwarding, ', '.join(VIP_FORWARDING)))
    if state not in ('present', 'absent'):
        raise LvsError('%s: state must be present or absent, not %r.' % (label, state))
    vip = Vip(address=address, forwarding=forwarding, device=device, tunnel_type=tunnel_type if forwarding == 'tun' else None,
              tunnel_port=tunnel_port if forwarding == 'tun' else None)
    return Entry(vip=vip, state=state)


def normalise_request(params):
    """Check the options beyond what the argument spec says and make them canonical."""
    entries = {}
    for index, item in enumerate(params.get('vips') or []):
        entry = normalise_vip(item, 'vips[%d]' % index)
        address = entry.vip.address
        if address in entries:
            raise LvsError('vips[%d]: %s is listed twice; list each VIP once.' % (index, address))
        entries[address] = entry

    arp_ignore = int(params.get('arp_ignore') if params.get('arp_ignore') is not None else DEFAULT_ARP_IGNORE)
    arp_announce = int(params.get('arp_announce') if params.get('arp_announce') is not None else DEFAULT_ARP_ANNOUNCE)
    if arp_ignore not in ARP_IGNORE_CHOICES:
        raise LvsError('arp_ignore: %s would let the real server answer ARP for the VIP; use one of %s.' % (arp_ignore, ARP_IGNORE_CHOICES))
    if arp_announce not in ARP_ANNOUNCE_CHOICES:
        raise LvsError('arp_announce: %s would let the VIP appear in ARP requests; use one of %s.' % (arp_announce, ARP_ANNOUNCE_CHOICES))
    arp_interface = params.get('arp_interface')
    if arp_interface is not None:
        validate_device_name(arp_interface, 'arp_interface')
    rp_filter = DEFAULT_RP_FILTER if params.get('rp_filter') is None else int(params['rp_filter'])
    if rp_filter not in RP_FILTER_CHOICES:
        raise LvsError('rp_filter: %s would drop decapsulated packets; use 0 (off) or 2 (loose).' % rp_filter)

    return Request(
        entries=tuple(entries[address] for address in sorted(entries)),
        purge=bool(params.get('purge')),
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
        self.old_vips = record_vips(record)
        listed = {entry.vip.address for entry in request.entries if entry.state == 'present'}
        self.vips = {address: vip for address, vip in self.old_vips.items() if not request.purge or address in listed}
        for entry in request.entries:
            if entry.state == 'present':
                self.vips[entry.vip.address] = entry.vip
            else:
                self.vips.pop(entry.vip.address, None)
        self.settings = Settings.from_record(record['settings'])
        self.created_links = set()  # devices that come into being during this run

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
                # A new device takes its values from net.ipv4.conf.default as it is when
                # the device appears. Whether it then follows later changes of `default`
                # depends on whether `default` was ever written since boot, so the plan
                # writes every value it needs on a new device (see plan_resources).
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
        for entry in self.request.entries:
            if entry.state == 'present':
                self.check_vip(entry.vip, self.old_vips.get(entry.vip.address))

    def check_vip(self, vip, previous):
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
            if vip.address in addresses and device != vip.device and (previous is None or previous.device != device):
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

    def add(self, phase, kind, target, value=None, extra=None, text='', command=''):
        self.operations.append(Operation(phase=phase, kind=kind, target=target, value=value, extra=extra, text=text,
                                         command=command))

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
                             text='load kernel module %s (creates %s)' % (module, vip.device), command='modprobe %s' % module)
                self.created_links.add(vip.device)
            if vip.tunnel_type == 'gue' and FOU_MODULE not in self.live.modules and FOU_MODULE not in loading:
                loading.add(FOU_MODULE)
                self.add(PHASE_MODULE, 'module', FOU_MODULE, text='load kernel module %s (GUE receive ports)' % FOU_MODULE,
                         command='modprobe %s' % FOU_MODULE)

    def address_places(self):
        """(address, devices it must leave, device it must be on or None), for every VIP this run concerns."""
        absent = {entry.vip.address: entry.vip for entry in self.request.entries if entry.state == 'absent'}
        places = []
        for address in sorted(set(self.old_vips) | set(self.vips) | set(absent)):
            target = self.vips.get(address)
            previous = self.old_vips.get(address)
            leave = set()
            if previous is not None and (target is None or previous.device != target.device):
                leave.add(previous.device)
            if address in absent and previous is None:
                leave.add(absent[address].device)  # not managed: only from the device the entry names
            places.append((address, leave, target.device if target else None))
        return places

    def plan_addresses(self):
        for address, leave, device in self.address_places():
            for old in sorted(leave):
                if address in self.live.addresses.get(old, set()):
                    self.add(PHASE_ADDR_DEL, 'addr_del', old, address, text='remove %s from %s' % (address, old),
                             command='ip address del %s dev %s' % (address, old))
            if device is not None and address not in self.live.addresses.get(device, set()):
                self.add(PHASE_ADDR_ADD, 'addr_add', device, address, text='add %s to %s' % (address, device),
                         command='ip address add %s dev %s' % (address, device))

    def addresses_after(self, device):
        """Addresses left on a device once this plan has run (IPv6 link-local ones aside)."""
        result = set(a for a in self.live.addresses.get(device, set()) if not _is_link_local(a))
        for op in self.operations:
            if op.target == device and op.kind == 'addr_del':
                result.discard(op.value)
            elif op.target == device and op.kind == 'addr_add':
                result.add(op.value)
        return result

    def made_here(self, key):
        """Whether a resource is a sysctl of a device this run creates."""
        kind, rest = key.split(':', 1)
        return kind == 'sysctl' and rest.rsplit('/', 1)[0] in self.created_links

    def plan_resources(self, want):
        # Resources the managed VIPs need; on a device made in this run, every one,
        # so that its value does not depend on how the kernel derived it.
        for key in sorted(want):
            value = want[key]
            # A dummy device this run creates counts as present for its sysctls, not for itself.
            current = self.current(key, predicted=not key.startswith('link:'))
            if current == value and not self.made_here(key):
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
                     text='set %s = %s (was %s)' % (sysctl_display(rest), value, current),
                     command='sysctl -w %s=%s' % (sysctl_display(rest), value))
        elif kind == 'link':
            if value == 'present':
                self.created_links.add(rest)
                self.add(PHASE_LINK_ADD, 'link_add', rest, 'dummy', text='create dummy device %s' % rest,
                         command='ip link add %s type dummy' % rest)
            else:
                self.add(PHASE_LINK_DEL, 'link_del', rest, text='delete dummy device %s' % rest,
                         command='ip link del %s' % rest)
        elif kind == 'up':
            if value == 'up':
                self.add(PHASE_LINK_UP, 'link_up', rest, text='set %s up' % rest, command='ip link set dev %s up' % rest)
            else:
                self.add(PHASE_LINK_DOWN, 'link_down', rest, text='set %s down' % rest, command='ip link set dev %s down' % rest)
        elif kind == 'fou':
            family, port = (int(x) for x in rest.split(':'))
            suffix = ' -6' if family == 6 else ''
            if value == 'gue':
                self.add(PHASE_FOU_ADD, 'fou_add', rest, (family, port),
                         text='add fou GUE receive port %d (%s)' % (port, family_name(family)),
                         command='ip fou add port %d gue%s' % (port, suffix))
            else:
                self.add(PHASE_FOU_DEL, 'fou_del', rest, (family, port),
                         text='remove fou GUE receive port %d (%s)' % (port, family_name(family)),
                         command='ip fou del port %d%s' % (port, suffix))

    def ordered(self):
        def sort_key(item):
            index, op = item
            # In the sysctl phase, raise values before lowering others: the kernel takes
            # the larger of `all` and the device, so no moment filters less than both
            # the old and the new set-up.
            lowering = 1 if op.kind == 'sysctl' and op.extra is not None and op.value < op.extra else 0
            return (op.phase, lowering, index)

        ordered = [op for _index, op in sorted(enumerate(self.operations), key=sort_key)]
        # A device that is deleted need not be set down, or have its sysctls put back, first.
        deleted = {op.target for op in ordered if op.kind == 'link_del'}
        ordered = [op for op in ordered if not (op.kind == 'link_down' and op.target in deleted)
                   and not (op.kind == 'sysctl' and op.target.rsplit('/', 1)[0] in deleted)]
        # Wait for udev to handle the devices made, before their sysctls are written.
        created = [index for index, op in enumerate(ordered) if op.kind in ('module', 'link_add')]
        if created and self.live.udev:
            ordered.insert(created[-1] + 1, Operation(phase=PHASE_SETTLE, kind='settle', target='udev',
                                                      text='wait for udev to handle the new devices', command=SETTLE_COMMAND))
        return ordered

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
        self.check_request()
        if request.purge or any(entry.state == 'present' for entry in request.entries):
            self.settings = self.resolve_settings()
        self.plan_addresses()
        self.plan_modules()
        for vip in self.vips.values():  # the dummy devices this run creates (planned with the other resources)
            if vip.forwarding == 'dr' and vip.device != DEFAULT_DR_DEVICE and vip.device not in self.live.links:
                self.created_links.add(vip.device)
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
        for address, leave, device in self.address_places():
            keys.update('address:%s:%s' % (name, address) for name in leave | ({device} if device else set()))
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
# The host at boot


def pristine(live, record):
    """The host as a fresh boot gives it: ``live`` with every change the record accounts for undone.

    The devices the module created (dummy devices, and the fallback tunnel devices
    of its tunnel VIPs, which exist once their kernel module is loaded) are gone,
    and so are the sysctls of those devices; the other sysctls, the device states and
    the fou ports have the values they had before the module changed them; the
    managed VIPs are on no device; fou is not loaded when a GUE VIP needed it.
    """
    vips = record_vips(record)
    saved = record['saved']
    gone = {key.split(':', 1)[1] for key, value in saved.items() if key.startswith('link:') and value == 'absent'}
    gone |= {vip.device for vip in vips.values() if vip.forwarding == 'tun'}
    host = copy.deepcopy(live)
    host.links = {name: link for name, link in host.links.items() if name not in gone}
    host.addresses = {device: set(addresses) for device, addresses in host.addresses.items() if device not in gone}
    host.sysctls = {key: value for key, value in host.sysctls.items() if key.rsplit('/', 1)[0] not in gone}
    for key, value in saved.items():
        kind, rest = key.split(':', 1)
        if kind == 'sysctl' and rest.rsplit('/', 1)[0] not in gone:
            if value is None:
                host.sysctls.pop(rest, None)
            else:
                host.sysctls[rest] = value
        elif kind == 'up' and rest in host.links and value in ('up', 'down'):
            host.links[rest] = replace(host.links[rest], up=value == 'up')
        elif kind == 'fou' and value == 'absent':
            family, port = (int(x) for x in rest.split(':'))
            host.fou_ports.pop((family, port), None)
    for vip in vips.values():
        host.addresses.get(vip.device, set()).discard(vip.address)
    if any(vip.tunnel_type == 'gue' for vip in vips.values()):
        host.modules.discard(FOU_MODULE)
        host.fou_ports = {}
    return host


def boot_commands(live, record):
    """The shell commands that build the record's whole set on a freshly booted host.

    The same planner as a live run, from ``pristine(live, record)`` and an empty
    record: on a host that has none of it yet, a run of the module performs exactly
    these commands.
    """
    vips = record_vips(record)
    settings = Settings.from_record(record['settings'])
    request = Request(entries=tuple(Entry(vip=vip, state='present') for _address, vip in sorted(vips.items())),
                      purge=True, settings=settings)
    from_empty = plan(request, pristine(live, record), empty_record())
    return [op.command for op in from_empty.operations]


# ---------------------------------------------------------------------------
# The module's flow

SETTLE_ROUNDS = 3
SETTLE_DELAY = 0.5


def run_rs_vip(params, host, check_mode, sleep=time.sleep):
    """Read, plan, apply unless in check mode, read back.  Returns the module result.

    ``host`` is a ``_rs_host.Host`` (or a stand-in with the same methods).
    Devices that appear during the run (a tunnel module creates its fallback
    device, udev then applies sysctl.d to it) are settled by planning again
    after the first pass, a few times at most.  With ``return_commands`` the
    result has ``commands``, the whole set built from a freshly booted host.
    """
    request = normalise_request(params)
    want_commands = bool(params.get('return_commands'))
    try:
        host.lock(create=not check_mode)
        record = load_record(host.read_record())
        live = host.read_state()
        first = plan(request, live, record)
        result = {
            'changed': first.changed,
            'operations': [op.command for op in first.operations],
            'warnings': list(first.warnings),
            'diff': {'before': first.before, 'after': first.after},
            'sysctls': first.sysctls,
            'kernel_modules': first.kernel_modules,
            'managed_vips': [v.describe() for _a, v in sorted(record_vips(first.record).items())],
        }
        if check_mode:
            if want_commands:
                result['commands'] = boot_commands(live, first.record)
            return result
        if _worth_writing(first.record, record):
            host.write_record(first.record)
        read = {}

        def read_plan(current_record):
            read['live'] = host.read_state()
            return plan(request, read['live'], current_record)

        def write(current_record):
            if current_record != first.record:
                host.write_record(current_record)

        def wait(current):
            if current.creates_devices and sleep is not None:
                sleep(SETTLE_DELAY)

        current, extra = converge(first, read_plan, host.apply, write, rounds=SETTLE_ROUNDS, wait=wait)
        live = read['live']
        if extra:
            result['operations'].extend(op.command for op in extra)
            result['changed'] = True
        result['diff']['after'] = _read_back_view(first, current)
        result['sysctls'] = current.sysctls
        result['kernel_modules'] = current.kernel_modules
        if want_commands:
            result['commands'] = boot_commands(live, current.record)
        for warning in current.warnings:
            if warning not in result['warnings']:
                result['warnings'].append(warning)
        return result
    finally:
        host.close()


def _worth_writing(new, old):
    """Whether the record must be written: it changed, and it (or the old one) holds something.

    A host with no VIP to manage, such as a NAT real server that the role passes an
    empty list, gets no record.
    """
    return new != old and any(data[key] for data in (new, old) for key in ('vips', 'saved'))


def _read_back_view(first, final):
    """The after view of the first plan's resources, as read back from the host."""
    view = dict(first.after)
    for name, value in final.before.items():
        if name in view:
            view[name] = value
    return view
