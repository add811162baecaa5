# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one file of the collection that talks to the kernel's IPVS over generic netlink.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

It knows the wire format and nothing about Ansible or option names:
services and real servers go in and come out as "raw" dicts whose keys
follow the kernel's attribute names (``af``, ``protocol``, ``addr``,
``port``, ``fwmark``, ``sched_name``, ``flags``, ``timeout``, ``netmask``,
``pe_name``; ``fwd_method``, ``weight``, ``u_thresh``, ``l_thresh``,
``tun_type``, ``tun_port``, ``tun_flags``...).  An attribute the kernel did
not send is absent from the dict, so a caller can tell "not supported by
this kernel" from "zero".

Everything here is the standard library (``socket``, ``struct``): the
socket, the generic netlink family resolution (a CTRL_CMD_GETFAMILY request
to the kernel's nlctrl family) and the packing and parsing of messages, so a
director needs no Python library beyond Python itself.  Messages are packed
and parsed with ``struct`` because a generic netlink attribute encoder (such
as pyroute2's, about 0.6 ms per message) is too slow for a table of 10,000
real servers; the unit tests cross-check this codec against pyroute2's.
Change requests are sent in batches (many messages per ``send()``); the
kernel runs them in order, answers an error for each one that fails and an
acknowledgement for the last one of each batch, so one batch costs one round
trip.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError

# ---------------------------------------------------------------------------
# Constants (include/uapi/linux/ip_vs.h, include/uapi/linux/netlink.h)
# ---------------------------------------------------------------------------

GENL_NAME = 'IPVS'
GENL_VERSION = 1
NETLINK_GENERIC = 16

# The generic netlink controller (include/uapi/linux/genetlink.h), which maps
# family names to the ids that are the message types of their messages.
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_VERSION = 1
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLA_TYPE_MASK = 0x3FFF
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10

CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_NEW_DAEMON = 9
CMD_DEL_DAEMON = 10
CMD_GET_DAEMON = 11
CMD_SET_CONFIG = 12
CMD_GET_CONFIG = 13
CMD_SET_INFO = 14
CMD_GET_INFO = 15
CMD_ZERO = 16
CMD_FLUSH = 17

CHANGE_COMMANDS = frozenset((CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE,
                             CMD_NEW_DEST, CMD_SET_DEST, CMD_DEL_DEST))

ATTR_SERVICE = 1
ATTR_DEST = 2
ATTR_DAEMON = 3
ATTR_TIMEOUT_TCP = 4
ATTR_TIMEOUT_TCP_FIN = 5
ATTR_TIMEOUT_UDP = 6

INFO_VERSION = 1
INFO_CONN_TAB_SIZE = 2

SVC_AF = 1
SVC_PROTOCOL = 2
SVC_ADDR = 3
SVC_PORT = 4
SVC_FWMARK = 5
SVC_SCHED_NAME = 6
SVC_FLAGS = 7
SVC_TIMEOUT = 8
SVC_NETMASK = 9
SVC_STATS = 10
SVC_PE_NAME = 11
SVC_STATS64 = 12

DEST_ADDR = 1
DEST_PORT = 2
DEST_FWD_METHOD = 3
DEST_WEIGHT = 4
DEST_U_THRESH = 5
DEST_L_THRESH = 6
DEST_ACTIVE_CONNS = 7
DEST_INACT_CONNS = 8
DEST_PERSIST_CONNS = 9
DEST_STATS = 10
DEST_ADDR_FAMILY = 11
DEST_STATS64 = 12
DEST_TUN_TYPE = 13
DEST_TUN_PORT = 14
DEST_TUN_FLAGS = 15

DAEMON_STATE = 1
DAEMON_MCAST_IFN = 2
DAEMON_SYNC_ID = 3
DAEMON_SYNC_MAXLEN = 4
DAEMON_MCAST_GROUP = 5
DAEMON_MCAST_GROUP6 = 6
DAEMON_MCAST_PORT = 7
DAEMON_MCAST_TTL = 8

STATS_FIELDS = ('conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes',
                'cps', 'inpps', 'outpps', 'inbps', 'outbps')

# Service flags.  HASHED is kernel-internal and set in every reply.
SVC_F_PERSISTENT = 0x1
SVC_F_HASHED = 0x2
SVC_F_ONEPACKET = 0x4
SVC_F_SCHED1 = 0x8
SVC_F_SCHED2 = 0x10
SVC_F_SCHED3 = 0x20

FWD_MASQ = 0
FWD_LOCALNODE = 1
FWD_TUNNEL = 2
FWD_DROUTE = 3
FWD_BYPASS = 4

TUN_IPIP = 0
TUN_GUE = 1
TUN_GRE = 2

TUN_F_CSUM = 0x1
TUN_F_REMCSUM = 0x2

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6

# Messages per send() and the receive buffer.  A batch of 256 service or
# real-server messages is about 30 KiB, far below the default socket buffers;
# acknowledgements are 36 bytes each (NETLINK_CAP_ACK), errors too.
BATCH_MESSAGES = 256
RECV_BUFFER = 65536
DEFAULT_TIMEOUT = 30.0

# ---------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------

_NLMSGHDR = struct.Struct('=IHHII')
_GENLHDR = struct.Struct('=BBH')
_NLAHDR = struct.Struct('=HH')
_U8 = struct.Struct('=B')
_U16 = struct.Struct('=H')
_U32 = struct.Struct('=I')
_U64 = struct.Struct('=Q')
_BE16 = struct.Struct('!H')
_BE32 = struct.Struct('!I')
_I32 = struct.Struct('=i')
_FLAGS = struct.Struct('=II')
_ERRHDR_LEN = 4 + _NLMSGHDR.size

_PADDING = (b'', b'\0\0\0', b'\0\0', b'\0')


def _attr(attr_type, payload):
    """One netlink attribute: header, payload, padding to 4 bytes."""
    length = 4 + len(payload)
    return _NLAHDR.pack(length, attr_type) + payload + _PADDING[length & 3]


def _attr_u8(attr_type, value):
    return _NLAHDR.pack(5, attr_type) + _U8.pack(value) + b'\0\0\0'


def _attr_u16(attr_type, value):
    return _NLAHDR.pack(6, attr_type) + _U16.pack(value) + b'\0\0'


def _attr_be16(attr_type, value):
    return _NLAHDR.pack(6, attr_type) + _BE16.pack(value) + b'\0\0'


def _attr_u32(attr_type, value):
    return _NLAHDR.pack(8, attr_type) + _U32.pack(value)


def _attr_string(attr_type, value):
    return _attr(attr_type, value.encode('ascii') + b'\0')


def pack_address(af, address):
    """A textual address as the kernel's 16-byte union nf_inet_addr."""
    packed = socket.inet_pton(af, address)
    return packed + b'\0' * (16 - len(packed))


def unpack_address(af, data):
    """The kernel's 16-byte address (or a 4-byte IPv4 one) as text."""
    if af == AF_INET6:
        return socket.inet_ntop(AF_INET6, bytes(data[:16]))
    return socket.inet_ntop(AF_INET, bytes(data[:4]))


def pack_netmask(af, netmask):
    """NETMASK is __be32 for IPv4 (0xffffff00 -> ff ff ff 00) but the kernel reads
    it as a host-order prefix length (1-128) for IPv6."""
    if af == AF_INET6:
        return _U32.pack(netmask)
    return _BE32.pack(netmask)


def unpack_netmask(af, data):
    if af == AF_INET6:
        return _U32.unpack_from(data)[0]
    return _BE32.unpack_from(data)[0]


def encode_service_key(service):
    """The attributes that identify a service: AF plus FWMARK, or AF plus
    PROTOCOL, ADDR and PORT.  Returned as a ready IPVS_CMD_ATTR_SERVICE nest."""
    return _attr(ATTR_SERVICE, _service_key_attrs(service))


def _service_key_attrs(service):
    af = service['af']
    if service.get('fwmark'):
        return _attr_u16(SVC_AF, af) + _attr_u32(SVC_FWMARK, service['fwmark'])
    return (_attr_u16(SVC_AF, af)
            + _attr_u16(SVC_PROTOCOL, service['protocol'])
            + _attr(SVC_ADDR, pack_address(af, service['addr']))
            + _attr_be16(SVC_PORT, service['port']))


def encode_service(service):
    """A complete service (NEW/SET_SERVICE): SET is a full replace, so every
    attribute is sent; an absent ``pe_name`` removes the persistence engine."""
    af = service['af']
    body = (_service_key_attrs(service)
            + _attr_string(SVC_SCHED_NAME, service['sched_name'])
            + _NLAHDR.pack(12, SVC_FLAGS) + _FLAGS.pack(service['flags'] & ~SVC_F_HASHED, 0xFFFFFFFF)
            + _attr_u32(SVC_TIMEOUT, service['timeout'])
            + _attr(SVC_NETMASK, pack_netmask(af, service['netmask'])))
    if service.get('pe_name'):
        body += _attr_string(SVC_PE_NAME, service['pe_name'])
    return _attr(ATTR_SERVICE, body)


def encode_dest(dest, full=True):
    """A real server.  ``full`` for NEW/SET_DEST (every attribute, because SET is
    a full replace), key only for DEL_DEST.  Tunnel attributes are sent only
    for the tunnel method, so kernels before 5.2 see the same messages as from
    ipvsadm."""
    af = dest['af']
    body = (_attr(DEST_ADDR, pack_address(af, dest['addr']))
            + _attr_be16(DEST_PORT, dest['port'])
            + _attr_u16(DEST_ADDR_FAMILY, af))
    if full:
        body += (_attr_u32(DEST_FWD_METHOD, dest['fwd_method'])
                 + _attr_u32(DEST_WEIGHT, dest['weight'])
                 + _attr_u32(DEST_U_THRESH, dest['u_thresh'])
                 + _attr_u32(DEST_L_THRESH, dest['l_thresh']))
        if dest['fwd_method'] == FWD_TUNNEL:
            body += (_attr_u8(DEST_TUN_TYPE, dest.get('tun_type') or 0)
                     + _attr_be16(DEST_TUN_PORT, dest.get('tun_port') or 0)
                     + _attr_u16(DEST_TUN_FLAGS, dest.get('tun_flags') or 0))
    return _attr(ATTR_DEST, body)


def genl_body(cmd, attrs=b''):
    """A generic netlink payload (genl header + attributes), without the
    netlink header, which gets its sequence number when it is sent."""
    return _GENLHDR.pack(cmd, GENL_VERSION, 0) + attrs


def service_request(cmd, service):
    """NEW/SET/DEL_SERVICE as a payload for :meth:`IpvsSocket.execute`."""
    if cmd == CMD_DEL_SERVICE:
        return genl_body(cmd, encode_service_key(service))
    return genl_body(cmd, encode_service(service))


def dest_request(cmd, service_key_nest, dest):
    """NEW/SET/DEL_DEST; ``service_key_nest`` from :func:`encode_service_key`
    (packed once per service, reused for each of its real servers)."""
    return genl_body(cmd, service_key_nest + encode_dest(dest, full=cmd != CMD_DEL_DEST))


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

def iter_attrs(data, pos, end):
    """Yield (type, value_start, value_end) for the attributes in data[pos:end]."""
    unpack = _NLAHDR.unpack_from
    while pos + 4 <= end:
        length, attr_type = unpack(data, pos)
        if length < 4 or pos + length > end:
            break
        yield attr_type & NLA_TYPE_MASK, pos + 4, pos + length
        pos += (length + 3) & ~3


def _find_nest(data, pos, end, wanted):
    for attr_type, start, stop in iter_attrs(data, pos, end):
        if attr_type == wanted:
            return start, stop
    return None


def decode_stats(data, pos, end, wide):
    """A statistics nest as a dict keyed by STATS_FIELDS."""
    stats = {}
    for attr_type, start, stop in iter_attrs(data, pos, end):
        if 1 <= attr_type <= len(STATS_FIELDS):
            if wide or stop - start == 8:
                stats[STATS_FIELDS[attr_type - 1]] = _U64.unpack_from(data, start)[0]
            else:
                stats[STATS_FIELDS[attr_type - 1]] = _U32.unpack_from(data, start)[0]
    return stats


_SVC_SCALARS = {
    SVC_AF: ('af', _U16),
    SVC_PROTOCOL: ('protocol', _U16),
    SVC_PORT: ('port', _BE16),
    SVC_FWMARK: ('fwmark', _U32),
    SVC_TIMEOUT: ('timeout', _U32),
}

_DEST_SCALARS = {
    DEST_PORT: ('port', _BE16),
    DEST_FWD_METHOD: ('fwd_method', _U32),
    DEST_WEIGHT: ('weight', _I32),
    DEST_U_THRESH: ('u_thresh', _U32),
    DEST_L_THRESH: ('l_thresh', _U32),
    DEST_ACTIVE_CONNS: ('active_conns', _U32),
    DEST_INACT_CONNS: ('inact_conns', _U32),
    DEST_PERSIST_CONNS: ('persist_conns', _U32),
    DEST_ADDR_FAMILY: ('af', _U16),
    DEST_TUN_TYPE: ('tun_type', _U8),
    DEST_TUN_PORT: ('tun_port', _BE16),
    DEST_TUN_FLAGS: ('tun_flags', _U16),
}


def decode_service(data, pos, end, with_stats=False):
    """The attributes of an IPVS_CMD_ATTR_SERVICE nest as a raw service dict."""
    service = {}
    addr = netmask = None
    stats = stats64 = None
    for attr_type, start, stop in iter_attrs(data, pos, end):
        scalar = _SVC_SCALARS.get(attr_type)
        if scalar is not None:
            service[scalar[0]] = scalar[1].unpack_from(data, start)[0]
        elif attr_type == SVC_ADDR:
            addr = data[start:stop]
        elif attr_type == SVC_SCHED_NAME:
            service['sched_name'] = bytes(data[start:stop]).split(b'\0', 1)[0].decode('ascii')
        elif attr_type == SVC_PE_NAME:
            service['pe_name'] = bytes(data[start:stop]).split(b'\0', 1)[0].decode('ascii')
        elif attr_type == SVC_FLAGS:
            service['flags'] = _FLAGS.unpack_from(data, start)[0]
        elif attr_type == SVC_NETMASK:
            netmask = data[start:stop]
        elif with_stats and attr_type == SVC_STATS:
            stats = (start, stop)
        elif with_stats and attr_type == SVC_STATS64:
            stats64 = (start, stop)
    af = service.get('af', AF_INET)
    if addr is not None:
        service['addr'] = unpack_address(af, addr)
    if netmask is not None:
        service['netmask'] = unpack_netmask(af, netmask)
    if stats64 is not None:
        service['stats'] = decode_stats(data, stats64[0], stats64[1], True)
    elif stats is not None:
        service['stats'] = decode_stats(data, stats[0], stats[1], False)
    return service


# The attributes a kernel from 5.3 on sends first for a real server, in its
# order (ip_vs_genl_fill_dest): with this layout one unpack decodes them all.
_DEST_LAYOUT = struct.Struct('=HH16s HHH2x HHI HHi HHB3x HHH2x HHH2x HHI HHI HHI HHI HHI HHH2x')
_DEST_LAYOUT_HEADERS = ((20, DEST_ADDR), (6, DEST_PORT), (8, DEST_FWD_METHOD), (8, DEST_WEIGHT), (5, DEST_TUN_TYPE),
                        (6, DEST_TUN_PORT), (6, DEST_TUN_FLAGS), (8, DEST_U_THRESH), (8, DEST_L_THRESH),
                        (8, DEST_ACTIVE_CONNS), (8, DEST_INACT_CONNS), (8, DEST_PERSIST_CONNS), (6, DEST_ADDR_FAMILY))
_DEST_LAYOUT_CHECK = tuple(value for header in _DEST_LAYOUT_HEADERS for value in header)
_DEST_LAYOUT_HEADER_INDEXES = (0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 24, 25, 27, 28, 30, 31, 33,
                               34, 36, 37)


def _swap16(value):
    return ((value & 0xFF) << 8) | (value >> 8)


def decode_dest(data, pos, end, service_af, with_stats=False):
    """The attributes of an IPVS_CMD_ATTR_DEST nest as a raw real-server dict.
    Kernels before 3.18 send no ADDR_FAMILY: the service's family applies."""
    if not with_stats and end - pos >= _DEST_LAYOUT.size:
        values = _DEST_LAYOUT.unpack_from(data, pos)
        if tuple(values[index] for index in _DEST_LAYOUT_HEADER_INDEXES) == _DEST_LAYOUT_CHECK:
            af = values[38]
            return {
                'addr': unpack_address(af, values[2]), 'port': _swap16(values[5]), 'fwd_method': values[8],
                'weight': values[11], 'tun_type': values[14], 'tun_port': _swap16(values[17]),
                'tun_flags': values[20], 'u_thresh': values[23], 'l_thresh': values[26], 'active_conns': values[29],
                'inact_conns': values[32], 'persist_conns': values[35], 'af': af,
            }
    return _decode_dest_attributes(data, pos, end, service_af, with_stats)


def _decode_dest_attributes(data, pos, end, service_af, with_stats):
    dest = {}
    addr = None
    stats = stats64 = None
    for attr_type, start, stop in iter_attrs(data, pos, end):
        scalar = _DEST_SCALARS.get(attr_type)
        if scalar is not None:
            dest[scalar[0]] = scalar[1].unpack_from(data, start)[0]
        elif attr_type == DEST_ADDR:
            addr = data[start:stop]
        elif with_stats and attr_type == DEST_STATS:
            stats = (start, stop)
        elif with_stats and attr_type == DEST_STATS64:
            stats64 = (start, stop)
    af = dest.setdefault('af', service_af)
    if addr is not None:
        dest['addr'] = unpack_address(af, addr)
    if stats64 is not None:
        dest['stats'] = decode_stats(data, stats64[0], stats64[1], True)
    elif stats is not None:
        dest['stats'] = decode_stats(data, stats[0], stats[1], False)
    return dest


def decode_daemon(data, pos, end):
    daemon = {}
    for attr_type, start, stop in iter_attrs(data, pos, end):
        if attr_type == DAEMON_STATE:
            daemon['state'] = _U32.unpack_from(data, start)[0]
        elif attr_type == DAEMON_MCAST_IFN:
            daemon['mcast_ifn'] = bytes(data[start:stop]).split(b'\0', 1)[0].decode('ascii', 'replace')
        elif attr_type == DAEMON_SYNC_ID:
            daemon['sync_id'] = _U32.unpack_from(data, start)[0]
        elif attr_type == DAEMON_SYNC_MAXLEN:
            daemon['sync_maxlen'] = _U16.unpack_from(data, start)[0]
        elif attr_type == DAEMON_MCAST_GROUP:
            daemon['mcast_group'] = socket.inet_ntop(AF_INET, bytes(data[start:start + 4]))
        elif attr_type == DAEMON_MCAST_GROUP6:
            daemon['mcast_group'] = socket.inet_ntop(AF_INET6, bytes(data[start:start + 16]))
        elif attr_type == DAEMON_MCAST_PORT:
            daemon['mcast_port'] = _U16.unpack_from(data, start)[0]
        elif attr_type == DAEMON_MCAST_TTL:
            daemon['mcast_ttl'] = _U8.unpack_from(data, start)[0]
    return daemon


def decode_top_u32(data, pos, end):
    """Top-level u32 attributes of a reply (GET_INFO, GET_CONFIG) by type."""
    return dict((attr_type, _U32.unpack_from(data, start)[0])
                for attr_type, start, stop in iter_attrs(data, pos, end) if stop - start >= 4)


def iter_messages(data, length):
    """Yield (type, flags, seq, payload_start, payload_end) of the netlink
    messages in data[:length]."""
    pos = 0
    unpack = _NLMSGHDR.unpack_from
    while pos + 16 <= length:
        msg_len, msg_type, flags, seq, _pid = unpack(data, pos)
        if msg_len < 16 or pos + msg_len > length:
            break
        yield msg_type, flags, seq, pos + 16, pos + msg_len
        pos += (msg_len + 3) & ~3


# ---------------------------------------------------------------------------
# The socket
# ---------------------------------------------------------------------------

class IpvsUnavailable(LvsError):
    """The kernel has no IPVS generic netlink family: ip_vs is not loaded."""


class NetlinkFailure(LvsError):
    """A netlink request the kernel answered with an error number."""

    def __init__(self, message, code):
        super(NetlinkFailure, self).__init__(message)
        self.code = code


def _permission_or(code, what):
    if code in (errno.EPERM, errno.EACCES):
        return NetlinkFailure('permission denied while %s: managing IPVS needs root (CAP_NET_ADMIN in the initial '
                              'network namespace); use become: true' % what, code)
    return NetlinkFailure('%s failed: %s' % (what, os.strerror(code)), code)


def _netlink_socket(timeout):
    """A bound NETLINK_GENERIC socket with a receive timeout."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        try:
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:  # kernels before 4.3 echo the request in every ack
            pass
        # A receive timeout in the kernel rather than select() before each
        # recv(): one system call less per read, and a table is read with
        # one dump per service.
        seconds = int(timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack('@ll', seconds, int((timeout - seconds) * 1000000)))
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class IpvsSocket(object):
    """A netlink socket speaking the IPVS family, with request counters.

    ``requests`` counts the change messages sent (NEW/SET/DEL), ``sends`` the
    ``send()`` calls that carried them, ``dumps`` the read requests."""

    def __init__(self, family_id, sock=None, timeout=DEFAULT_TIMEOUT, batch=BATCH_MESSAGES):
        self.family_id = family_id
        self.timeout = timeout
        self.batch = batch
        self.requests = 0
        self.sends = 0
        self.dumps = 0
        self._seq = int(time.time()) & 0x7FFFFFFF
        self._buf = bytearray(RECV_BUFFER)
        if sock is None:
            try:
                sock = _netlink_socket(timeout)
            except OSError as exc:
                raise _permission_or(exc.errno or errno.EIO, 'opening a generic netlink socket')
        self._sock = sock

    @classmethod
    def open(cls, name=GENL_NAME, **kwargs):
        """A socket for the family ``name`` (IPVS), its id resolved over the
        socket itself.  Raises IpvsUnavailable when the kernel has no such
        family (ip_vs is not loaded)."""
        ipvs = cls(None, **kwargs)
        try:
            ipvs.family_id = ipvs.resolve_family(name)
        except BaseException:
            ipvs.close()
            raise
        return ipvs

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- low level ----------------------------------------------------------

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def _frame(self, body, flags, seq):
        return _NLMSGHDR.pack(16 + len(body), self.family_id, flags, seq, 0) + body

    def _recv(self):
        """One datagram into the reusable buffer; returns (buffer, length)."""
        try:
            length = self._sock.recv_into(self._buf)
        except (BlockingIOError, socket.timeout):
            raise LvsError('no answer from the kernel over netlink within %s seconds' % self.timeout)
        return self._buf, length

    def resolve_family(self, name=GENL_NAME):
        """The id of the generic netlink family ``name``: CTRL_CMD_GETFAMILY
        to the kernel's controller (nlctrl), whose reply carries
        CTRL_ATTR_FAMILY_ID.  The kernel answers ENOENT for a family that is
        not registered, which for IPVS means that ip_vs is not loaded."""
        seq = self._next_seq()
        body = _GENLHDR.pack(CTRL_CMD_GETFAMILY, CTRL_VERSION, 0) + _attr_string(CTRL_ATTR_FAMILY_NAME, name)
        self._sock.send(_NLMSGHDR.pack(16 + len(body), GENL_ID_CTRL, NLM_F_REQUEST, seq, 0) + body)
        what = 'resolving the %s generic netlink family' % name
        while True:
            data, length = self._recv()
            for msg_type, _flags, msg_seq, start, end in iter_messages(data, length):
                if msg_seq != seq:
                    continue
                if msg_type == NLMSG_ERROR:
                    code = -_I32.unpack_from(data, start)[0]
                    if code == errno.ENOENT:
                        raise IpvsUnavailable('the kernel has no %s generic netlink family: the ip_vs kernel module '
                                              'is not loaded' % name)
                    if code:
                        raise _permission_or(code, what)
                else:
                    for attr_type, value_start, value_end in iter_attrs(data, start + _GENLHDR.size, end):
                        if attr_type == CTRL_ATTR_FAMILY_ID and value_end - value_start >= _U16.size:
                            return _U16.unpack_from(data, value_start)[0]
                raise LvsError('%s failed: the kernel answered without a family id' % what)

    # -- requests -----------------------------------------------------------

    def execute(self, bodies, on_error=None):
        """Send change requests (payloads from service_request/dest_request) in
        batches, one round trip per batch.  Returns a list of
        (index, errno) for the requests the kernel refused; the others took
        effect (the kernel does not stop at a failed message)."""
        failures = []
        count = len(bodies)
        index = 0
        while index < count:
            chunk = bodies[index:index + self.batch]
            seqs = {}
            frames = []
            last = len(chunk) - 1
            for offset, body in enumerate(chunk):
                seq = self._next_seq()
                seqs[seq] = index + offset
                flags = NLM_F_REQUEST | NLM_F_ACK if offset == last else NLM_F_REQUEST
                frames.append(self._frame(body, flags, seq))
            last_seq = seq
            self._sock.send(b''.join(frames))
            self.sends += 1
            self.requests += len(chunk)
            done = False
            while not done:
                data, length = self._recv()
                for msg_type, _flags, msg_seq, start, _end in iter_messages(data, length):
                    if msg_seq not in seqs:
                        continue
                    if msg_type == NLMSG_ERROR:
                        code = -_I32.unpack_from(data, start)[0]
                        if code:
                            failures.append((seqs[msg_seq], code))
                            if on_error is not None:
                                on_error(seqs[msg_seq], code)
                        if msg_seq == last_seq:
                            done = True
            index += len(chunk)
        return failures

    def request(self, cmd, attrs=b''):
        """One read request with a single reply; returns (data, start, end) of
        the reply's attributes, or raises NetlinkFailure."""
        seq = self._next_seq()
        self._sock.send(self._frame(genl_body(cmd, attrs), NLM_F_REQUEST, seq))
        self.dumps += 1
        while True:
            data, length = self._recv()
            for msg_type, _flags, msg_seq, start, end in iter_messages(data, length):
                if msg_seq != seq:
                    continue
                if msg_type == NLMSG_ERROR:
                    code = -_I32.unpack_from(data, start)[0]
                    raise _permission_or(code, 'IPVS netlink request %d' % cmd)
                return bytes(data[start + 4:end]), 0, end - start - 4

    def dump(self, cmd, attrs, decode):
        """A dump request; ``decode(data, attrs_start, attrs_end)`` is called for
        each reply message and its results are returned as a list."""
        seq = self._next_seq()
        self._sock.send(self._frame(genl_body(cmd, attrs), NLM_F_REQUEST | NLM_F_DUMP, seq))
        self.dumps += 1
        results = []
        while True:
            data, length = self._recv()
            for msg_type, _flags, msg_seq, start, end in iter_messages(data, length):
                if msg_seq != seq:
                    continue
                if msg_type == NLMSG_DONE:
                    return results
                if msg_type == NLMSG_ERROR:
                    code = -_I32.unpack_from(data, start)[0]
                    raise _permission_or(code, 'IPVS netlink dump %d' % cmd)
                results.append(decode(data, start + 4, end))

    # -- reads --------------------------------------------------------------

    def dump_services(self, with_stats=False):
        def decode(data, pos, end):
            nest = _find_nest(data, pos, end, ATTR_SERVICE)
            return decode_service(data, nest[0], nest[1], with_stats) if nest else None
        return [svc for svc in self.dump(CMD_GET_SERVICE, b'', decode) if svc]

    def get_service(self, service, with_stats=False):
        """One service by its key, or None when it does not exist."""
        try:
            data, pos, end = self.request(CMD_GET_SERVICE, encode_service_key(service))
        except NetlinkFailure as exc:
            if exc.code == errno.ESRCH:
                return None
            raise
        nest = _find_nest(data, pos, end, ATTR_SERVICE)
        return decode_service(data, nest[0], nest[1], with_stats) if nest else None

    def dump_dests(self, service, with_stats=False):
        """The real servers of a service (an empty list if it does not exist)."""
        service_af = service['af']

        def decode(data, pos, end):
            nest = _find_nest(data, pos, end, ATTR_DEST)
            return decode_dest(data, nest[0], nest[1], service_af, with_stats) if nest else None
        return [dest for dest in self.dump(CMD_GET_DEST, encode_service_key(service), decode) if dest]

    def dump_daemons(self):
        def decode(data, pos, end):
            nest = _find_nest(data, pos, end, ATTR_DAEMON)
            return decode_daemon(data, nest[0], nest[1]) if nest else None
        return [daemon for daemon in self.dump(CMD_GET_DAEMON, b'', decode) if daemon]

    def get_info(self):
        data, pos, end = self.request(CMD_GET_INFO)
        values = decode_top_u32(data, pos, end)
        version = values.get(INFO_VERSION, 0)
        return {
            'version': '%d.%d.%d' % ((version >> 16) & 0xFF, (version >> 8) & 0xFF, version & 0xFF),
            'connection_table_size': values.get(INFO_CONN_TAB_SIZE),
        }

    def get_config(self):
        data, pos, end = self.request(CMD_GET_CONFIG)
        values = decode_top_u32(data, pos, end)
        return {
            'tcp': values.get(ATTR_TIMEOUT_TCP),
            'tcp_fin': values.get(ATTR_TIMEOUT_TCP_FIN),
            'udp': values.get(ATTR_TIMEOUT_UDP),
        }
