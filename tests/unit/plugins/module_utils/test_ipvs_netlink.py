# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wire format: what _ipvs.netlink packs is what pyroute2 decodes, and the
other way round, for every attribute; batching, acks, errors and dumps; the
family resolution over the collection's own socket; and that none of it
needs pyroute2 (only these tests use it, as an independent codec)."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import netlink as nl
from ansible_collections.lvs.ipvs.tests.unit.plugins.module_utils.ipvs_fake_kernel import (
    FAMILY_ID,
    FakeKernel,
    FakeSocket,
    IpvsMessage,
)


def _as_message(body, flags=nl.NLM_F_REQUEST):
    """Frame a payload and decode it with pyroute2."""
    data = struct.pack('=IHHII', 16 + len(body), FAMILY_ID, flags, 1, 0) + body
    msg = IpvsMessage(data)
    msg.decode()
    return msg


def _attrs(nest):
    return dict((item[0], item[1]) for item in nest['attrs'])


SERVICES = [
    # (raw service, expected pyroute2 attributes apart from the nested flags)
    (dict(af=socket.AF_INET, protocol=6, addr='192.0.2.10', port=80, sched_name='wlc', flags=0, timeout=0,
          netmask=0xFFFFFFFF, pe_name=None),
     {'IPVS_SVC_ATTR_AF': 2, 'IPVS_SVC_ATTR_PROTOCOL': 6, 'IPVS_SVC_ATTR_PORT': 80,
      'IPVS_SVC_ATTR_ADDR': socket.inet_pton(socket.AF_INET, '192.0.2.10') + b'\0' * 12,
      'IPVS_SVC_ATTR_SCHED_NAME': 'wlc', 'IPVS_SVC_ATTR_TIMEOUT': 0, 'IPVS_SVC_ATTR_NETMASK': b'\xff\xff\xff\xff'}),
    (dict(af=socket.AF_INET, protocol=17, addr='198.51.100.7', port=65535, sched_name='sh',
          flags=nl.SVC_F_PERSISTENT | nl.SVC_F_SCHED1 | nl.SVC_F_SCHED2, timeout=600, netmask=0xFFFFFF00, pe_name='sip'),
     {'IPVS_SVC_ATTR_PORT': 65535, 'IPVS_SVC_ATTR_SCHED_NAME': 'sh', 'IPVS_SVC_ATTR_TIMEOUT': 600,
      'IPVS_SVC_ATTR_NETMASK': b'\xff\xff\xff\x00', 'IPVS_SVC_ATTR_PE_NAME': 'sip'}),
    (dict(af=socket.AF_INET6, protocol=132, addr='2001:db8::1', port=5060, sched_name='mh',
          flags=nl.SVC_F_PERSISTENT | nl.SVC_F_SCHED2, timeout=30, netmask=64, pe_name=None),
     {'IPVS_SVC_ATTR_AF': 10, 'IPVS_SVC_ATTR_PROTOCOL': 132, 'IPVS_SVC_ATTR_PORT': 5060,
      'IPVS_SVC_ATTR_ADDR': socket.inet_pton(socket.AF_INET6, '2001:db8::1'),
      # IPv6: a prefix length in host byte order, not a mask
      'IPVS_SVC_ATTR_NETMASK': struct.pack('=I', 64)}),
    (dict(af=socket.AF_INET, fwmark=4294967295, sched_name='rr', flags=nl.SVC_F_ONEPACKET, timeout=0,
          netmask=0xFFFFFFFF, pe_name=None),
     {'IPVS_SVC_ATTR_FWMARK': 4294967295}),
]


@pytest.mark.parametrize('raw, expected', SERVICES)
def test_encode_service_decodes_with_pyroute2(raw, expected):
    msg = _as_message(nl.service_request(nl.CMD_NEW_SERVICE, raw))
    assert msg['cmd'] == nl.CMD_NEW_SERVICE
    assert msg['version'] == 1
    attrs = _attrs(msg.get_attr('IPVS_CMD_ATTR_SERVICE'))
    for name, value in expected.items():
        assert attrs[name] == value, name
    flags = attrs['IPVS_SVC_ATTR_FLAGS']
    assert flags['flags'] == raw['flags']
    assert flags['mask'] == 0xFFFFFFFF
    if raw.get('fwmark'):
        assert 'IPVS_SVC_ATTR_ADDR' not in attrs and 'IPVS_SVC_ATTR_PORT' not in attrs
    if not raw['pe_name']:
        # SET is a full replace: no PE_NAME removes the persistence engine.
        assert 'IPVS_SVC_ATTR_PE_NAME' not in attrs


def test_encode_service_never_sends_hashed():
    raw = dict(SERVICES[0][0], flags=nl.SVC_F_HASHED | nl.SVC_F_PERSISTENT)
    attrs = _attrs(_as_message(nl.service_request(nl.CMD_SET_SERVICE, raw)).get_attr('IPVS_CMD_ATTR_SERVICE'))
    assert attrs['IPVS_SVC_ATTR_FLAGS']['flags'] == nl.SVC_F_PERSISTENT


def test_delete_service_carries_only_the_key():
    attrs = _attrs(_as_message(nl.service_request(nl.CMD_DEL_SERVICE, SERVICES[2][0])).get_attr('IPVS_CMD_ATTR_SERVICE'))
    assert set(attrs) == {'IPVS_SVC_ATTR_AF', 'IPVS_SVC_ATTR_PROTOCOL', 'IPVS_SVC_ATTR_ADDR', 'IPVS_SVC_ATTR_PORT'}


DESTS = [
    dict(af=socket.AF_INET, addr='10.0.0.1', port=8080, fwd_method=nl.FWD_MASQ, weight=5, u_thresh=100, l_thresh=50),
    dict(af=socket.AF_INET, addr='10.0.0.2', port=80, fwd_method=nl.FWD_TUNNEL, weight=1, u_thresh=0, l_thresh=0,
         tun_type=nl.TUN_GUE, tun_port=6080, tun_flags=nl.TUN_F_REMCSUM),
    dict(af=socket.AF_INET6, addr='2001:db8::20', port=0, fwd_method=nl.FWD_TUNNEL, weight=2147483647, u_thresh=0,
         l_thresh=0, tun_type=nl.TUN_GRE, tun_port=0, tun_flags=nl.TUN_F_CSUM),
    dict(af=socket.AF_INET6, addr='2001:db8::10', port=53, fwd_method=nl.FWD_DROUTE, weight=0, u_thresh=0, l_thresh=0),
]


@pytest.mark.parametrize('raw', DESTS)
def test_encode_dest_decodes_with_pyroute2(raw):
    key = nl.encode_service_key(SERVICES[0][0])
    msg = _as_message(nl.dest_request(nl.CMD_NEW_DEST, key, raw))
    attrs = _attrs(msg.get_attr('IPVS_CMD_ATTR_DEST'))
    assert attrs['IPVS_DEST_ATTR_ADDR'][:len(socket.inet_pton(raw['af'], raw['addr']))] == socket.inet_pton(raw['af'], raw['addr'])
    assert len(attrs['IPVS_DEST_ATTR_ADDR']) == 16
    assert attrs['IPVS_DEST_ATTR_PORT'] == raw['port']
    assert attrs['IPVS_DEST_ATTR_ADDR_FAMILY'] == raw['af']
    assert attrs['IPVS_DEST_ATTR_FWD_METHOD'] == raw['fwd_method']
    assert attrs['IPVS_DEST_ATTR_WEIGHT'] == raw['weight']
    assert attrs['IPVS_DEST_ATTR_U_THRESH'] == raw['u_thresh']
    assert attrs['IPVS_DEST_ATTR_L_THRESH'] == raw['l_thresh']
    if raw['fwd_method'] == nl.FWD_TUNNEL:
        assert attrs['IPVS_DEST_ATTR_TUN_TYPE'] == raw['tun_type']
        assert attrs['IPVS_DEST_ATTR_TUN_PORT'] == raw['tun_port']
        assert attrs['IPVS_DEST_ATTR_TUN_FLAGS'] == raw['tun_flags']
    else:
        assert not any(name.startswith('IPVS_DEST_ATTR_TUN') for name in attrs)
    # the service key travels along
    assert _attrs(msg.get_attr('IPVS_CMD_ATTR_SERVICE'))['IPVS_SVC_ATTR_PORT'] == 80


def test_be16_ports_are_big_endian_on_the_wire():
    body = nl.encode_dest(DESTS[0])
    assert nl._attr_be16(nl.DEST_PORT, 8080) in body
    assert nl._attr_be16(nl.DEST_PORT, 8080) == struct.pack('=HH', 6, nl.DEST_PORT) + b'\x1f\x90\0\0'
    assert nl._attr_be16(nl.DEST_TUN_PORT, 6080) == struct.pack('=HH', 6, nl.DEST_TUN_PORT) + b'\x17\xc0\0\0'


def test_delete_dest_carries_only_the_key():
    msg = _as_message(nl.dest_request(nl.CMD_DEL_DEST, nl.encode_service_key(SERVICES[0][0]), DESTS[1]))
    attrs = _attrs(msg.get_attr('IPVS_CMD_ATTR_DEST'))
    assert set(attrs) == {'IPVS_DEST_ATTR_ADDR', 'IPVS_DEST_ATTR_PORT', 'IPVS_DEST_ATTR_ADDR_FAMILY'}


# -- decoding what pyroute2 (standing for the kernel) encodes -------------------

def _pyroute2_bytes(attrs, cmd=nl.CMD_NEW_SERVICE):
    msg = IpvsMessage()
    msg['cmd'] = cmd
    msg['version'] = 1
    msg['attrs'] = attrs
    msg['header']['type'] = FAMILY_ID
    msg.encode()
    return bytes(msg.data)


def test_decode_service_from_pyroute2_with_stats():
    data = _pyroute2_bytes([['IPVS_CMD_ATTR_SERVICE', {'attrs': [
        ['IPVS_SVC_ATTR_AF', 10], ['IPVS_SVC_ATTR_PROTOCOL', 17],
        ['IPVS_SVC_ATTR_ADDR', socket.inet_pton(socket.AF_INET6, 'fd00::53')],
        ['IPVS_SVC_ATTR_PORT', 53], ['IPVS_SVC_ATTR_SCHED_NAME', 'mh'],
        ['IPVS_SVC_ATTR_FLAGS', {'flags': nl.SVC_F_HASHED | nl.SVC_F_SCHED1, 'mask': 0xFFFFFFFF}],
        ['IPVS_SVC_ATTR_TIMEOUT', 0], ['IPVS_SVC_ATTR_NETMASK', struct.pack('=I', 128)],
        ['IPVS_SVC_ATTR_STATS', {'attrs': [['IPVS_STATS_ATTR_CONNS', 3], ['IPVS_STATS_ATTR_INBYTES', 2 ** 33]]}],
        ['IPVS_SVC_ATTR_STATS64', {'attrs': [['IPVS_STATS_ATTR_CONNS', 2 ** 40], ['IPVS_STATS_ATTR_OUTBPS', 9]]}],
    ]}]])
    nest = nl._find_nest(data, 20, len(data), nl.ATTR_SERVICE)
    service = nl.decode_service(data, nest[0], nest[1], with_stats=True)
    assert service['af'] == 10
    assert service['addr'] == 'fd00::53'
    assert service['port'] == 53
    assert service['netmask'] == 128
    assert service['flags'] == nl.SVC_F_HASHED | nl.SVC_F_SCHED1   # masked later, by the model
    assert service['stats'] == {'conns': 2 ** 40, 'outbps': 9}      # STATS64 preferred
    assert 'pe_name' not in service and 'fwmark' not in service


def test_decode_stats_32_bit_when_no_stats64():
    data = _pyroute2_bytes([['IPVS_CMD_ATTR_SERVICE', {'attrs': [
        ['IPVS_SVC_ATTR_AF', 2], ['IPVS_SVC_ATTR_FWMARK', 9],
        ['IPVS_SVC_ATTR_STATS', {'attrs': [['IPVS_STATS_ATTR_CONNS', 3], ['IPVS_STATS_ATTR_INBYTES', 2 ** 33],
                                           ['IPVS_STATS_ATTR_CPS', 4]]}],
    ]}]])
    nest = nl._find_nest(data, 20, len(data), nl.ATTR_SERVICE)
    service = nl.decode_service(data, nest[0], nest[1], with_stats=True)
    assert service['fwmark'] == 9
    assert service['stats'] == {'conns': 3, 'inbytes': 2 ** 33, 'cps': 4}
    assert 'stats' not in nl.decode_service(data, nest[0], nest[1], with_stats=False)


def test_decode_dest_from_pyroute2_every_attribute():
    data = _pyroute2_bytes([['IPVS_CMD_ATTR_DEST', {'attrs': [
        ['IPVS_DEST_ATTR_ADDR', socket.inet_pton(socket.AF_INET6, '2001:db8::7')],
        ['IPVS_DEST_ATTR_PORT', 443], ['IPVS_DEST_ATTR_FWD_METHOD', nl.FWD_TUNNEL],
        ['IPVS_DEST_ATTR_WEIGHT', 9], ['IPVS_DEST_ATTR_U_THRESH', 200], ['IPVS_DEST_ATTR_L_THRESH', 150],
        ['IPVS_DEST_ATTR_ACTIVE_CONNS', 4], ['IPVS_DEST_ATTR_INACT_CONNS', 5], ['IPVS_DEST_ATTR_PERSIST_CONNS', 6],
        ['IPVS_DEST_ATTR_ADDR_FAMILY', 10], ['IPVS_DEST_ATTR_TUN_TYPE', nl.TUN_GUE],
        ['IPVS_DEST_ATTR_TUN_PORT', 6081], ['IPVS_DEST_ATTR_TUN_FLAGS', nl.TUN_F_CSUM],
    ]}]], cmd=nl.CMD_NEW_DEST)
    nest = nl._find_nest(data, 20, len(data), nl.ATTR_DEST)
    dest = nl.decode_dest(data, nest[0], nest[1], service_af=socket.AF_INET)
    assert dest == dict(af=10, addr='2001:db8::7', port=443, fwd_method=nl.FWD_TUNNEL, weight=9, u_thresh=200,
                        l_thresh=150, active_conns=4, inact_conns=5, persist_conns=6, tun_type=nl.TUN_GUE,
                        tun_port=6081, tun_flags=nl.TUN_F_CSUM)


def test_decode_dest_of_an_old_kernel():
    """No ADDR_FAMILY (before 3.18): the service's family; no TUN_* (before 5.2): absent."""
    data = _pyroute2_bytes([['IPVS_CMD_ATTR_DEST', {'attrs': [
        ['IPVS_DEST_ATTR_ADDR', socket.inet_pton(socket.AF_INET, '10.1.1.1') + b'\0' * 12],
        ['IPVS_DEST_ATTR_PORT', 80], ['IPVS_DEST_ATTR_FWD_METHOD', nl.FWD_TUNNEL], ['IPVS_DEST_ATTR_WEIGHT', 1],
    ]}]], cmd=nl.CMD_NEW_DEST)
    nest = nl._find_nest(data, 20, len(data), nl.ATTR_DEST)
    dest = nl.decode_dest(data, nest[0], nest[1], service_af=socket.AF_INET)
    assert dest == dict(af=2, addr='10.1.1.1', port=80, fwd_method=nl.FWD_TUNNEL, weight=1)


def test_round_trip_through_own_parser():
    for raw, _expected in SERVICES:
        body = nl.encode_service(raw)
        service = nl.decode_service(body, 4, len(body))
        for field in ('af', 'sched_name', 'timeout', 'netmask'):
            assert service[field] == raw[field]
        assert service.get('pe_name') == raw['pe_name']
        assert service['flags'] == raw['flags']
    for dest in DESTS:
        body = nl.encode_dest(dest)
        decoded = nl.decode_dest(body, 4, len(body), service_af=socket.AF_INET)
        for field, value in dest.items():
            assert decoded[field] == value, field


def test_netmask_packing():
    assert nl.pack_netmask(socket.AF_INET, 0xFFFFFF00) == b'\xff\xff\xff\x00'
    assert nl.pack_netmask(socket.AF_INET6, 48) == struct.pack('=I', 48)
    assert nl.unpack_netmask(socket.AF_INET6, struct.pack('=I', 48)) == 48
    assert nl.unpack_netmask(socket.AF_INET, b'\xff\xff\x00\x00') == 0xFFFF0000


def test_iter_attrs_stops_at_a_truncated_attribute():
    data = nl._attr_u32(1, 5) + struct.pack('=HH', 40, 2) + b'\0' * 4
    assert list(nl.iter_attrs(data, 0, len(data))) == [(1, 4, 8)]


# -- the socket: batching, acks, errors, dumps ---------------------------------

def _socket(kernel, **kwargs):
    return nl.IpvsSocket(FAMILY_ID, sock=FakeSocket(kernel), **kwargs)


def _service_raw(index):
    return dict(af=socket.AF_INET, protocol=6, addr='192.0.2.%d' % (index % 250 + 1), port=1000 + index,
                sched_name='rr', flags=0, timeout=0, netmask=0xFFFFFFFF, pe_name=None)


def test_execute_batches_and_acks_only_the_last_of_each_batch():
    kernel = FakeKernel()
    sock = _socket(kernel, batch=256)
    requests = [nl.service_request(nl.CMD_NEW_SERVICE, _service_raw(i)) for i in range(600)]
    assert sock.execute(requests) == []
    assert len(kernel.services) == 600
    assert sock.requests == 600
    assert sock.sends == 3                       # 256 + 256 + 88
    acked = [flags & nl.NLM_F_ACK for _cmd, flags in kernel.received]
    assert acked.count(nl.NLM_F_ACK) == 3
    assert [i for i, flag in enumerate(acked) if flag] == [255, 511, 599]
    assert len(sock._sock.sent) == 3


def test_execute_reports_each_refused_request_and_goes_on():
    kernel = FakeKernel(schedulers=frozenset(['rr']))
    sock = _socket(kernel, batch=4)
    requests = [nl.service_request(nl.CMD_NEW_SERVICE, _service_raw(0)),
                nl.service_request(nl.CMD_NEW_SERVICE, _service_raw(0)),                      # EEXIST
                nl.service_request(nl.CMD_NEW_SERVICE, dict(_service_raw(1), sched_name='wlc')),  # ENOENT
                nl.service_request(nl.CMD_DEL_SERVICE, _service_raw(7)),                      # ESRCH
                nl.service_request(nl.CMD_NEW_SERVICE, _service_raw(2)),
                nl.service_request(nl.CMD_NEW_SERVICE, _service_raw(2))]                      # EEXIST, last of a batch
    assert sock.execute(requests) == [(1, errno.EEXIST), (2, errno.ENOENT), (3, errno.ESRCH), (5, errno.EEXIST)]
    assert len(kernel.services) == 2


def test_dump_over_several_datagrams_and_get_service():
    kernel = FakeKernel(mtu_messages=2)
    for index in range(7):
        kernel.add_service(addr='192.0.2.%d' % (index + 1), port=80)
    svc = kernel.add_service(af=socket.AF_INET6, protocol=17, addr='2001:db8::1', port=53, sched_name='mh',
                             flags=nl.SVC_F_SCHED1, netmask=96)
    for index in range(5):
        kernel.add_dest(svc, af=socket.AF_INET6, addr='2001:db8::%x' % (index + 16), port=53, weight=index)
    sock = _socket(kernel)
    services = sock.dump_services()
    assert len(services) == 8
    six = [s for s in services if s['af'] == socket.AF_INET6][0]
    assert six == dict(af=10, protocol=17, addr='2001:db8::1', port=53, sched_name='mh',
                       flags=nl.SVC_F_SCHED1 | nl.SVC_F_HASHED, timeout=0, netmask=96)
    dests = sock.dump_dests(six)
    assert [d['weight'] for d in dests] == [0, 1, 2, 3, 4]
    assert dests[2]['addr'] == '2001:db8::12'
    assert sock.get_service(dict(af=2, protocol=6, addr='192.0.2.3', port=80))['addr'] == '192.0.2.3'
    assert sock.get_service(dict(af=2, protocol=6, addr='192.0.2.3', port=81)) is None
    assert sock.dump_dests(dict(af=2, protocol=6, addr='192.0.2.99', port=80)) == []
    assert sock.requests == 0        # reads are not change requests
    assert sock.dumps == 5


def test_info_config_daemons():
    kernel = FakeKernel()
    kernel.daemons = [[['IPVS_DAEMON_ATTR_STATE', 1], ['IPVS_DAEMON_ATTR_MCAST_IFN', 'eth1'],
                       ['IPVS_DAEMON_ATTR_SYNC_ID', 3], ['IPVS_DAEMON_ATTR_SYNC_MAXLEN', 1472],
                       ['IPVS_DAEMON_ATTR_MCAST_GROUP', '224.0.0.81'], ['IPVS_DAEMON_ATTR_MCAST_PORT', 8848],
                       ['IPVS_DAEMON_ATTR_MCAST_TTL', 1]]]
    sock = _socket(kernel)
    assert sock.get_info() == {'version': '1.2.1', 'connection_table_size': 4096}
    assert sock.get_config() == {'tcp': 900, 'tcp_fin': 120, 'udp': 300}
    assert sock.dump_daemons() == [dict(state=1, mcast_ifn='eth1', sync_id=3, sync_maxlen=1472, mcast_group='224.0.0.81',
                                        mcast_port=8848, mcast_ttl=1)]


class _Refusing(FakeKernel):
    def handle(self, data):
        seq = struct.unpack_from('=I', data, 8)[0]
        return [self._error(seq, errno.EPERM)]


def test_permission_error_says_what_to_do():
    sock = _socket(_Refusing())
    with pytest.raises(nl.NetlinkFailure) as caught:
        sock.dump_services()
    assert caught.value.code == errno.EPERM
    assert 'become: true' in str(caught.value)


class _Silent(FakeKernel):
    def handle(self, data):
        return []


def test_no_answer_times_out():
    sock = _socket(_Silent(), timeout=0.05)
    with pytest.raises(nl.LvsError, match='no answer'):
        sock.get_info()


def test_fast_and_generic_dest_decoding_agree():
    """A kernel from 5.3 on sends a real server's attributes in one order, which
    decode_dest reads with one unpack; the generic parser must agree with it."""
    kernel = FakeKernel()
    svc = kernel.add_service(af=socket.AF_INET6, protocol=6, addr='2001:db8::1', port=443)
    dest = kernel.add_dest(svc, af=socket.AF_INET, addr='192.0.2.77', port=8443, fwd_method=nl.FWD_TUNNEL,
                           weight=2147483647, tun_type=nl.TUN_GUE, tun_port=65535, tun_flags=nl.TUN_F_REMCSUM,
                           u_thresh=4000000000, l_thresh=3, active_conns=1, inact_conns=2, persist_conns=3)
    data = kernel._encode(kernel._dest_message(svc, dest), 1, 0)
    nest = nl._find_nest(data, 20, len(data), nl.ATTR_DEST)
    fast = nl.decode_dest(data, nest[0], nest[1], service_af=socket.AF_INET6)
    generic = nl._decode_dest_attributes(data, nest[0], nest[1], socket.AF_INET6, False)
    assert fast == generic
    assert fast == dict(af=2, addr='192.0.2.77', port=8443, fwd_method=nl.FWD_TUNNEL, weight=2147483647,
                        tun_type=nl.TUN_GUE, tun_port=65535, tun_flags=nl.TUN_F_REMCSUM, u_thresh=4000000000,
                        l_thresh=3, active_conns=1, inact_conns=2, persist_conns=3)
    # another order (or another kernel) falls back to the generic parser
    shuffled = nl._attr_be16(nl.DEST_PORT, 80) + nl._attr(nl.DEST_ADDR, socket.inet_pton(socket.AF_INET, '10.0.0.1'))
    padded = shuffled + b'\0' * 120
    assert nl.decode_dest(padded, 0, len(padded), socket.AF_INET) == dict(af=2, addr='10.0.0.1', port=80)


# -- the family resolution: CTRL_CMD_GETFAMILY to nlctrl, over the IPVS socket --

def test_open_resolves_the_family_over_its_own_socket():
    kernel = FakeKernel()
    kernel.add_service(addr='192.0.2.1', port=80)
    fake = FakeSocket(kernel)
    sock = nl.IpvsSocket.open(sock=fake)
    assert sock.family_id == FAMILY_ID
    assert kernel.family_requests == ['IPVS']
    # The request byte for byte: a plain request to nlctrl (0x10), CTRL_CMD_GETFAMILY (3),
    # CTRL_ATTR_FAMILY_NAME (2) "IPVS" with its NUL, padded to 4 bytes.
    request = fake.sent[0]
    length, msg_type, flags, _seq, pid = struct.unpack_from('=IHHII', request)
    assert (length, msg_type, flags, pid) == (32, 0x10, nl.NLM_F_REQUEST, 0)
    assert request[16:] == struct.pack('=BBH', 3, 1, 0) + struct.pack('=HH', 9, 2) + b'IPVS\0\0\0\0'
    # The same socket then speaks IPVS, and the look-up counts as no IPVS request.
    assert [service['addr'] for service in sock.dump_services()] == ['192.0.2.1']
    assert sock.requests == 0 and sock.dumps == 1
    assert len(fake.sent) == 2


def test_open_without_ip_vs_is_unavailable_and_closes_its_socket():
    fake = FakeSocket(FakeKernel(loaded=False))
    with pytest.raises(nl.IpvsUnavailable, match='no IPVS generic netlink family: the ip_vs kernel module is not loaded'):
        nl.IpvsSocket.open(sock=fake)
    assert fake.closed


@pytest.mark.parametrize('code', [errno.EPERM, errno.EACCES])
def test_a_refused_family_look_up_says_what_to_do(code):
    fake = FakeSocket(FakeKernel(family_error=code))
    with pytest.raises(nl.NetlinkFailure) as caught:
        nl.IpvsSocket.open(sock=fake)
    assert not isinstance(caught.value, nl.IpvsUnavailable)
    assert caught.value.code == code
    assert 'permission denied while resolving the IPVS generic netlink family' in str(caught.value)
    assert 'become: true' in str(caught.value)
    assert fake.closed


def test_another_error_of_the_family_look_up_is_reported_as_such():
    with pytest.raises(nl.NetlinkFailure) as caught:
        nl.IpvsSocket.open(sock=FakeSocket(FakeKernel(family_error=errno.EINVAL)))
    assert caught.value.code == errno.EINVAL
    assert str(caught.value) == 'resolving the IPVS generic netlink family failed: %s' % os.strerror(errno.EINVAL)


class _ReorderedController(FakeKernel):
    """A stale answer (another sequence number) first, then the answer with the
    family id after a nest whose own attributes reuse type 1."""

    def _controller(self, flags, seq, message):
        stale = self.family_reply(seq - 1, [['CTRL_ATTR_FAMILY_ID', 0x99]])
        reply = self.family_reply(seq, [
            ['CTRL_ATTR_FAMILY_NAME', 'IPVS'],
            ['CTRL_ATTR_OPS', [{'attrs': [['CTRL_ATTR_OP_ID', 0x77], ['CTRL_ATTR_OP_FLAGS', 0x8]]}]],
            ['CTRL_ATTR_FAMILY_ID', 0x2A]])
        return [stale + reply]


def test_the_family_id_is_taken_from_the_answer_to_this_request_at_top_level():
    assert nl.IpvsSocket.open(sock=FakeSocket(_ReorderedController())).family_id == 0x2A


class _NoFamilyId(FakeKernel):
    def _controller(self, flags, seq, message):
        return [self.family_reply(seq, [['CTRL_ATTR_FAMILY_NAME', 'IPVS'], ['CTRL_ATTR_VERSION', 1]])]


def test_an_answer_without_a_family_id_is_an_error():
    fake = FakeSocket(_NoFamilyId())
    with pytest.raises(nl.LvsError, match='answered without a family id'):
        nl.IpvsSocket.open(sock=fake)
    assert fake.closed


def test_no_answer_to_the_family_look_up_times_out():
    with pytest.raises(nl.LvsError, match='no answer'):
        nl.IpvsSocket.open(sock=FakeSocket(_Silent()), timeout=0.05)


def test_a_socket_the_host_refuses(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied')
    monkeypatch.setattr(nl.socket, 'socket', refuse)
    with pytest.raises(nl.NetlinkFailure, match='permission denied while opening a generic netlink socket'):
        nl.IpvsSocket.open()


def test_the_host_kernel_resolves_families_the_same_way():
    """Against this machine's kernel: nlctrl resolves to itself; a family no
    kernel has gives ENOENT, as IPVS does while ip_vs is not loaded."""
    try:
        sock = nl.IpvsSocket(None, timeout=5.0)
    except nl.NetlinkFailure as exc:
        pytest.skip('no generic netlink socket here: %s' % exc)
    try:
        assert sock.resolve_family('nlctrl') == nl.GENL_ID_CTRL
        with pytest.raises(nl.IpvsUnavailable):
            sock.resolve_family('lvs-ipvs-none')
    finally:
        sock.close()


def test_the_ipvs_modules_import_no_pyroute2():
    """In a fresh interpreter where pyroute2 cannot be imported at all."""
    code = textwrap.dedent('''
        import json, sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == 'pyroute2' or name.startswith('pyroute2.'):
                    raise ImportError('hidden: ' + name)
        sys.meta_path.insert(0, Hide())
        from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import engine, netlink, table  # noqa: F401
        from ansible_collections.lvs.ipvs.plugins.modules import ipvs_info, ipvs_real, ipvs_service, ipvs_table
        print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] == 'pyroute2')))
    ''')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(entry for entry in sys.path if entry))
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
