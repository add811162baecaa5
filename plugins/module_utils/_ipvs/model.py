# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPVS data model: normalise and validate what a user asks for, and map
services and real servers to and from the kernel's raw form.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Everything here is pure (no kernel, no Ansible).  A normalised *service* is a
dict with the keys ``family``, ``protocol``, ``vip``, ``port``, ``fwmark``,
``scheduler``, ``scheduler_flags``, ``persistence_timeout``,
``persistence_netmask``, ``one_packet``, ``persistence_engine`` and
``real_servers`` (a list, or None for "leave the real servers alone").  A
normalised *real server* has ``address``, ``port``, ``weight``,
``forwarding``, ``upper_threshold``, ``lower_threshold``, ``tunnel_type``,
``tunnel_port`` and ``tunnel_checksum``.  Two normalised objects are equal
exactly when the kernel would hold the same configuration for them.
"""

from __future__ import annotations

import ipaddress
import socket

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError

from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import (  # noqa: F401  (part of this module's names)
    DEFAULT_FORWARDING,
    DEFAULT_SCHEDULER,
    FAMILIES,
    FORWARDING,
    PERSISTENCE_ENGINES,
    PROTOCOLS,
    SCHEDULERS,
    TUNNEL_CHECKSUMS,
    TUNNEL_TYPES,
)

AF_INET = FAMILIES['ipv4']
AF_INET6 = FAMILIES['ipv6']
FAMILY_NAMES = {AF_INET: 'ipv4', AF_INET6: 'ipv6'}
HOST_PREFIX = {'ipv4': 32, 'ipv6': 128}

PROTOCOL_NAMES = dict((number, name) for name, number in PROTOCOLS.items())

# Service flag bits (include/uapi/linux/ip_vs.h).
F_PERSISTENT = 0x1
F_HASHED = 0x2
F_ONEPACKET = 0x4
F_SCHED1 = 0x8
F_SCHED2 = 0x10
F_SCHED3 = 0x20

# Scheduler flags: name -> (scheduler, bit).  The kernel has three generic
# scheduler flag bits; sh and mh give two of them a meaning.
SCHEDULER_FLAGS = {
    'sh-fallback': ('sh', F_SCHED1),
    'sh-port': ('sh', F_SCHED2),
    'mh-fallback': ('mh', F_SCHED1),
    'mh-port': ('mh', F_SCHED2),
}
# How a bit is shown when the scheduler gives it no name (set by another tool).
GENERIC_FLAG_NAMES = {F_SCHED1: 'flag-1', F_SCHED2: 'flag-2', F_SCHED3: 'flag-3'}

# What the kernel may report beyond the three methods a user can choose.
FORWARDING_NAMES = {0: 'nat', 1: 'local', 2: 'tun', 3: 'dr', 4: 'bypass'}

TUNNEL_TYPE_NAMES = dict((number, name) for name, number in TUNNEL_TYPES.items())
TUNNEL_CHECKSUM_NAMES = dict((number, name) for name, number in TUNNEL_CHECKSUMS.items())
# Which checksum options each tunnel type honours (net/netfilter/ipvs/ip_vs_xmit.c).
TUNNEL_CHECKSUMS_BY_TYPE = {'ipip': ('nocsum',), 'gue': ('nocsum', 'csum', 'remcsum'), 'gre': ('nocsum', 'csum')}

MAX_WEIGHT = 2147483647       # the kernel rejects a weight above INT_MAX
MAX_THRESHOLD = 2147483647    # and an upper threshold above INT_MAX
MAX_FWMARK = 4294967295
MAX_PERSISTENCE_TIMEOUT = 86400 * 31   # ipvsadm's limit, well inside the kernel's jiffies range

SERVICE_FIELDS = ('scheduler', 'scheduler_flags', 'persistence_timeout', 'persistence_netmask',
                  'one_packet', 'persistence_engine')
REAL_SERVER_FIELDS = ('weight', 'forwarding', 'upper_threshold', 'lower_threshold',
                      'tunnel_type', 'tunnel_port', 'tunnel_checksum')


# ---------------------------------------------------------------------------
# Keys and labels
# ---------------------------------------------------------------------------

def service_key(service):
    """The kernel's identity of a service: (family, fwmark) or (family, protocol, vip, port)."""
    if service.get('fwmark'):
        return (service['family'], 'fwmark', service['fwmark'])
    return (service['family'], service['protocol'], service['vip'], service['port'])


def sort_key(key):
    """A total order over service keys (addresses sort numerically)."""
    if key[1] == 'fwmark':
        return (1, key[0], key[2], '', 0)
    return (0, key[0], _packed(key[2]), key[1], key[3])


def real_server_key(real_server):
    return (real_server['address'], real_server['port'])


def real_server_sort_key(real_server):
    return (_packed(real_server['address']), real_server['port'])


def _packed(address):
    """An address as bytes that sort IPv4 before IPv6 and numerically within each."""
    if ':' in address:
        return b'\x06' + socket.inet_pton(socket.AF_INET6, address)
    return b'\x04' + socket.inet_pton(socket.AF_INET, address)


def hostport(address, port):
    """``address:port``, with the address in brackets when it is IPv6 (as ipvsadm writes it)."""
    if ':' in address:
        return '[%s]:%d' % (address, port)
    return '%s:%d' % (address, port)


def service_label(service):
    """How messages name a service: 'tcp 192.0.2.10:80', 'fwmark 5 (ipv6)'."""
    if service.get('fwmark'):
        return 'fwmark %d (%s)' % (service['fwmark'], service['family'])
    return '%s %s' % (service['protocol'], hostport(service['vip'], service['port']))


def real_server_label(real_server):
    return hostport(real_server['address'], real_server['port'])


# ---------------------------------------------------------------------------
# Normalising what the user asked for
# ---------------------------------------------------------------------------

class Address(object):
    """A parsed address: ``version`` (4 or 6), ``packed`` bytes and the canonical
    ``text`` (as the kernel's replies spell it).  socket.inet_pton/inet_ntop
    are used rather than the ipaddress module: a table has thousands of
    addresses and they are many times faster."""

    __slots__ = ('version', 'packed', 'text')

    def __init__(self, version, packed):
        self.version = version
        self.packed = packed
        self.text = socket.inet_ntop(socket.AF_INET6 if version == 6 else socket.AF_INET, packed)

    @property
    def is_multicast(self):
        return self.packed[0] == 0xFF if self.version == 6 else 224 <= self.packed[0] <= 239

    @property
    def is_unspecified(self):
        return not any(self.packed)

    @property
    def is_broadcast(self):
        return self.version == 4 and self.packed == b'\xff\xff\xff\xff'

    @property
    def is_link_local(self):
        return self.version == 6 and self.packed[0] == 0xFE and self.packed[1] & 0xC0 == 0x80


def parse_address(value):
    """An Address, or None when the value is not an IPv4 or IPv6 address."""
    text = str(value).strip()
    try:
        return Address(4, socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        return Address(6, socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError):
        return None


def _address(value, what, errors):
    address = parse_address(value)
    if address is None:
        errors.append('%s: %r is not a valid IPv4 or IPv6 address' % (what, value))
    return address


def _int_in_range(value, low, high, what, errors):
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append('%s must be a number from %d to %d, not %r' % (what, low, high, value))
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.append('%s must be a number from %d to %d, not %r' % (what, low, high, value))
        return None
    if not low <= number <= high:
        errors.append('%s must be from %d to %d, not %d' % (what, low, high, number))
        return None
    return number


def parse_netmask(value, family, what, errors):
    """A persistence netmask as a prefix length: accepts 24, '24', '/24' and
    (IPv4) '255.255.255.0'.  IPv6 takes a prefix length only, 1 to 128."""
    text = str(value).strip()
    if text.startswith('/'):
        text = text[1:]
    if text.isdigit():
        prefix = int(text)
        low = 1 if family == 'ipv6' else 0
        if not low <= prefix <= HOST_PREFIX[family]:
            errors.append('%s: a %s prefix length must be from %d to %d, not %d'
                          % (what, family, low, HOST_PREFIX[family], prefix))
            return None
        return prefix
    if family == 'ipv4':
        try:
            return ipaddress.IPv4Network('0.0.0.0/%s' % text).prefixlen
        except ValueError:
            pass
    errors.append('%s: %r is not a valid %s persistence netmask (give a prefix length%s)'
                  % (what, value, family, ' or a netmask such as 255.255.255.0' if family == 'ipv4' else ''))
    return None


def normalise_service_key(params, errors):
    """Validate the identity of a service (vip, protocol, port or fwmark, and
    family) and return a service dict holding just that, plus a label for
    messages."""
    vip = params.get('vip')
    fwmark = params.get('fwmark')
    protocol = params.get('protocol')
    port = params.get('port')
    family = params.get('family')
    where = 'service'

    service = {}
    if fwmark is not None:
        where = 'service fwmark %s' % fwmark
        clash = [name for name in ('vip', 'port', 'protocol') if params.get(name) is not None]
        if clash:
            errors.append('%s: fwmark identifies the service on its own; remove %s' % (where, ', '.join(clash)))
        service['fwmark'] = _int_in_range(fwmark, 1, MAX_FWMARK, '%s: fwmark' % where, errors)
        service['family'] = family or 'ipv4'
        service['protocol'] = service['vip'] = service['port'] = None
    elif vip is None:
        errors.append('service: give either vip (with protocol and port) or fwmark')
        service.update(fwmark=None, family=family or 'ipv4', protocol=None, vip=None, port=None)
    else:
        where = 'service %s %s' % (protocol or 'tcp', vip if port is None else hostport(str(vip), port))
        address = _address(vip, '%s: vip' % where, errors)
        service['fwmark'] = None
        service['protocol'] = protocol or 'tcp'
        if service['protocol'] not in PROTOCOLS:
            errors.append('%s: protocol must be one of %s, not %r' % (where, ', '.join(sorted(PROTOCOLS)), protocol))
        if address is not None:
            service['vip'] = address.text
            service['family'] = 'ipv6' if address.version == 6 else 'ipv4'
            if family and family != service['family']:
                errors.append('%s: family %s does not match the %s address %s'
                              % (where, family, service['family'], service['vip']))
        else:
            service['vip'] = str(vip)
            service['family'] = family or 'ipv4'
        if port is None:
            errors.append('%s: port is required with vip (0 means every port, with persistence)' % where)
        service['port'] = _int_in_range(port, 0, 65535, '%s: port' % where, errors)
    if service['family'] not in FAMILIES:
        errors.append('%s: family must be ipv4 or ipv6, not %r' % (where, service['family']))
        service['family'] = 'ipv4'
    return service, where


def normalise_service(params, errors, with_real_servers=True):
    """Validate one service as given by a user (the module options, or one
    entry of ipvs_table's ``services``) and fill in the defaults.

    Problems are appended to ``errors`` (all of them, not only the first); the
    returned service is meaningful only when no error was added."""
    start = len(errors)
    service, where = normalise_service_key(params, errors)

    scheduler = params.get('scheduler') or DEFAULT_SCHEDULER
    if scheduler not in SCHEDULERS:
        errors.append('%s: unknown scheduler %r; the kernel has %s' % (where, scheduler, ', '.join(SCHEDULERS)))
    service['scheduler'] = scheduler

    flags = []
    for name in params.get('scheduler_flags') or []:
        owner = SCHEDULER_FLAGS.get(name)
        if owner is None:
            errors.append('%s: unknown scheduler flag %r; known flags are %s'
                          % (where, name, ', '.join(sorted(SCHEDULER_FLAGS))))
        elif owner[0] != scheduler:
            errors.append('%s: scheduler flag %s belongs to the %s scheduler, not %s' % (where, name, owner[0], scheduler))
        elif name not in flags:
            flags.append(name)
    service['scheduler_flags'] = sorted(flags)

    timeout = params.get('persistence_timeout')
    timeout = 0 if timeout is None else timeout
    service['persistence_timeout'] = _int_in_range(timeout, 0, MAX_PERSISTENCE_TIMEOUT,
                                                   '%s: persistence_timeout' % where, errors) or 0
    persistent = service['persistence_timeout'] > 0

    netmask = params.get('persistence_netmask')
    if netmask is None:
        service['persistence_netmask'] = HOST_PREFIX[service['family']]
    else:
        service['persistence_netmask'] = parse_netmask(netmask, service['family'], '%s: persistence_netmask' % where,
                                                       errors)
        if not persistent and service['persistence_netmask'] not in (None, HOST_PREFIX[service['family']]):
            errors.append('%s: persistence_netmask only applies to a persistent service; set persistence_timeout' % where)

    engine = params.get('persistence_engine')
    if engine is not None:
        if engine not in PERSISTENCE_ENGINES:
            errors.append('%s: unknown persistence engine %r; the kernel has %s' % (where, engine, ', '.join(PERSISTENCE_ENGINES)))
        if not persistent:
            errors.append('%s: persistence_engine %s needs a persistent service; set persistence_timeout' % (where, engine))
    service['persistence_engine'] = engine

    service['one_packet'] = bool(params.get('one_packet'))
    if service['one_packet'] and service['protocol'] in ('tcp', 'sctp'):
        errors.append('%s: one_packet scheduling only works for UDP (or fwmark) services' % where)

    if service.get('port') == 0 and not persistent:
        errors.append('%s: port 0 (every port) needs a persistent service; set persistence_timeout' % where)

    if not with_real_servers or params.get('real_servers') is None:
        service['real_servers'] = None
        return service

    default_forwarding = params.get('forwarding') or DEFAULT_FORWARDING
    if default_forwarding not in FORWARDING:
        errors.append('%s: forwarding must be one of nat, dr, tun, not %r' % (where, default_forwarding))
        default_forwarding = DEFAULT_FORWARDING
    if len(errors) > start:
        # The real servers are checked against the service: without a sound
        # service their messages would only repeat its problems.
        service['real_servers'] = []
        return service
    real_servers = []
    seen = set()
    label = service_label(service)
    for entry in params.get('real_servers') or []:
        real_server = normalise_real_server(entry, service, errors, default_forwarding, label)
        if real_server is None:
            continue
        key = real_server_key(real_server)
        if key in seen:
            errors.append('%s: real server %s is listed twice' % (where, real_server_label(real_server)))
            continue
        seen.add(key)
        real_servers.append(real_server)
    service['real_servers'] = sorted(real_servers, key=real_server_sort_key)
    return service


def _number(value, low, high, name, problems):
    """An int option within [low, high]; else None and a problem."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return _int_in_range(value, low, high, name, problems)


def normalise_real_server(params, service, errors, default_forwarding=DEFAULT_FORWARDING, label=None):
    """Validate one real server of a (normalised, valid) service and fill in
    the defaults.  Returns None when the address itself is unusable.

    ``label`` is the service's label, when the caller has it already (a table
    has thousands of real servers: the messages are built only on error)."""
    raw_address = params.get('address')
    address = parse_address(raw_address)
    if address is None:
        errors.append('%s: real server %s: %r is not a valid IPv4 or IPv6 address'
                      % (label or service_label(service), raw_address, raw_address))
        return None
    problems = []
    if address.is_multicast or address.is_unspecified or address.is_broadcast:
        problems.append('a real server needs a unicast address')
    if address.is_link_local:
        problems.append('the kernel does not accept a link-local real server address')

    service_port = service['port'] if not service.get('fwmark') else 0
    port = params.get('port')
    forwarding = params.get('forwarding') or default_forwarding
    weight = params.get('weight')
    upper = params.get('upper_threshold')
    lower = params.get('lower_threshold')
    real = {
        'address': address.text,
        'port': _number(service_port if port is None else port, 0, 65535, 'port', problems),
        'weight': _number(1 if weight is None else weight, 0, MAX_WEIGHT, 'weight', problems),
        'forwarding': forwarding,
        'upper_threshold': _number(upper or 0, 0, MAX_THRESHOLD, 'upper_threshold', problems),
        'lower_threshold': _number(lower or 0, 0, MAX_THRESHOLD, 'lower_threshold', problems),
        'tunnel_type': None,
        'tunnel_port': None,
        'tunnel_checksum': None,
    }
    if forwarding not in FORWARDING:
        problems.append('forwarding must be one of nat, dr, tun, not %r' % (forwarding,))
    if real['upper_threshold'] is not None and real['lower_threshold'] is not None \
            and real['lower_threshold'] > real['upper_threshold']:
        problems.append('lower_threshold %d is above upper_threshold %d (0 means no upper limit, so a lower '
                        'threshold needs an upper one)' % (real['lower_threshold'], real['upper_threshold']))
    if forwarding in ('dr', 'tun') and real['port'] is not None and real['port'] != service_port:
        problems.append('%s forwarding cannot map ports: the real server port must be the service port %d '
                        '(use nat to map ports)' % (forwarding, service_port))
    family = 'ipv6' if address.version == 6 else 'ipv4'
    if family != service['family'] and forwarding != 'tun':
        problems.append('an %s real server in an %s service needs tun forwarding (the kernel mixes address '
                        'families only when tunnelling)' % (family, service['family']))

    tunnel_type = params.get('tunnel_type')
    tunnel_port = params.get('tunnel_port')
    checksum = params.get('tunnel_checksum')
    if forwarding != 'tun':
        given = [name for name, value in (('tunnel_type', tunnel_type), ('tunnel_port', tunnel_port),
                                          ('tunnel_checksum', checksum)) if value is not None]
        if given:
            problems.append('%s only apply to tun forwarding, not %s' % (', '.join(given), forwarding))
    else:
        _normalise_tunnel(real, tunnel_type, tunnel_port, checksum, problems)

    if problems:
        where = '%s: real server %s' % (label or service_label(service),
                                        hostport(address.text, port) if isinstance(port, int) else address.text)
        errors.extend('%s: %s' % (where, problem) for problem in problems)
    return real


def _normalise_tunnel(real, tunnel_type, tunnel_port, checksum, problems):
    tunnel_type = tunnel_type or 'ipip'
    if tunnel_type not in TUNNEL_TYPES:
        problems.append('tunnel_type must be one of ipip, gue, gre, not %r' % (tunnel_type,))
        tunnel_type = 'ipip'
    real['tunnel_type'] = tunnel_type
    if tunnel_type == 'gue':
        if not tunnel_port:
            problems.append('a gue tunnel needs tunnel_port (the UDP port the real server decapsulates on)')
        else:
            real['tunnel_port'] = _number(tunnel_port, 1, 65535, 'tunnel_port', problems)
    elif tunnel_port is not None:
        problems.append('tunnel_port only applies to gue tunnels, not %s' % tunnel_type)
    checksum = checksum or 'nocsum'
    if checksum not in TUNNEL_CHECKSUMS:
        problems.append('tunnel_checksum must be one of nocsum, csum, remcsum, not %r' % (checksum,))
    elif checksum not in TUNNEL_CHECKSUMS_BY_TYPE[tunnel_type]:
        problems.append('tunnel_checksum %s does not apply to %s tunnels (they take %s)'
                        % (checksum, tunnel_type, ', '.join(TUNNEL_CHECKSUMS_BY_TYPE[tunnel_type])))
    real['tunnel_checksum'] = checksum


def normalise_real_server_key(params, service, errors):
    """Validate only the identity of a real server (address and port), for
    removing or draining it."""
    where = '%s: real server %s' % (service_label(service), params.get('address'))
    address = _address(params.get('address'), where, errors)
    service_port = service['port'] if not service.get('fwmark') else 0
    port = params.get('port')
    port = _int_in_range(service_port if port is None else port, 0, 65535, '%s: port' % where, errors)
    if address is None or port is None:
        return None
    return {'address': address.text, 'port': port}


def check_unique_services(services, errors):
    seen = {}
    for service in services:
        key = service_key(service)
        if key in seen:
            errors.append('%s is listed twice in services (a service is identified by %s)'
                          % (service_label(service),
                             'its fwmark and family' if service.get('fwmark') else 'protocol, vip and port'))
        seen[key] = service


def raise_errors(errors):
    if errors:
        if len(errors) == 1:
            raise LvsError('invalid request: %s' % errors[0])
        raise LvsError('invalid request (%d problems): %s' % (len(errors), '; '.join(errors)))


# ---------------------------------------------------------------------------
# Kernel mapping
# ---------------------------------------------------------------------------

def prefix_to_mask(prefix):
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF if prefix else 0


def mask_to_netmask(mask):
    """An IPv4 mask from the kernel as a prefix length, or as dotted text when
    another tool set a mask that is not contiguous."""
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1) == 0:
        return 32 - inverted.bit_length()
    return str(ipaddress.IPv4Address(mask))


def service_from_kernel(raw):
    """A raw service (from the netlink layer) as a normalised service without
    its real servers (``real_servers`` is set to an empty list)."""
    af = raw.get('af', AF_INET)
    family = FAMILY_NAMES.get(af, str(af))
    flags = raw.get('flags', 0) & ~F_HASHED
    scheduler = raw.get('sched_name')
    service = {'family': family}
    if raw.get('fwmark'):
        service.update(fwmark=raw['fwmark'], protocol=None, vip=None, port=None)
    else:
        service.update(fwmark=None,
                       protocol=PROTOCOL_NAMES.get(raw.get('protocol'), str(raw.get('protocol'))),
                       vip=raw.get('addr'),
                       port=raw.get('port'))
    names = []
    for bit in (F_SCHED1, F_SCHED2, F_SCHED3):
        if flags & bit:
            named = [name for name, (owner, owner_bit) in SCHEDULER_FLAGS.items() if owner == scheduler and owner_bit == bit]
            names.append(named[0] if named else GENERIC_FLAG_NAMES[bit])
    netmask = raw.get('netmask')
    if netmask is None:
        netmask = HOST_PREFIX.get(family, 32)
    elif af == AF_INET:
        netmask = mask_to_netmask(netmask)
    service.update(
        scheduler=scheduler,
        scheduler_flags=sorted(names),
        persistence_timeout=raw.get('timeout', 0) if flags & F_PERSISTENT else 0,
        persistence_netmask=netmask,
        one_packet=bool(flags & F_ONEPACKET),
        persistence_engine=raw.get('pe_name') or None,
        real_servers=[],
    )
    return service


def real_server_from_kernel(raw, with_counters=False):
    forwarding = FORWARDING_NAMES.get(raw.get('fwd_method'), str(raw.get('fwd_method')))
    real = {
        'address': raw['addr'],
        'port': raw['port'],
        'weight': raw.get('weight'),
        'forwarding': forwarding,
        'upper_threshold': raw.get('u_thresh', 0),
        'lower_threshold': raw.get('l_thresh', 0),
        'tunnel_type': None,
        'tunnel_port': None,
        'tunnel_checksum': None,
    }
    if forwarding == 'tun':
        # A kernel older than 5.2 sends no tunnel attributes: it only does ipip.
        tunnel_type = raw.get('tun_type', 0)
        real['tunnel_type'] = TUNNEL_TYPE_NAMES.get(tunnel_type, str(tunnel_type))
        real['tunnel_port'] = raw.get('tun_port') or None
        tunnel_flags = raw.get('tun_flags', 0)
        real['tunnel_checksum'] = TUNNEL_CHECKSUM_NAMES.get(tunnel_flags, str(tunnel_flags))
    if with_counters:
        real['active_connections'] = raw.get('active_conns', 0)
        real['inactive_connections'] = raw.get('inact_conns', 0)
        real['persistent_connections'] = raw.get('persist_conns', 0)
    return real


def service_to_kernel(service):
    """A normalised service as the raw dict the netlink layer packs."""
    af = FAMILIES[service['family']]
    flags = 0
    if service['persistence_timeout']:
        flags |= F_PERSISTENT
    if service['one_packet']:
        flags |= F_ONEPACKET
    for name in service['scheduler_flags']:
        flags |= SCHEDULER_FLAGS[name][1]
    netmask = service['persistence_netmask']
    if af == AF_INET:
        netmask = prefix_to_mask(netmask) if isinstance(netmask, int) else int(ipaddress.IPv4Address(netmask))
    raw = {
        'af': af,
        'sched_name': service['scheduler'],
        'flags': flags,
        'timeout': service['persistence_timeout'],
        'netmask': netmask,
        'pe_name': service['persistence_engine'],
    }
    raw.update(service_key_to_kernel(service))
    return raw


def service_key_to_kernel(service):
    af = FAMILIES[service['family']]
    if service.get('fwmark'):
        return {'af': af, 'fwmark': service['fwmark']}
    return {'af': af, 'protocol': PROTOCOLS[service['protocol']], 'addr': service['vip'], 'port': service['port'],
            'fwmark': 0}


def real_server_to_kernel(real):
    af = AF_INET6 if ':' in real['address'] else AF_INET
    raw = {
        'af': af,
        'addr': real['address'],
        'port': real['port'],
        'fwd_method': FORWARDING[real['forwarding']],
        'weight': real['weight'],
        'u_thresh': real['upper_threshold'],
        'l_thresh': real['lower_threshold'],
    }
    if real['forwarding'] == 'tun':
        raw['tun_type'] = TUNNEL_TYPES[real['tunnel_type']]
        raw['tun_port'] = real['tunnel_port'] or 0
        raw['tun_flags'] = TUNNEL_CHECKSUMS[real['tunnel_checksum']]
    return raw


def real_server_key_to_kernel(real):
    return {'af': AF_INET6 if ':' in real['address'] else AF_INET, 'addr': real['address'], 'port': real['port']}


STATS_NAMES = (
    ('conns', 'connections'), ('inpkts', 'packets_in'), ('outpkts', 'packets_out'),
    ('inbytes', 'bytes_in'), ('outbytes', 'bytes_out'), ('cps', 'connections_per_second'),
    ('inpps', 'packets_in_per_second'), ('outpps', 'packets_out_per_second'),
    ('inbps', 'bytes_in_per_second'), ('outbps', 'bytes_out_per_second'),
)


def stats_from_kernel(raw_stats):
    return dict((name, raw_stats.get(key, 0)) for key, name in STATS_NAMES)
