# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A simulated kernel IPVS behind a socket-like object, for the unit tests.

It decodes the requests it receives with pyroute2's codec (driven by the
message classes below, which describe the IPVS family's wire format) and
encodes its replies with pyroute2 too, so the collection's own struct packer
and parser are checked against an independent implementation of the wire
format.  The collection itself does not use pyroute2 for IPVS; only these
tests do.  The kernel's generic netlink controller (nlctrl) answers the
family look-up (CTRL_CMD_GETFAMILY) the same way: IPVS's id while ip_vs is
loaded, ENOENT when it is not, or an error the test chooses.  Its rules follow
net/netfilter/ipvs/ip_vs_ctl.c: the errors (EEXIST, ESRCH, ENOENT, EINVAL,
ERANGE), flags masks, the HASHED bit in every reply, IPv6 netmask as a
prefix length, mixed address families only with tunnelling, GUE needing a
port, and (in ``old_kernel`` mode) tunnel attributes silently ignored.
"""

from __future__ import annotations

import collections
import errno
import socket
import struct

from pyroute2.netlink import ctrlmsg, genlmsg, nla

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import netlink as nl

FAMILY_ID = 0x1C
SCHEDULERS = frozenset(('rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'))
ENGINES = frozenset(('sip',))

_NLMSGHDR = struct.Struct('=IHHII')


def _addr_text(af, data):
    if af == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, data[:16])
    return socket.inet_ntop(socket.AF_INET, data[:4])


def _addr_bytes(af, text):
    packed = socket.inet_pton(af, text)
    return packed + b'\0' * (16 - len(packed))


def _attrs(nla_obj):
    """pyroute2 attributes of a decoded nest as a dict name -> value."""
    return dict((item[0], item[1]) for item in nla_obj['attrs'])


# ---------------------------------------------------------------------------
# The IPVS family's messages as pyroute2 classes (include/uapi/linux/ip_vs.h)
# ---------------------------------------------------------------------------

class IpvsStats(nla):
    """Statistics nest with 32-bit counters (IPVS_SVC_ATTR_STATS, IPVS_DEST_ATTR_STATS)."""

    nla_map = (
        ('IPVS_STATS_ATTR_UNSPEC', 'none'),
        ('IPVS_STATS_ATTR_CONNS', 'uint32'),
        ('IPVS_STATS_ATTR_INPKTS', 'uint32'),
        ('IPVS_STATS_ATTR_OUTPKTS', 'uint32'),
        ('IPVS_STATS_ATTR_INBYTES', 'uint64'),
        ('IPVS_STATS_ATTR_OUTBYTES', 'uint64'),
        ('IPVS_STATS_ATTR_CPS', 'uint32'),
        ('IPVS_STATS_ATTR_INPPS', 'uint32'),
        ('IPVS_STATS_ATTR_OUTPPS', 'uint32'),
        ('IPVS_STATS_ATTR_INBPS', 'uint32'),
        ('IPVS_STATS_ATTR_OUTBPS', 'uint32'),
        ('IPVS_STATS_ATTR_PAD', 'none'),
    )


class IpvsStats64(nla):
    """Statistics nest with 64-bit counters (IPVS_SVC_ATTR_STATS64, IPVS_DEST_ATTR_STATS64)."""

    nla_map = (
        ('IPVS_STATS_ATTR_UNSPEC', 'none'),
        ('IPVS_STATS_ATTR_CONNS', 'uint64'),
        ('IPVS_STATS_ATTR_INPKTS', 'uint64'),
        ('IPVS_STATS_ATTR_OUTPKTS', 'uint64'),
        ('IPVS_STATS_ATTR_INBYTES', 'uint64'),
        ('IPVS_STATS_ATTR_OUTBYTES', 'uint64'),
        ('IPVS_STATS_ATTR_CPS', 'uint64'),
        ('IPVS_STATS_ATTR_INPPS', 'uint64'),
        ('IPVS_STATS_ATTR_OUTPPS', 'uint64'),
        ('IPVS_STATS_ATTR_INBPS', 'uint64'),
        ('IPVS_STATS_ATTR_OUTBPS', 'uint64'),
        ('IPVS_STATS_ATTR_PAD', 'none'),
    )


class IpvsServiceFlags(nla):
    """struct ip_vs_flags: only the bits set in ``mask`` are changed by the kernel."""

    fields = (('flags', 'I'), ('mask', 'I'))


class IpvsService(nla):
    """IPVS_CMD_ATTR_SERVICE.  ADDR is 16 bytes (union nf_inet_addr); NETMASK is a
    big-endian mask for IPv4 but a host-order prefix length for IPv6, so it is
    typed as raw bytes here."""

    nla_map = (
        ('IPVS_SVC_ATTR_UNSPEC', 'none'),
        ('IPVS_SVC_ATTR_AF', 'uint16'),
        ('IPVS_SVC_ATTR_PROTOCOL', 'uint16'),
        ('IPVS_SVC_ATTR_ADDR', 'cdata'),
        ('IPVS_SVC_ATTR_PORT', 'be16'),
        ('IPVS_SVC_ATTR_FWMARK', 'uint32'),
        ('IPVS_SVC_ATTR_SCHED_NAME', 'asciiz'),
        ('IPVS_SVC_ATTR_FLAGS', 'flags'),
        ('IPVS_SVC_ATTR_TIMEOUT', 'uint32'),
        ('IPVS_SVC_ATTR_NETMASK', 'cdata'),
        ('IPVS_SVC_ATTR_STATS', 'stats'),
        ('IPVS_SVC_ATTR_PE_NAME', 'asciiz'),
        ('IPVS_SVC_ATTR_STATS64', 'stats64'),
    )
    flags = IpvsServiceFlags
    stats = IpvsStats
    stats64 = IpvsStats64


class IpvsDest(nla):
    """IPVS_CMD_ATTR_DEST (a real server).  PORT and TUN_PORT are big-endian."""

    nla_map = (
        ('IPVS_DEST_ATTR_UNSPEC', 'none'),
        ('IPVS_DEST_ATTR_ADDR', 'cdata'),
        ('IPVS_DEST_ATTR_PORT', 'be16'),
        ('IPVS_DEST_ATTR_FWD_METHOD', 'uint32'),
        ('IPVS_DEST_ATTR_WEIGHT', 'uint32'),
        ('IPVS_DEST_ATTR_U_THRESH', 'uint32'),
        ('IPVS_DEST_ATTR_L_THRESH', 'uint32'),
        ('IPVS_DEST_ATTR_ACTIVE_CONNS', 'uint32'),
        ('IPVS_DEST_ATTR_INACT_CONNS', 'uint32'),
        ('IPVS_DEST_ATTR_PERSIST_CONNS', 'uint32'),
        ('IPVS_DEST_ATTR_STATS', 'stats'),
        ('IPVS_DEST_ATTR_ADDR_FAMILY', 'uint16'),
        ('IPVS_DEST_ATTR_STATS64', 'stats64'),
        ('IPVS_DEST_ATTR_TUN_TYPE', 'uint8'),
        ('IPVS_DEST_ATTR_TUN_PORT', 'be16'),
        ('IPVS_DEST_ATTR_TUN_FLAGS', 'uint16'),
    )
    stats = IpvsStats
    stats64 = IpvsStats64


class IpvsDaemon(nla):
    """IPVS_CMD_ATTR_DAEMON (connection synchronisation daemon)."""

    nla_map = (
        ('IPVS_DAEMON_ATTR_UNSPEC', 'none'),
        ('IPVS_DAEMON_ATTR_STATE', 'uint32'),
        ('IPVS_DAEMON_ATTR_MCAST_IFN', 'asciiz'),
        ('IPVS_DAEMON_ATTR_SYNC_ID', 'uint32'),
        ('IPVS_DAEMON_ATTR_SYNC_MAXLEN', 'uint16'),
        ('IPVS_DAEMON_ATTR_MCAST_GROUP', 'ip4addr'),
        ('IPVS_DAEMON_ATTR_MCAST_GROUP6', 'ip6addr'),
        ('IPVS_DAEMON_ATTR_MCAST_PORT', 'uint16'),
        ('IPVS_DAEMON_ATTR_MCAST_TTL', 'uint8'),
    )


class IpvsMessage(genlmsg):
    """A message of the IPVS generic netlink family (commands other than GET_INFO)."""

    nla_map = (
        ('IPVS_CMD_ATTR_UNSPEC', 'none'),
        ('IPVS_CMD_ATTR_SERVICE', 'service'),
        ('IPVS_CMD_ATTR_DEST', 'dest'),
        ('IPVS_CMD_ATTR_DAEMON', 'daemon'),
        ('IPVS_CMD_ATTR_TIMEOUT_TCP', 'uint32'),
        ('IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', 'uint32'),
        ('IPVS_CMD_ATTR_TIMEOUT_UDP', 'uint32'),
    )
    service = IpvsService
    dest = IpvsDest
    daemon = IpvsDaemon


class IpvsInfoMessage(genlmsg):
    """The reply to IPVS_CMD_GET_INFO: its top-level attributes reuse ids 1 and 2."""

    nla_map = (
        ('IPVS_INFO_ATTR_UNSPEC', 'none'),
        ('IPVS_INFO_ATTR_VERSION', 'uint32'),
        ('IPVS_INFO_ATTR_CONN_TAB_SIZE', 'uint32'),
    )


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


class FakeKernel(object):
    """The kernel side.  ``services`` maps a key tuple to a dict holding the
    service's raw fields and its ``dests`` (key (af, addr, port) -> dict)."""

    def __init__(self, old_kernel=False, schedulers=SCHEDULERS, refuse_addresses=(), mtu_messages=3, loaded=True,
                 family_error=None):
        self.loaded = loaded                # ip_vs has registered the IPVS family
        self.family_error = family_error    # an errno the controller answers every family look-up with
        self.family_requests = []           # the family names looked up
        self.services = collections.OrderedDict()
        self.old_kernel = old_kernel
        self.schedulers = schedulers
        self.refuse_addresses = set(refuse_addresses)
        self.mtu_messages = mtu_messages
        self.received = []          # (cmd, flags) of every request
        self.timeouts = {'tcp': 900, 'tcp_fin': 120, 'udp': 300}
        self.daemons = []

    # -- what tests look at -------------------------------------------------

    @property
    def change_requests(self):
        return [cmd for cmd, _flags in self.received if cmd in nl.CHANGE_COMMANDS]

    def snapshot(self):
        """The whole table as plain data, to compare before and after."""
        return [(key, dict((k, v) for k, v in svc.items() if k != 'dests'), sorted(svc['dests'].items()))
                for key, svc in sorted(self.services.items(), key=repr)]

    # -- helpers to set up state directly ---------------------------------

    def add_service(self, **fields):
        svc = dict(af=socket.AF_INET, protocol=6, addr=None, port=0, fwmark=0, sched_name='wlc', flags=0, timeout=0,
                   netmask=0xFFFFFFFF, pe_name=None)
        svc.update(fields)
        if svc['af'] == socket.AF_INET6 and 'netmask' not in fields:
            svc['netmask'] = 128
        svc['dests'] = collections.OrderedDict()
        self.services[self._key(svc)] = svc
        return svc

    def add_dest(self, svc, **fields):
        dest = dict(af=svc['af'], addr=None, port=svc['port'], fwd_method=nl.FWD_DROUTE, weight=1, u_thresh=0,
                    l_thresh=0, tun_type=0, tun_port=0, tun_flags=0, active_conns=0, inact_conns=0, persist_conns=0)
        dest.update(fields)
        svc['dests'][(dest['af'], dest['addr'], dest['port'])] = dest
        return dest

    @staticmethod
    def _key(svc):
        if svc.get('fwmark'):
            return (svc['af'], 'fwmark', svc['fwmark'])
        return (svc['af'], svc['protocol'], svc['addr'], svc['port'])

    # -- request handling ---------------------------------------------------

    def handle(self, data):
        """Process a send(); returns the reply datagrams."""
        replies = []
        pos = 0
        while pos < len(data):
            length, msg_type, flags, seq, _pid = _NLMSGHDR.unpack_from(data, pos)
            message = data[pos:pos + length]
            pos += (length + 3) & ~3
            if msg_type == nl.GENL_ID_CTRL:
                replies.extend(self._controller(flags, seq, message))
                continue
            assert msg_type == FAMILY_ID, msg_type
            cmd = message[16]
            self.received.append((cmd, flags))
            replies.extend(self._dispatch(cmd, flags, seq, message))
        return replies

    def _controller(self, flags, seq, message):
        """nlctrl: CTRL_CMD_GETFAMILY by name, answered as ctrl_getfamily()
        in net/netlink/genetlink.c does (the attributes in its order)."""
        request = ctrlmsg(message)
        request.decode()
        assert request['cmd'] == nl.CTRL_CMD_GETFAMILY, request['cmd']
        assert flags == nl.NLM_F_REQUEST, flags
        name = request.get_attr('CTRL_ATTR_FAMILY_NAME')
        self.family_requests.append(name)
        if self.family_error:
            return [self._error(seq, self.family_error, nl.GENL_ID_CTRL)]
        if name != nl.GENL_NAME or not self.loaded:
            return [self._error(seq, errno.ENOENT, nl.GENL_ID_CTRL)]
        return [self.family_reply(seq, [
            ['CTRL_ATTR_FAMILY_NAME', name], ['CTRL_ATTR_FAMILY_ID', FAMILY_ID],
            ['CTRL_ATTR_VERSION', nl.GENL_VERSION], ['CTRL_ATTR_HDRSIZE', 0], ['CTRL_ATTR_MAXATTR', nl.ATTR_TIMEOUT_UDP],
            ['CTRL_ATTR_OPS', [{'attrs': [['CTRL_ATTR_OP_ID', cmd], ['CTRL_ATTR_OP_FLAGS', 0x8]]}  # GENL_ADMIN_PERM
                               for cmd in range(nl.CMD_NEW_SERVICE, nl.CMD_FLUSH + 1)]]])]

    @staticmethod
    def family_reply(seq, attrs):
        """A CTRL_CMD_NEWFAMILY message with ``attrs`` (pyroute2's ctrlmsg names)."""
        reply = ctrlmsg()
        reply['cmd'] = 1        # CTRL_CMD_NEWFAMILY
        reply['version'] = 2
        reply['attrs'] = attrs
        reply['header']['type'] = nl.GENL_ID_CTRL
        reply['header']['flags'] = 0
        reply['header']['sequence_number'] = seq
        reply['header']['pid'] = 0
        reply.encode()
        return bytes(reply.data)

    def _dispatch(self, cmd, flags, seq, message):
        if cmd == nl.CMD_GET_INFO:
            reply = IpvsInfoMessage()
            reply['cmd'] = nl.CMD_SET_INFO
            reply['version'] = 1
            reply['attrs'] = [['IPVS_INFO_ATTR_VERSION', 0x010201], ['IPVS_INFO_ATTR_CONN_TAB_SIZE', 4096]]
            return [self._encode(reply, seq, 0)]
        decoded = IpvsMessage(message)
        decoded.decode()
        top = _attrs(decoded)
        if cmd == nl.CMD_GET_CONFIG:
            reply = self._message(nl.CMD_SET_CONFIG, [
                ['IPVS_CMD_ATTR_TIMEOUT_TCP', self.timeouts['tcp']],
                ['IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', self.timeouts['tcp_fin']],
                ['IPVS_CMD_ATTR_TIMEOUT_UDP', self.timeouts['udp']]])
            return [self._encode(reply, seq, 0)]
        if cmd == nl.CMD_GET_DAEMON:
            messages = [self._message(nl.CMD_NEW_DAEMON, [['IPVS_CMD_ATTR_DAEMON', {'attrs': d}]])
                        for d in self.daemons]
            return self._dump(messages, seq)
        if cmd == nl.CMD_GET_SERVICE and flags & nl.NLM_F_DUMP == nl.NLM_F_DUMP:
            return self._dump([self._service_message(svc) for svc in self.services.values()], seq)
        if cmd == nl.CMD_GET_DEST:
            svc = self._find_service(top.get('IPVS_CMD_ATTR_SERVICE'))
            dests = list(svc['dests'].values()) if isinstance(svc, dict) else []
            return self._dump([self._dest_message(svc, dest) for dest in dests], seq)
        if cmd == nl.CMD_GET_SERVICE:
            svc = self._find_service(top.get('IPVS_CMD_ATTR_SERVICE'))
            if not isinstance(svc, dict):
                return [self._error(seq, errno.ESRCH)]
            return [self._encode(self._service_message(svc), seq, 0)]
        code = self._change(cmd, top)
        if code or flags & nl.NLM_F_ACK:
            return [self._error(seq, code)]
        return []

    def _find_service(self, nest):
        if nest is None:
            return None
        attrs = _attrs(nest)
        af = attrs.get('IPVS_SVC_ATTR_AF')
        if attrs.get('IPVS_SVC_ATTR_FWMARK'):
            key = (af, 'fwmark', attrs['IPVS_SVC_ATTR_FWMARK'])
        else:
            key = (af, attrs.get('IPVS_SVC_ATTR_PROTOCOL'), _addr_text(af, attrs['IPVS_SVC_ATTR_ADDR']),
                   attrs.get('IPVS_SVC_ATTR_PORT'))
        return self.services.get(key, key)

    def _change(self, cmd, top):
        nest = top.get('IPVS_CMD_ATTR_SERVICE')
        if nest is None:
            return errno.EINVAL
        found = self._find_service(nest)
        attrs = _attrs(nest)
        if cmd in (nl.CMD_NEW_SERVICE, nl.CMD_SET_SERVICE):
            needed = ('IPVS_SVC_ATTR_SCHED_NAME', 'IPVS_SVC_ATTR_FLAGS', 'IPVS_SVC_ATTR_TIMEOUT', 'IPVS_SVC_ATTR_NETMASK')
            if any(name not in attrs for name in needed):
                return errno.EINVAL
            if cmd == nl.CMD_NEW_SERVICE and isinstance(found, dict):
                return errno.EEXIST
            if cmd == nl.CMD_SET_SERVICE and not isinstance(found, dict):
                return errno.ESRCH
            if attrs['IPVS_SVC_ATTR_SCHED_NAME'] not in self.schedulers:
                return errno.ENOENT
            engine = attrs.get('IPVS_SVC_ATTR_PE_NAME')
            if engine and engine not in ENGINES:
                return errno.ENOENT
            af = attrs['IPVS_SVC_ATTR_AF']
            raw_mask = attrs['IPVS_SVC_ATTR_NETMASK']
            if af == socket.AF_INET6:
                netmask = struct.unpack('=I', raw_mask)[0]
                if not 1 <= netmask <= 128:
                    return errno.EINVAL
            else:
                netmask = struct.unpack('!I', raw_mask)[0]
            flags = attrs['IPVS_SVC_ATTR_FLAGS']
            old = found['flags'] if isinstance(found, dict) else 0
            new_flags = ((old & ~flags['mask']) | (flags['flags'] & flags['mask'])) & ~nl.SVC_F_HASHED
            fields = dict(sched_name=attrs['IPVS_SVC_ATTR_SCHED_NAME'], flags=new_flags,
                          timeout=attrs['IPVS_SVC_ATTR_TIMEOUT'], netmask=netmask, pe_name=engine or None)
            if cmd == nl.CMD_SET_SERVICE:
                found.update(fields)
                return 0
            key = found
            svc = dict(af=af, fwmark=attrs.get('IPVS_SVC_ATTR_FWMARK', 0), dests=collections.OrderedDict(), **fields)
            if svc['fwmark']:
                svc.update(protocol=6, addr=None, port=0)
            else:
                svc.update(protocol=key[1], addr=key[2], port=key[3])
            self.services[key] = svc
            return 0
        if not isinstance(found, dict):
            return errno.ESRCH
        if cmd == nl.CMD_DEL_SERVICE:
            del self.services[self._key(found)]
            return 0
        dest_nest = top.get('IPVS_CMD_ATTR_DEST')
        if dest_nest is None:
            return errno.EINVAL
        dattrs = _attrs(dest_nest)
        if 'IPVS_DEST_ATTR_ADDR' not in dattrs or 'IPVS_DEST_ATTR_PORT' not in dattrs:
            return errno.EINVAL
        af = dattrs.get('IPVS_DEST_ATTR_ADDR_FAMILY') or found['af']
        addr = _addr_text(af, dattrs['IPVS_DEST_ATTR_ADDR'])
        key = (af, addr, dattrs['IPVS_DEST_ATTR_PORT'])
        existing = found['dests'].get(key)
        if cmd == nl.CMD_DEL_DEST:
            if existing is None:
                return errno.ENOENT
            del found['dests'][key]
            return 0
        needed = ('IPVS_DEST_ATTR_FWD_METHOD', 'IPVS_DEST_ATTR_WEIGHT', 'IPVS_DEST_ATTR_U_THRESH', 'IPVS_DEST_ATTR_L_THRESH')
        if any(name not in dattrs for name in needed):
            return errno.EINVAL
        fwd = dattrs['IPVS_DEST_ATTR_FWD_METHOD'] & 7
        if af != found['af'] and fwd != nl.FWD_TUNNEL:
            return errno.EINVAL
        if dattrs['IPVS_DEST_ATTR_L_THRESH'] > dattrs['IPVS_DEST_ATTR_U_THRESH']:
            return errno.ERANGE
        tun = dict(tun_type=0, tun_port=0, tun_flags=0)
        if not self.old_kernel:
            tun = dict(tun_type=dattrs.get('IPVS_DEST_ATTR_TUN_TYPE', 0), tun_port=dattrs.get('IPVS_DEST_ATTR_TUN_PORT', 0),
                       tun_flags=dattrs.get('IPVS_DEST_ATTR_TUN_FLAGS', 0))
            if tun['tun_type'] == nl.TUN_GUE and not tun['tun_port']:
                return errno.EINVAL
        if cmd == nl.CMD_NEW_DEST:
            if existing is not None:
                return errno.EEXIST
            if addr in self.refuse_addresses:
                return errno.EINVAL
            existing = found['dests'][key] = dict(af=af, addr=addr, port=key[2], active_conns=0, inact_conns=0,
                                                  persist_conns=0)
        elif existing is None:
            return errno.ENOENT
        existing.update(fwd_method=fwd, weight=dattrs['IPVS_DEST_ATTR_WEIGHT'], u_thresh=dattrs['IPVS_DEST_ATTR_U_THRESH'],
                        l_thresh=dattrs['IPVS_DEST_ATTR_L_THRESH'], **tun)
        return 0

    # -- reply encoding (pyroute2) -----------------------------------------

    @staticmethod
    def _message(cmd, attrs):
        msg = IpvsMessage()
        msg['cmd'] = cmd
        msg['version'] = 1
        msg['attrs'] = attrs
        return msg

    @staticmethod
    def _stats(wide):
        values = [7, 70, 60, 7000, 6000, 1, 2, 3, 4, 5]
        names = ['IPVS_STATS_ATTR_CONNS', 'IPVS_STATS_ATTR_INPKTS', 'IPVS_STATS_ATTR_OUTPKTS', 'IPVS_STATS_ATTR_INBYTES',
                 'IPVS_STATS_ATTR_OUTBYTES', 'IPVS_STATS_ATTR_CPS', 'IPVS_STATS_ATTR_INPPS', 'IPVS_STATS_ATTR_OUTPPS',
                 'IPVS_STATS_ATTR_INBPS', 'IPVS_STATS_ATTR_OUTBPS']
        if wide:
            values = [value * 1000003 for value in values]
        return {'attrs': [[name, value] for name, value in zip(names, values)]}

    def _service_message(self, svc):
        attrs = [['IPVS_SVC_ATTR_AF', svc['af']]]
        if svc['fwmark']:
            attrs.append(['IPVS_SVC_ATTR_FWMARK', svc['fwmark']])
        else:
            attrs += [['IPVS_SVC_ATTR_PROTOCOL', svc['protocol']],
                      ['IPVS_SVC_ATTR_ADDR', _addr_bytes(svc['af'], svc['addr'])],
                      ['IPVS_SVC_ATTR_PORT', svc['port']]]
        attrs.append(['IPVS_SVC_ATTR_SCHED_NAME', svc['sched_name']])
        if svc['pe_name']:
            attrs.append(['IPVS_SVC_ATTR_PE_NAME', svc['pe_name']])
        netmask = struct.pack('=I' if svc['af'] == socket.AF_INET6 else '!I', svc['netmask'])
        attrs += [['IPVS_SVC_ATTR_FLAGS', {'flags': svc['flags'] | nl.SVC_F_HASHED, 'mask': 0xFFFFFFFF}],
                  ['IPVS_SVC_ATTR_TIMEOUT', svc['timeout']],
                  ['IPVS_SVC_ATTR_NETMASK', netmask],
                  ['IPVS_SVC_ATTR_STATS', self._stats(False)],
                  ['IPVS_SVC_ATTR_STATS64', self._stats(True)]]
        return self._message(nl.CMD_NEW_SERVICE, [['IPVS_CMD_ATTR_SERVICE', {'attrs': attrs}]])

    def _dest_message(self, svc, dest):
        attrs = [['IPVS_DEST_ATTR_ADDR', _addr_bytes(dest['af'], dest['addr'])],
                 ['IPVS_DEST_ATTR_PORT', dest['port']],
                 ['IPVS_DEST_ATTR_FWD_METHOD', dest['fwd_method']],
                 ['IPVS_DEST_ATTR_WEIGHT', dest['weight']]]
        if not self.old_kernel:
            attrs += [['IPVS_DEST_ATTR_TUN_TYPE', dest['tun_type']],
                      ['IPVS_DEST_ATTR_TUN_PORT', dest['tun_port']],
                      ['IPVS_DEST_ATTR_TUN_FLAGS', dest['tun_flags']]]
        attrs += [['IPVS_DEST_ATTR_U_THRESH', dest['u_thresh']],
                  ['IPVS_DEST_ATTR_L_THRESH', dest['l_thresh']],
                  ['IPVS_DEST_ATTR_ACTIVE_CONNS', dest['active_conns']],
                  ['IPVS_DEST_ATTR_INACT_CONNS', dest['inact_conns']],
                  ['IPVS_DEST_ATTR_PERSIST_CONNS', dest['persist_conns']],
                  ['IPVS_DEST_ATTR_ADDR_FAMILY', dest['af']],
                  ['IPVS_DEST_ATTR_STATS', self._stats(False)],
                  ['IPVS_DEST_ATTR_STATS64', self._stats(True)]]
        return self._message(nl.CMD_NEW_DEST, [['IPVS_CMD_ATTR_DEST', {'attrs': attrs}]])

    @staticmethod
    def _encode(msg, seq, flags):
        msg['header']['type'] = FAMILY_ID
        msg['header']['flags'] = flags
        msg['header']['sequence_number'] = seq
        msg['header']['pid'] = 0
        msg.encode()
        return bytes(msg.data)

    def _dump(self, messages, seq):
        """Dump replies, a few messages per datagram, then NLMSG_DONE."""
        encoded = [self._encode(msg, seq, nl.NLM_F_MULTI) for msg in messages]
        done = _NLMSGHDR.pack(20, nl.NLMSG_DONE, nl.NLM_F_MULTI, seq, 0) + struct.pack('=i', 0)
        encoded.append(done)
        return [b''.join(encoded[i:i + self.mtu_messages]) for i in range(0, len(encoded), self.mtu_messages)]

    @staticmethod
    def _error(seq, code, msg_type=FAMILY_ID):
        # With NETLINK_CAP_ACK the kernel echoes only the request's header.
        echoed = _NLMSGHDR.pack(16, msg_type, 0, seq, 0)
        return _NLMSGHDR.pack(36, nl.NLMSG_ERROR, 0, seq, 0) + struct.pack('=i', -code) + echoed


class FakeSocket(object):
    """The user side of a netlink socket whose peer is a FakeKernel.

    Replies are queued as datagrams; reading with none queued fails as a
    socket whose receive timeout (SO_RCVTIMEO) ran out does."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.sent = []
        self.closed = False
        self._queue = collections.deque()

    def send(self, data):
        data = bytes(data)
        self.sent.append(data)
        self._queue.extend(self.kernel.handle(data))
        return len(data)

    def recv_into(self, buffer):
        if not self._queue:
            raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')
        datagram = self._queue.popleft()
        size = min(len(datagram), len(buffer))
        buffer[:size] = datagram[:size]
        return size

    def close(self):
        self.closed = True


def open_socket_factory(kernel, **kwargs):
    """A replacement for _ipvs.engine.open_socket that connects to ``kernel``
    and resolves the IPVS family over that socket, as IpvsSocket.open does."""
    sockets = []

    def open_socket():
        sock = nl.IpvsSocket.open(sock=FakeSocket(kernel), **kwargs)
        sockets.append(sock)
        return sock
    open_socket.sockets = sockets
    return open_socket
