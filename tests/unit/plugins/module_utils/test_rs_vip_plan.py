# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the pure parts of rs_vip: request checks, planning, record, flow."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError
from ansible_collections.lvs.ipvs.plugins.module_utils._rs import vip as rv


# ---------------------------------------------------------------------------
# helpers


ENTRY_KEYS = ('vip', 'state', 'forwarding', 'device', 'tunnel_type', 'tunnel_port')


def params(**kwargs):
    """Module options for one VIP (an entry of ``vips``) and the host-wide settings."""
    base = {
        'vip': '192.0.2.10', 'state': 'present', 'forwarding': 'dr', 'device': None, 'tunnel_type': None,
        'tunnel_port': None, 'arp_ignore': 1, 'arp_announce': 2, 'arp_interface': None, 'rp_filter': None,
        'purge': False,
    }
    base.update(kwargs)
    entry = {key: base.pop(key) for key in ENTRY_KEYS}
    base['vips'] = [entry]
    return base


def request(**kwargs):
    return rv.normalise_request(params(**kwargs))


def live_host(all_rp=0, default_rp=0, extra_links=(), addresses=None, sysctls=None, fou=None, modules=(), default_route='eth0'):
    """A small host: lo, eth0 (10.0.0.2/24, default route), sysctls at kernel defaults."""
    links = {
        'lo': rv.Link('lo', 1, None, True, loopback=True),
        'eth0': rv.Link('eth0', 2, 'veth', True),
    }
    for index, (name, kind, up) in enumerate(extra_links, start=3):
        links[name] = rv.Link(name, index, kind, up)
    values = {}
    for device in ['all', 'default'] + list(links):
        values[device + '/arp_ignore'] = 0
        values[device + '/arp_announce'] = 0
        values[device + '/rp_filter'] = 0
    values['all/rp_filter'] = all_rp
    values['default/rp_filter'] = default_rp
    values.update(sysctls or {})
    addrs = {'lo': {'127.0.0.1/8', '::1/128'}, 'eth0': {'10.0.0.2/24', 'fe80::1/64'}}
    for device, extra in (addresses or {}).items():
        addrs.setdefault(device, set()).update(extra)
    return rv.LiveState(links=links, addresses=addrs, sysctls=values, default_route_interface=default_route,
                        fou_ports=dict(fou or {}), modules=set(modules), ipv6=True)


def apply_plan(live, the_plan):
    """Simulate a kernel carrying out a plan (used to check idempotence).

    As the kernel does, a device made during the plan keeps following
    net.ipv4.conf.default for each sysctl until that sysctl is written on the device.
    """
    new = copy.deepcopy(live)
    following = set()  # (device, name)

    def made(device, kind):
        new.links[device] = rv.Link(device, 50 + len(new.links), kind, False)
        for name in ('arp_ignore', 'arp_announce', 'rp_filter'):
            new.sysctls[device + '/' + name] = new.sysctls['default/' + name]
            following.add((device, name))

    for op in the_plan.operations:
        if op.kind == 'sysctl':
            new.sysctls[op.target] = op.value
            device, name = op.target.rsplit('/', 1)
            following.discard((device, name))
            if device == 'default':
                for other, other_name in following:
                    if other_name == name:
                        new.sysctls[other + '/' + name] = op.value
        elif op.kind == 'module':
            new.modules.add(op.target)
            if op.extra:
                made(op.extra, 'ipip')
        elif op.kind == 'link_add':
            made(op.target, 'dummy')
        elif op.kind == 'link_del':
            del new.links[op.target]
            new.addresses.pop(op.target, None)
            for name in ('arp_ignore', 'arp_announce', 'rp_filter'):
                new.sysctls.pop(op.target + '/' + name, None)
        elif op.kind in ('link_up', 'link_down'):
            link = new.links[op.target]
            new.links[op.target] = rv.Link(link.name, link.index, link.kind, op.kind == 'link_up', link.loopback)
        elif op.kind == 'addr_add':
            new.addresses.setdefault(op.target, set()).add(op.value)
        elif op.kind == 'addr_del':
            new.addresses[op.target].discard(op.value)
        elif op.kind == 'fou_add':
            new.fou_ports[op.value] = rv.FOU_ENCAP_GUE
        elif op.kind == 'fou_del':
            del new.fou_ports[op.value]
    return new


def converge(live, record, req):
    """Plan, apply; return (plan, live after, record after)."""
    the_plan = rv.plan(req, live, record)
    return the_plan, apply_plan(live, the_plan), the_plan.record


def kinds(the_plan):
    return [(op.kind, op.target, op.value) for op in the_plan.operations]


# ---------------------------------------------------------------------------
# VIP parsing and request checks


@pytest.mark.parametrize('value, expected', [
    ('192.0.2.10', '192.0.2.10/32'),
    ('192.0.2.10/32', '192.0.2.10/32'),
    (' 192.0.2.10 ', '192.0.2.10/32'),
    ('2001:DB8::0:10', '2001:db8::10/128'),
    ('2001:db8::10/128', '2001:db8::10/128'),
])
def test_parse_vip_accepts_host_addresses(value, expected):
    assert rv.parse_vip(value) == expected


@pytest.mark.parametrize('value, message', [
    ('web', 'is not an IP address'),
    ('192.0.2.300', 'is not an IP address'),
    ('192.0.2.0/24', 'only /32'),
    ('192.0.2.10/31', 'only /32'),
    ('2001:db8::/64', 'only /128'),
    ('224.0.0.5', 'not a unicast address'),
    ('127.0.0.2', 'not a unicast address'),
    ('0.0.0.0', 'not a unicast address'),
    ('255.255.255.255', 'not a unicast address'),
    ('::1', 'not a unicast address'),
    ('fe80::10', 'link-local'),
])
def test_parse_vip_rejects(value, message):
    with pytest.raises(LvsError, match=message):
        rv.parse_vip(value)


@pytest.mark.parametrize('kwargs, message', [
    ({'tunnel_type': 'ipip'}, 'forwarding=tun only'),
    ({'tunnel_port': 6080}, 'forwarding=tun only'),
    ({'forwarding': 'tun', 'tunnel_type': 'gue'}, 'gue needs tunnel_port'),
    ({'forwarding': 'tun', 'tunnel_type': 'ipip', 'tunnel_port': 6080}, 'tunnel_type=gue only'),
    ({'forwarding': 'tun', 'tunnel_type': 'gre', 'tunnel_port': 6080}, 'tunnel_type=gue only'),
    ({'forwarding': 'tun', 'tunnel_type': 'gue', 'tunnel_port': 70000}, 'not a UDP port'),
    ({'forwarding': 'tun', 'tunnel_type': 'vxlan'}, 'is not one of ipip, gue, gre'),
    ({'forwarding': 'tun', 'device': 'lo'}, 'leave device unset or set it to tunl0'),
    ({'forwarding': 'nat'}, 'NAT and FULLNAT real servers need no VIP'),
    ({'device': 'tunl0'}, 'the kernel uses for its own tunnel devices'),
    ({'device': 'all'}, 'not a usable interface name'),
    ({'device': 'a/b'}, 'not a usable interface name'),
    ({'device': 'much-too-long-name0'}, 'not a usable interface name'),
    ({'arp_interface': 'default'}, 'not a usable interface name'),
    ({'arp_ignore': 0}, 'would let the real server answer ARP'),
    ({'arp_announce': 0}, 'would let the VIP appear in ARP requests'),
    ({'forwarding': 'tun', 'rp_filter': 1}, 'would drop decapsulated packets'),
])
def test_normalise_request_rejects(kwargs, message):
    with pytest.raises(LvsError, match=message):
        request(**kwargs)


@pytest.mark.parametrize('vip, tunnel_type, device', [
    ('192.0.2.10', None, 'tunl0'),
    ('192.0.2.10', 'ipip', 'tunl0'),
    ('192.0.2.10', 'gue', 'tunl0'),
    ('192.0.2.10', 'gre', 'gre0'),
    ('2001:db8::10', 'ipip', 'ip6tnl0'),
    ('2001:db8::10', 'gue', 'ip6tnl0'),
    ('2001:db8::10', 'gre', 'ip6gre0'),
])
def test_tunnel_device_follows_type_and_family(vip, tunnel_type, device):
    port = 6080 if tunnel_type == 'gue' else None
    req = request(vip=vip, forwarding='tun', tunnel_type=tunnel_type, tunnel_port=port)
    assert req.entries[0].vip.device == device
    assert req.entries[0].vip.tunnel_type == (tunnel_type or 'ipip')
    assert req.settings.rp_filter == 0


def test_dr_defaults():
    req = request()
    assert req.entries == (rv.Entry(rv.Vip('192.0.2.10/32', 'dr', 'lo', None, None), 'present'),)
    assert req.settings == rv.Settings(1, 2, None, 0)
    assert req.purge is False


def test_a_vip_listed_twice_is_an_error():
    with pytest.raises(LvsError, match=r'vips\[1\]: 192.0.2.10/32 is listed twice'):
        rv.normalise_request({'vips': [{'vip': '192.0.2.10'}, {'vip': '192.0.2.10/32', 'device': 'lvs0'}]})


def test_errors_name_the_entry():
    with pytest.raises(LvsError, match=r'^vips\[1\] \(192.0.2.11/32\): tunnel_type and tunnel_port'):
        rv.normalise_request({'vips': [{'vip': '192.0.2.10'}, {'vip': '192.0.2.11', 'tunnel_type': 'gre'}]})
    with pytest.raises(LvsError, match=r'^vips\[0\]\.vip: '):
        rv.normalise_request({'vips': [{'vip': 'web'}]})


def test_sysctl_display_uses_slash_for_dots_in_device_names():
    assert rv.sysctl_display('eth0.100/arp_ignore') == 'net.ipv4.conf.eth0/100.arp_ignore'
    assert rv.sysctl_display('all/rp_filter') == 'net.ipv4.conf.all.rp_filter'


# ---------------------------------------------------------------------------
# record


def test_load_record_none_is_empty():
    assert rv.load_record(None) == rv.empty_record()


@pytest.mark.parametrize('data', [{'version': 99}, [], {'vips': {}}])
def test_load_record_rejects_unknown_formats(data):
    with pytest.raises(LvsError, match='unknown format'):
        rv.load_record(data)


# ---------------------------------------------------------------------------
# DR planning


def test_dr_on_lo_from_scratch_quiets_arp_before_adding_the_vip():
    live = live_host()
    the_plan = rv.plan(request(), live, rv.empty_record())
    assert kinds(the_plan) == [
        ('sysctl', 'all/arp_announce', 2),
        ('sysctl', 'all/arp_ignore', 1),
        ('sysctl', 'eth0/arp_announce', 2),
        ('sysctl', 'eth0/arp_ignore', 1),
        ('addr_add', 'lo', '192.0.2.10/32'),
    ]
    assert the_plan.record['saved'] == {
        'sysctl:all/arp_announce': 0, 'sysctl:all/arp_ignore': 0,
        'sysctl:eth0/arp_announce': 0, 'sysctl:eth0/arp_ignore': 0,
    }
    assert the_plan.record['settings']['arp_interface'] == 'eth0'
    assert the_plan.sysctls == {
        'net.ipv4.conf.all.arp_announce': 2, 'net.ipv4.conf.all.arp_ignore': 1,
        'net.ipv4.conf.eth0.arp_announce': 2, 'net.ipv4.conf.eth0.arp_ignore': 1,
    }
    assert the_plan.kernel_modules == []
    assert the_plan.operations[-1].text == 'add 192.0.2.10/32 to lo'
    assert the_plan.before['192.0.2.10/32 on lo'] == 'absent'
    assert the_plan.after['192.0.2.10/32 on lo'] == 'present'
    assert the_plan.before['net.ipv4.conf.all.arp_ignore'] == 0
    assert the_plan.after['net.ipv4.conf.all.arp_ignore'] == 1
    assert the_plan.after['managed VIPs'] == ['192.0.2.10/32']


def test_dr_second_run_plans_nothing():
    _plan, live, record = converge(live_host(), rv.empty_record(), request())
    again = rv.plan(request(), live, record)
    assert again.operations == []
    assert again.record == record
    assert again.before == again.after


def test_absent_of_the_only_vip_puts_everything_back():
    original = live_host()
    _plan, live, record = converge(original, rv.empty_record(), request())
    the_plan, live, record = converge(live, record, request(state='absent'))
    assert kinds(the_plan)[0] == ('addr_del', 'lo', '192.0.2.10/32')
    assert live.sysctls == original.sysctls
    assert live.addresses == original.addresses
    assert record['vips'] == {} and record['saved'] == {}
    assert the_plan.sysctls == {}


def test_values_already_right_are_not_saved_and_not_put_back():
    original = live_host(sysctls={'all/arp_ignore': 1, 'all/arp_announce': 2})
    first, live, record = converge(original, rv.empty_record(), request())
    assert 'sysctl:all/arp_ignore' not in record['saved']
    the_plan, live, _record = converge(live, record, request(state='absent'))
    assert live.sysctls['all/arp_ignore'] == 1
    assert live.sysctls['all/arp_announce'] == 2
    assert ('sysctl', 'all/arp_ignore', 0) not in kinds(the_plan)
    assert ('sysctl', 'all/arp_ignore', 1) not in kinds(first)


def test_shared_sysctls_stay_while_another_vip_needs_them():
    _p, live, record = converge(live_host(), rv.empty_record(), request(vip='192.0.2.10'))
    _p, live, record = converge(live, record, request(vip='192.0.2.11'))
    the_plan, live, record = converge(live, record, request(vip='192.0.2.10', state='absent'))
    assert kinds(the_plan) == [('addr_del', 'lo', '192.0.2.10/32')]
    assert live.sysctls['all/arp_ignore'] == 1
    the_plan, live, record = converge(live, record, request(vip='192.0.2.11', state='absent'))
    assert ('sysctl', 'all/arp_ignore', 0) in kinds(the_plan)
    assert live.sysctls['all/arp_ignore'] == 0 and record['saved'] == {}


def test_restored_arp_sysctls_go_back_after_the_vip_is_removed():
    _p, live, record = converge(live_host(), rv.empty_record(), request())
    the_plan = rv.plan(request(state='absent'), live, record)
    order = [op.kind for op in the_plan.operations]
    assert order.index('addr_del') < order.index('sysctl')


def test_vip_on_an_arp_device_is_an_error():
    live = live_host(addresses={'eth0': {'192.0.2.10/32'}})
    with pytest.raises(LvsError, match='already on eth0, where rs_vip did not put it'):
        rv.plan(request(), live, rv.empty_record())


def test_vip_already_on_lo_is_adopted_without_change():
    live = live_host(addresses={'lo': {'192.0.2.10/32'}}, sysctls={
        'all/arp_ignore': 1, 'all/arp_announce': 2, 'eth0/arp_ignore': 1, 'eth0/arp_announce': 2})
    the_plan = rv.plan(request(), live, rv.empty_record())
    assert the_plan.operations == []
    assert list(the_plan.record['vips']) == ['192.0.2.10/32']


def test_dr_dummy_device_is_created_and_removed_with_its_last_vip():
    original = live_host()
    the_plan, live, record = converge(original, rv.empty_record(), request(device='lvs0'))
    assert [k for k in kinds(the_plan) if k[0] != 'sysctl'] == [
        ('link_add', 'lvs0', 'dummy'), ('settle', 'udev', None), ('link_up', 'lvs0', None), ('addr_add', 'lvs0', '192.0.2.10/32')]
    assert [op.command for op in the_plan.operations if op.kind != 'sysctl'] == [
        'ip link add lvs0 type dummy', 'udevadm settle', 'ip link set dev lvs0 up', 'ip address add 192.0.2.10/32 dev lvs0']
    assert record['saved']['link:lvs0'] == 'absent'
    _p, live, record = converge(live, record, request(vip='192.0.2.11', device='lvs0'))
    the_plan, live, record = converge(live, record, request(vip='192.0.2.10', state='absent'))
    assert kinds(the_plan) == [('addr_del', 'lvs0', '192.0.2.10/32')]
    the_plan, live, record = converge(live, record, request(vip='192.0.2.11', state='absent'))
    assert ('link_del', 'lvs0', None) in kinds(the_plan)
    assert not any(op.kind == 'link_down' for op in the_plan.operations)
    assert 'lvs0' not in live.links
    assert live.sysctls == original.sysctls


def test_existing_dummy_device_is_not_deleted():
    original = live_host(extra_links=[('lvs0', 'dummy', True)])
    _p, live, record = converge(original, rv.empty_record(), request(device='lvs0'))
    assert 'link:lvs0' not in record['saved']
    the_plan, live, _r = converge(live, record, request(state='absent'))
    assert 'lvs0' in live.links
    assert not any(op.kind in ('link_del', 'link_down') for op in the_plan.operations)


def test_dummy_with_foreign_address_is_kept_with_a_warning():
    _p, live, record = converge(live_host(), rv.empty_record(), request(device='lvs0'))
    live.addresses['lvs0'].add('198.51.100.1/32')
    the_plan = rv.plan(request(state='absent'), live, record)
    assert not any(op.kind == 'link_del' for op in the_plan.operations)
    assert the_plan.warnings == ['lvs0 still holds 198.51.100.1/32, which rs_vip did not add: the device is left in place.']
    assert 'link:lvs0' not in the_plan.record['saved']


def test_dr_device_that_answers_arp_is_an_error():
    live = live_host(extra_links=[('eth1', 'veth', True)])
    with pytest.raises(LvsError, match='eth1 is a veth device, which answers ARP'):
        rv.plan(request(device='eth1'), live, rv.empty_record())


def test_moving_a_vip_from_lo_to_a_dummy_device():
    _p, live, record = converge(live_host(), rv.empty_record(), request())
    the_plan, live, record = converge(live, record, request(device='lvs0'))
    assert kinds(the_plan)[0] == ('addr_del', 'lo', '192.0.2.10/32')
    assert ('addr_add', 'lvs0', '192.0.2.10/32') in kinds(the_plan)
    assert '192.0.2.10/32' not in live.addresses['lo']
    assert record['vips']['192.0.2.10/32']['device'] == 'lvs0'


def test_no_default_route_needs_arp_interface():
    live = live_host(default_route=None)
    with pytest.raises(LvsError, match='no IPv4 default route'):
        rv.plan(request(), live, rv.empty_record())
    the_plan = rv.plan(request(arp_interface='eth0'), live, rv.empty_record())
    assert ('sysctl', 'eth0/arp_ignore', 1) in kinds(the_plan)


def test_unknown_arp_interface_is_an_error():
    with pytest.raises(LvsError, match='has no interface eth7'):
        rv.plan(request(arp_interface='eth7'), live_host(), rv.empty_record())


def test_changing_arp_interface_puts_the_old_one_back():
    live = live_host(extra_links=[('eth1', 'veth', True)])
    _p, live, record = converge(live, rv.empty_record(), request())
    the_plan, live, record = converge(live, record, request(arp_interface='eth1'))
    assert ('sysctl', 'eth1/arp_ignore', 1) in kinds(the_plan)
    assert ('sysctl', 'eth0/arp_ignore', 0) in kinds(the_plan)
    assert live.sysctls['eth0/arp_ignore'] == 0 and live.sysctls['eth1/arp_ignore'] == 1
    assert record['settings']['arp_interface'] == 'eth1'


def test_absent_of_an_unknown_vip_that_is_not_there_changes_nothing():
    the_plan = rv.plan(request(state='absent'), live_host(), rv.empty_record())
    assert the_plan.operations == []
    assert the_plan.record['saved'] == {}


def test_absent_removes_an_unmanaged_vip_from_the_named_device_only():
    live = live_host(addresses={'lo': {'192.0.2.10/32'}, 'eth0': {'192.0.2.11/32'}})
    assert kinds(rv.plan(request(state='absent'), live, rv.empty_record())) == [('addr_del', 'lo', '192.0.2.10/32')]
    assert rv.plan(request(vip='192.0.2.11', state='absent'), live, rv.empty_record()).operations == []


def test_ipv6_vip_needs_no_arp_sysctls():
    the_plan = rv.plan(request(vip='2001:db8::10'), live_host(default_route=None), rv.empty_record())
    assert kinds(the_plan) == [('addr_add', 'lo', '2001:db8::10/128')]


def test_ipv6_vip_without_ipv6_is_an_error():
    live = live_host()
    live.ipv6 = False
    with pytest.raises(LvsError, match='no IPv6'):
        rv.plan(request(vip='2001:db8::10'), live, rv.empty_record())


def test_lo_down_is_brought_up_but_never_put_back_down():
    live = live_host()
    live.links['lo'] = rv.Link('lo', 1, None, False, loopback=True)
    the_plan, live, record = converge(live, rv.empty_record(), request())
    assert ('link_up', 'lo', None) in kinds(the_plan)
    assert 'up:lo' not in record['saved']
    the_plan, live, record = converge(live, record, request(state='absent'))
    assert live.links['lo'].up


def test_settings_are_host_wide_and_the_latest_call_wins():
    _p, live, record = converge(live_host(), rv.empty_record(), request(vip='192.0.2.10'))
    _p, live, record = converge(live, record, request(vip='192.0.2.11'))
    the_plan, live, record = converge(live, record, request(vip='192.0.2.11', arp_ignore=2))
    assert ('sysctl', 'all/arp_ignore', 2) in kinds(the_plan)
    assert record['saved']['sysctl:all/arp_ignore'] == 0  # the value from before the module
    _p, live, record = converge(live, record, request(vip='192.0.2.10', state='absent'))
    _p, live, record = converge(live, record, request(vip='192.0.2.11', state='absent'))
    assert live.sysctls['all/arp_ignore'] == 0


# ---------------------------------------------------------------------------
# TUN planning


def test_tun_ipip_loads_the_module_and_relaxes_rp_filter_on_tunl0():
    live = live_host(default_rp=2)
    the_plan = rv.plan(request(forwarding='tun'), live, rv.empty_record())
    ops = kinds(the_plan)
    assert ops[0] == ('module', 'ipip', None)
    assert the_plan.operations[0].extra == 'tunl0'
    # tunl0 will take default's rp_filter (2) when it appears: set it to 0.
    assert ('sysctl', 'tunl0/rp_filter', 0) in ops
    assert ops[-2:] == [('link_up', 'tunl0', None), ('addr_add', 'tunl0', '192.0.2.10/32')]
    assert ('sysctl', 'all/rp_filter', 0) not in ops  # all is already 0
    assert the_plan.kernel_modules == ['ipip']
    assert the_plan.creates_devices
    assert the_plan.before['device tunl0 state'] is None
    assert the_plan.after['device tunl0 state'] == 'up'


def test_tun_with_strict_all_lowers_all_and_compensates_other_interfaces():
    original = live_host(all_rp=1, sysctls={'eth0/rp_filter': 2})
    the_plan, live, record = converge(original, rv.empty_record(), request(forwarding='tun'))
    ops = kinds(the_plan)
    assert ('sysctl', 'all/rp_filter', 0) in ops
    assert ('sysctl', 'default/rp_filter', 1) in ops
    assert ('sysctl', 'lo/rp_filter', 1) in ops
    assert not any(op[1] == 'eth0/rp_filter' for op in ops)  # 2 is already above the old `all`
    # raising comes before lowering `all`
    sysctl_ops = [op for op in the_plan.operations if op.kind == 'sysctl' and op.target.endswith('rp_filter')]
    assert sysctl_ops.index(next(o for o in sysctl_ops if o.target == 'all/rp_filter')) > \
        sysctl_ops.index(next(o for o in sysctl_ops if o.target == 'lo/rp_filter'))
    # the effective value max(all, dev) of every other interface is unchanged
    for device in ('lo', 'eth0'):
        before = max(original.sysctls['all/rp_filter'], original.sysctls[device + '/rp_filter'])
        after = max(live.sysctls['all/rp_filter'], live.sysctls[device + '/rp_filter'])
        assert before == after
    assert max(live.sysctls['all/rp_filter'], live.sysctls['tunl0/rp_filter']) == 0
    # idempotent
    assert rv.plan(request(forwarding='tun'), live, record).operations == []
    # and absent puts every value back
    the_plan, live, record = converge(live, record, request(forwarding='tun', state='absent'))
    for key, value in original.sysctls.items():
        assert live.sysctls[key] == value, key
    assert record['saved'] == {}
    restore = [op for op in the_plan.operations if op.kind == 'sysctl' and op.target.endswith('rp_filter')]
    assert restore[0].target == 'all/rp_filter'  # raised back before the others are lowered


def test_tun_loose_rp_filter_keeps_all_at_loose_or_below():
    live = live_host(all_rp=2)
    the_plan = rv.plan(request(forwarding='tun', rp_filter=2), live, rv.empty_record())
    assert ('sysctl', 'all/rp_filter', 2) not in kinds(the_plan)
    assert ('sysctl', 'tunl0/rp_filter', 2) in kinds(the_plan)  # the value asked for, exactly
    the_plan = rv.plan(request(forwarding='tun', rp_filter=0), live, rv.empty_record())
    assert ('sysctl', 'all/rp_filter', 0) in kinds(the_plan)


def test_tun_gue_loads_fou_and_adds_the_port():
    the_plan, live, record = converge(live_host(), rv.empty_record(),
                                      request(forwarding='tun', tunnel_type='gue', tunnel_port=6080))
    ops = kinds(the_plan)
    assert ('module', 'fou', None) in ops
    assert ('fou_add', '4:6080', (4, 6080)) in ops
    assert ops.index(('fou_add', '4:6080', (4, 6080))) < ops.index(('addr_add', 'tunl0', '192.0.2.10/32'))
    assert the_plan.kernel_modules == ['fou', 'ipip']
    assert rv.plan(request(forwarding='tun', tunnel_type='gue', tunnel_port=6080), live, record).operations == []
    the_plan, live, record = converge(live, record, request(state='absent'))
    assert ('fou_del', '4:6080', (4, 6080)) in kinds(the_plan)
    assert ('link_down', 'tunl0', None) in kinds(the_plan)
    assert live.fou_ports == {}


def test_gue_port_shared_by_two_vips_goes_with_the_last():
    req_a = request(vip='192.0.2.10', forwarding='tun', tunnel_type='gue', tunnel_port=6080)
    req_b = request(vip='192.0.2.11', forwarding='tun', tunnel_type='gue', tunnel_port=6080)
    _p, live, record = converge(live_host(), rv.empty_record(), req_a)
    _p, live, record = converge(live, record, req_b)
    the_plan, live, record = converge(live, record, request(vip='192.0.2.10', state='absent'))
    assert kinds(the_plan) == [('addr_del', 'tunl0', '192.0.2.10/32')]
    the_plan, live, record = converge(live, record, request(vip='192.0.2.11', state='absent'))
    assert ('fou_del', '4:6080', (4, 6080)) in kinds(the_plan)


def test_existing_gue_port_is_used_and_left_alone():
    live = live_host(fou={(4, 6080): rv.FOU_ENCAP_GUE}, modules=['fou'])
    req = request(forwarding='tun', tunnel_type='gue', tunnel_port=6080)
    the_plan, live, record = converge(live, rv.empty_record(), req)
    assert not any(op.kind in ('fou_add', 'module') and op.target != 'ipip' for op in the_plan.operations)
    the_plan, live, record = converge(live, record, request(state='absent'))
    assert live.fou_ports == {(4, 6080): rv.FOU_ENCAP_GUE}


def test_direct_fou_port_conflicts_with_gue():
    live = live_host(fou={(4, 6080): rv.FOU_ENCAP_DIRECT}, modules=['fou'])
    with pytest.raises(LvsError, match='without GUE'):
        rv.plan(request(forwarding='tun', tunnel_type='gue', tunnel_port=6080), live, rv.empty_record())


def test_changing_tunnel_type_releases_the_fou_port():
    _p, live, record = converge(live_host(), rv.empty_record(), request(forwarding='tun', tunnel_type='gue', tunnel_port=6080))
    the_plan, live, record = converge(live, record, request(forwarding='tun', tunnel_type='ipip'))
    assert kinds(the_plan) == [('fou_del', '4:6080', (4, 6080))]


def test_tun_gre_uses_gre0_and_ip_gre():
    the_plan = rv.plan(request(forwarding='tun', tunnel_type='gre'), live_host(), rv.empty_record())
    assert kinds(the_plan)[0] == ('module', 'ip_gre', None)
    assert ('addr_add', 'gre0', '192.0.2.10/32') in kinds(the_plan)
    assert the_plan.kernel_modules == ['ip_gre']


def test_tun_ipv6_needs_no_ipv4_sysctls():
    the_plan = rv.plan(request(vip='2001:db8::20', forwarding='tun'), live_host(), rv.empty_record())
    assert kinds(the_plan) == [
        ('module', 'ip6_tunnel', None), ('settle', 'udev', None), ('link_up', 'ip6tnl0', None),
        ('addr_add', 'ip6tnl0', '2001:db8::20/128')]


def test_tunnel_device_with_foreign_address_is_left_up():
    live = live_host(extra_links=[('tunl0', 'ipip', False)], modules=['ipip'])
    _p, live, record = converge(live, rv.empty_record(), request(forwarding='tun'))
    live.addresses['tunl0'].add('198.51.100.7/32')
    the_plan = rv.plan(request(state='absent'), live, record)
    assert not any(op.kind == 'link_down' for op in the_plan.operations)
    assert 'left up' in the_plan.warnings[0]


# ---------------------------------------------------------------------------
# the flow: check mode, real run, settling, read back


class FakeHost:
    """A stand-in for _rs_host.Host over a LiveState, recording what is done."""

    def __init__(self, live, record=None, drift=None):
        self.live = live
        self.record = record
        self.applied = []
        self.writes = []
        self.locked = None
        self.closed = False
        self.drift = drift  # called after each apply round, may change self.live

    def lock(self, create):
        self.locked = create

    def read_record(self):
        return copy.deepcopy(self.record)

    def write_record(self, record):
        self.writes.append(copy.deepcopy(record))
        self.record = copy.deepcopy(record)

    def read_state(self):
        if self.drift and self.applied:
            self.drift(self)
            self.drift = None
        return copy.deepcopy(self.live)

    def apply(self, op):
        self.applied.append(op)
        fake_plan = rv.Plan([op], {}, {}, {}, [], {}, [], False)
        self.live = apply_plan(self.live, fake_plan)

    def close(self):
        self.closed = True


def test_check_mode_reports_without_applying_or_writing():
    host = FakeHost(live_host())
    result = rv.run_rs_vip(params(), host, check_mode=True, sleep=None)
    assert result['changed'] is True
    assert result['operations'][-1] == 'ip address add 192.0.2.10/32 dev lo'
    assert host.applied == [] and host.writes == []
    assert host.locked is False and host.closed


def test_real_run_applies_writes_record_and_reads_back():
    host = FakeHost(live_host())
    result = rv.run_rs_vip(params(), host, check_mode=False, sleep=None)
    assert result['changed'] is True
    assert [op.command for op in host.applied] == result['operations']
    assert host.writes[-1]['vips'] == {'192.0.2.10/32': {'forwarding': 'dr', 'device': 'lo', 'tunnel_type': None, 'tunnel_port': None}}
    assert result['diff']['after']['192.0.2.10/32 on lo'] == 'present'
    assert result['managed_vips'] == [{'vip': '192.0.2.10/32', 'forwarding': 'dr', 'device': 'lo'}]
    again = rv.run_rs_vip(params(), host, check_mode=False, sleep=None)
    assert again['changed'] is False and again['operations'] == []
    check = rv.run_rs_vip(params(), host, check_mode=True, sleep=None)
    assert check['changed'] is False


def test_settling_fixes_what_udev_changes_behind_the_module():
    def udev(fake):
        fake.live.sysctls['tunl0/rp_filter'] = 2  # systemd's 50-default.conf applied on the new device

    host = FakeHost(live_host(), drift=udev)
    slept = []
    result = rv.run_rs_vip(params(forwarding='tun'), host, check_mode=False, sleep=slept.append)
    assert slept == [rv.SETTLE_DELAY]
    assert result['operations'][-1] == 'sysctl -w net.ipv4.conf.tunl0.rp_filter=0'
    assert host.live.sysctls['tunl0/rp_filter'] == 0
    assert rv.run_rs_vip(params(forwarding='tun'), host, check_mode=True, sleep=None)['changed'] is False


def test_a_kernel_that_does_not_keep_changes_is_an_error():
    class StubbornHost(FakeHost):
        def apply(self, op):
            self.applied.append(op)  # accepted, never done

    host = StubbornHost(live_host())
    with pytest.raises(LvsError, match='did not keep the changes'):
        rv.run_rs_vip(params(), host, check_mode=False, sleep=None)
    assert host.closed


def test_errors_come_before_any_change():
    host = FakeHost(live_host(addresses={'eth0': {'192.0.2.10/32'}}))
    with pytest.raises(LvsError):
        rv.run_rs_vip(params(), host, check_mode=False, sleep=None)
    assert host.applied == [] and host.writes == []


# ---------------------------------------------------------------------------
# the whole set, purge, and the commands a boot script runs


def whole_set(*entries, **settings):
    return rv.normalise_request(dict(settings, vips=list(entries), purge=True))


GUE = {'vip': '192.0.2.21', 'forwarding': 'tun', 'tunnel_type': 'gue', 'tunnel_port': 6080}
IPIP = {'vip': '192.0.2.20', 'forwarding': 'tun'}
DUMMY = {'vip': '192.0.2.10', 'device': 'lvs0'}
V6 = {'vip': '2001:db8::10'}


def test_purge_removes_managed_vips_that_are_not_listed_and_only_those():
    live = live_host(addresses={'lo': {'198.51.100.1/32'}})
    _p, live, record = converge(live, rv.empty_record(), whole_set(DUMMY, V6, IPIP))
    the_plan, live, record = converge(live, record, whole_set(V6))
    assert ('addr_del', 'lvs0', '192.0.2.10/32') in kinds(the_plan)
    assert ('addr_del', 'tunl0', '192.0.2.20/32') in kinds(the_plan)
    assert ('link_del', 'lvs0', None) in kinds(the_plan)
    assert sorted(record['vips']) == ['2001:db8::10/128']
    assert '198.51.100.1/32' in live.addresses['lo']  # not the module's: never purged
    the_plan, live, record = converge(live, record, whole_set())
    assert kinds(the_plan) == [('addr_del', 'lo', '2001:db8::10/128')]
    assert record['vips'] == {} and record['saved'] == {}


def test_without_purge_the_other_managed_vips_stay():
    _p, live, record = converge(live_host(), rv.empty_record(), whole_set(DUMMY, V6))
    the_plan = rv.plan(rv.normalise_request({'vips': [IPIP]}), live, record)
    assert sorted(the_plan.record['vips']) == ['192.0.2.10/32', '192.0.2.20/32', '2001:db8::10/128']
    assert not any(op.kind == 'addr_del' for op in the_plan.operations)


def test_the_whole_set_in_one_call_is_idempotent():
    live = live_host(all_rp=1)
    _p, live, record = converge(live, rv.empty_record(), whole_set(DUMMY, IPIP, GUE, V6))
    again = rv.plan(whole_set(DUMMY, IPIP, GUE, V6), live, record)
    assert again.operations == [] and again.record == record


def test_operations_are_replayable_commands():
    live = live_host(all_rp=1)
    the_plan = rv.plan(whole_set(DUMMY, GUE, V6), live, rv.empty_record())
    # Raise before lowering (the kernel uses the larger of all and the device); the devices
    # made here get every value they need written, whatever they took from default.
    assert [op.command for op in the_plan.operations] == [
        'modprobe ipip',
        'modprobe fou',
        'ip link add lvs0 type dummy',
        'udevadm settle',
        'sysctl -w net.ipv4.conf.all.arp_announce=2',
        'sysctl -w net.ipv4.conf.all.arp_ignore=1',
        'sysctl -w net.ipv4.conf.default.rp_filter=1',
        'sysctl -w net.ipv4.conf.eth0.arp_announce=2',
        'sysctl -w net.ipv4.conf.eth0.arp_ignore=1',
        'sysctl -w net.ipv4.conf.eth0.rp_filter=1',
        'sysctl -w net.ipv4.conf.lo.rp_filter=1',
        'sysctl -w net.ipv4.conf.lvs0.rp_filter=1',
        'sysctl -w net.ipv4.conf.tunl0.rp_filter=0',
        'sysctl -w net.ipv4.conf.all.rp_filter=0',
        'ip fou add port 6080 gue',
        'ip link set dev lvs0 up',
        'ip link set dev tunl0 up',
        'ip address add 192.0.2.10/32 dev lvs0',
        'ip address add 192.0.2.21/32 dev tunl0',
        'ip address add 2001:db8::10/128 dev lo',
    ]
    _p, live, record = converge(live, rv.empty_record(), whole_set(DUMMY, GUE, V6))
    removal = rv.plan(whole_set(), live, record)
    assert [op.command for op in removal.operations] == [
        'ip address del 192.0.2.10/32 dev lvs0',
        'ip address del 192.0.2.21/32 dev tunl0',
        'ip address del 2001:db8::10/128 dev lo',
        'sysctl -w net.ipv4.conf.all.rp_filter=1',
        'sysctl -w net.ipv4.conf.all.arp_announce=0',
        'sysctl -w net.ipv4.conf.all.arp_ignore=0',
        'sysctl -w net.ipv4.conf.default.rp_filter=0',
        'sysctl -w net.ipv4.conf.eth0.arp_announce=0',
        'sysctl -w net.ipv4.conf.eth0.arp_ignore=0',
        'sysctl -w net.ipv4.conf.eth0.rp_filter=0',
        'sysctl -w net.ipv4.conf.lo.rp_filter=0',
        'ip fou del port 6080',
        'ip link set dev tunl0 down',
        'ip link del lvs0',
    ]


@pytest.mark.parametrize('entries', [
    [DUMMY],
    [IPIP],
    [DUMMY, IPIP, GUE, V6],
    [{'vip': '192.0.2.30', 'forwarding': 'tun', 'tunnel_type': 'gre'}, {'vip': '2001:db8::20', 'forwarding': 'tun'}],
])
@pytest.mark.parametrize('all_rp', [0, 1])
def test_boot_commands_are_the_operations_of_a_run_from_empty(entries, all_rp):
    empty = live_host(all_rp=all_rp)
    the_plan, live, record = converge(empty, rv.empty_record(), whole_set(*entries))
    assert rv.boot_commands(live, record) == [op.command for op in the_plan.operations]
    assert rv.pristine(live, record).sysctls == empty.sysctls
    # Stable: the next run (nothing to change) gives the same commands.
    again, live, record = converge(live, record, whole_set(*entries))
    assert again.operations == []
    assert rv.boot_commands(live, record) == [op.command for op in the_plan.operations]


def test_boot_commands_follow_the_set_after_changes():
    empty = live_host(all_rp=1)
    _p, live, record = converge(empty, rv.empty_record(), whole_set(DUMMY, V6))
    _p, live, record = converge(live, record, whole_set(IPIP, V6))
    _p, live, record = converge(live, record, whole_set(GUE, V6, DUMMY))
    from_empty = rv.plan(whole_set(GUE, V6, DUMMY), empty, rv.empty_record())
    assert rv.boot_commands(live, record) == [op.command for op in from_empty.operations]


def test_boot_commands_of_nothing_are_empty():
    _p, live, record = converge(live_host(), rv.empty_record(), whole_set(DUMMY))
    _p, live, record = converge(live, record, whole_set())
    assert rv.boot_commands(live, record) == []
    assert rv.boot_commands(live_host(), rv.empty_record()) == []


def test_check_mode_returns_the_commands_of_the_set_it_would_leave():
    host = FakeHost(live_host())
    options = {'vips': [DUMMY], 'purge': True, 'return_commands': True}
    check = rv.run_rs_vip(options, host, check_mode=True, sleep=None)
    real = rv.run_rs_vip(options, host, check_mode=False, sleep=None)
    assert check['commands'] == real['commands'] == real['operations']
    assert 'commands' not in rv.run_rs_vip(dict(options, return_commands=False), host, check_mode=True, sleep=None)


def test_no_udev_no_settle():
    live = live_host()
    live.udev = False
    the_plan = rv.plan(whole_set(DUMMY), live, rv.empty_record())
    assert 'udevadm settle' not in [op.command for op in the_plan.operations]
    _p, live, record = converge(live, rv.empty_record(), whole_set(DUMMY))
    assert 'udevadm settle' not in rv.boot_commands(live, record)
