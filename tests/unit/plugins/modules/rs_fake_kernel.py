# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake kernel for the rs_vip and rs_nat_route module tests.

It keeps links, addresses, fou ports, default routes and rules, and a /proc/sys
tree in a temporary directory. pyroute2's IPRoute and GenericNetlinkSocket are
replaced by classes that talk to it, and modprobe by a method that "loads"
modules (creating the tunnel fallback device as the kernel does).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket

from ansible.module_utils import basic

from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
# ansible-core's own on 2.19 and later, a fallback before.
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.module_args import patch_module_args

NetlinkError = _rs_host.NetlinkError  # pyroute2's own class (pyroute2 is installed for the tests)


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ExitJson(kwargs)


def fail_json(self, **kwargs):
    kwargs['failed'] = True
    raise FailJson(kwargs)


class Attrs:
    """Enough of a pyroute2 message: item access for the header, get_attr for NLAs."""

    def __init__(self, fields=None, attrs=None):
        self.fields = fields or {}
        self.attrs = attrs or {}

    def __getitem__(self, key):
        return self.fields[key]

    def get_attr(self, name):
        return self.attrs.get(name)


class FakeKernel:
    SYSCTLS = ('arp_ignore', 'arp_announce', 'rp_filter')
    MODULE_DEVICES = {'ipip': 'tunl0', 'ip_gre': 'gre0', 'ip6_tunnel': 'ip6tnl0', 'ip6_gre': 'ip6gre0'}

    def __init__(self, root):
        self.root = root
        self.links = {}  # name -> dict(index, kind, flags)
        self.addresses = []  # (name, address, prefixlen)
        self.fou = {}  # (af, port) -> type
        self.modules = set()
        self.calls = []
        self.fail_with = None  # errno raised by the next change
        self.routes = []  # dict(family, table, gateway, metric, oif)
        self.rules = []  # dict(family, priority, table, src, src_len, ip_proto, sport)
        os.makedirs(self.path('proc/sys/net/ipv6'))
        os.makedirs(self.path('sys/module'))
        os.makedirs(self.path('lib/modules'))
        with open(self.path('proc/modules'), 'w', encoding='ascii') as handle:
            handle.write('')
        with open(self.path('proc/net_route'), 'w', encoding='ascii') as handle:
            handle.write('Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n')
            handle.write('eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n')
            handle.write('eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n')
        for device in ('all', 'default'):
            self.make_conf(device, 0)
        self.add_link('lo', None, 0x9)
        self.add_link('eth0', 'veth', 0x1)
        self.addresses += [('lo', '127.0.0.1', 8), ('lo', '::1', 128), ('eth0', '10.0.0.2', 24)]

    def path(self, relative):
        return os.path.join(self.root, relative)

    def conf(self, device, name):
        return self.path('proc/sys/net/ipv4/conf/%s/%s' % (device, name))

    def sysctl(self, device, name):
        with open(self.conf(device, name), encoding='ascii') as handle:
            return int(handle.read())

    def set_sysctl(self, device, name, value):
        with open(self.conf(device, name), 'w', encoding='ascii') as handle:
            handle.write('%d\n' % value)

    def make_conf(self, device, value=None):
        os.makedirs(os.path.dirname(self.conf(device, 'x')), exist_ok=True)
        for name in self.SYSCTLS:
            self.set_sysctl(device, name, self.sysctl('default', name) if value is None else value)

    def add_link(self, name, kind, flags=0):
        self.links[name] = {'index': len(self.links) + 1 + len(self.calls) * 10, 'kind': kind, 'flags': flags}
        if name not in ('all', 'default') and not os.path.isdir(os.path.dirname(self.conf(name, 'x'))):
            self.make_conf(name)

    def networks(self):
        return [ipaddress.ip_interface('%s/%d' % (address, prefixlen)) for _name, address, prefixlen in self.addresses]

    def network_device(self, network):
        return next(name for name, address, prefixlen in self.addresses
                    if ipaddress.ip_interface('%s/%d' % (address, prefixlen)) == network)

    def name_of(self, index):
        return next(name for name, link in self.links.items() if link['index'] == index)

    def snapshot(self):
        sysctls = {}
        for device in sorted(os.listdir(self.path('proc/sys/net/ipv4/conf'))):
            for name in self.SYSCTLS:
                sysctls['%s/%s' % (device, name)] = self.sysctl(device, name)
        return {
            'links': {name: (link['kind'], bool(link['flags'] & 1)) for name, link in self.links.items()},
            'addresses': sorted(self.addresses),
            'fou': dict(self.fou),
            'sysctls': sysctls,
        }

    def check_failure(self):
        if self.fail_with:
            code, self.fail_with = self.fail_with, None
            raise NetlinkError(code)

    def modprobe(self, argv, **_kwargs):
        if os.path.basename(argv[0]) == 'udevadm':
            self.calls.append(('udevadm', argv[-1]))
            return 0, '', ''
        module = argv[-1]
        self.calls.append(('modprobe', module))
        self.modules.add(module)
        os.makedirs(self.path('sys/module/' + module), exist_ok=True)
        device = self.MODULE_DEVICES.get(module)
        if device and device not in self.links:
            self.add_link(device, module, 0x80)
        return 0, '', ''


class FakeIPRoute:
    kernel = None

    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True

    def get_links(self):
        out = []
        for name, link in self.kernel.links.items():
            info = Attrs(attrs={'IFLA_INFO_KIND': link['kind']}) if link['kind'] else None
            out.append(Attrs({'index': link['index'], 'flags': link['flags']}, {'IFLA_IFNAME': name, 'IFLA_LINKINFO': info}))
        return tuple(out)

    def get_addr(self):
        out = []
        for name, address, prefixlen in self.kernel.addresses:
            family = socket.AF_INET6 if ':' in address else socket.AF_INET
            attrs = {'IFA_ADDRESS': address}
            if family == socket.AF_INET:
                attrs['IFA_LOCAL'] = address
            out.append(Attrs({'index': self.kernel.links[name]['index'], 'prefixlen': prefixlen, 'family': family}, attrs))
        return out

    def link_lookup(self, ifname):
        link = self.kernel.links.get(ifname)
        return [link['index']] if link else []

    def link(self, command, **kwargs):
        self.kernel.check_failure()
        self.kernel.calls.append(('link', command, kwargs.get('ifname') or self.kernel.name_of(kwargs['index']), kwargs.get('state')))
        if command == 'add':
            if kwargs['ifname'] in self.kernel.links:
                raise NetlinkError(errno.EEXIST)
            self.kernel.add_link(kwargs['ifname'], kwargs['kind'], 0x80)
        elif command == 'set':
            link = self.kernel.links[self.kernel.name_of(kwargs['index'])]
            link['flags'] = (link['flags'] | 1) if kwargs['state'] == 'up' else (link['flags'] & ~1)
        elif command == 'del':
            name = self.kernel.name_of(kwargs['index'])
            del self.kernel.links[name]
            self.kernel.addresses = [a for a in self.kernel.addresses if a[0] != name]
            shutil.rmtree(os.path.dirname(self.kernel.conf(name, 'x')))
        return ()

    def addr(self, command, index, address, prefixlen):
        self.kernel.check_failure()
        name = self.kernel.name_of(index)
        self.kernel.calls.append(('addr', command, name, address, prefixlen))
        entry = (name, str(ipaddress.ip_address(address)), prefixlen)
        if command == 'add':
            if entry in self.kernel.addresses:
                raise NetlinkError(errno.EEXIST)
            self.kernel.addresses.append(entry)
        else:
            self.kernel.addresses.remove(entry)
        return ()

    # -- routes and rules (rs_nat_route)

    def get_routes(self, family):
        out = []
        fam = 4 if family == socket.AF_INET else 6
        for route in self.kernel.routes:
            if route['family'] != fam:
                continue
            attrs = {'RTA_TABLE': route['table'], 'RTA_GATEWAY': route['gateway'], 'RTA_OIF': route['oif'],
                     'RTA_PRIORITY': route['metric'] or None}
            out.append(Attrs({'dst_len': 0, 'type': 1, 'table': min(route['table'], 252)}, attrs))
        return tuple(out)

    def get_rules(self, family):
        fam = 4 if family == socket.AF_INET else 6
        defaults = [dict(priority=0, table=255), dict(priority=32766, table=254)]
        out = []
        for rule in defaults + [r for r in self.kernel.rules if r['family'] == fam]:
            attrs = {'FRA_PRIORITY': rule['priority'] or None, 'FRA_TABLE': rule['table'], 'FRA_SRC': rule.get('src'),
                     'FRA_IP_PROTO': rule.get('ip_proto'), 'FRA_SPORT_RANGE': rule.get('sport_range')}
            out.append(Attrs({'table': min(rule['table'], 252), 'src_len': rule.get('src_len', 0)}, attrs))
        return out

    def route(self, command, family, dst, dst_len, table, priority, gateway=None, oif=None):
        self.kernel.check_failure()
        assert dst_len == 0 and dst in ('0.0.0.0', '::')
        fam = 4 if family == socket.AF_INET else 6
        self.kernel.calls.append(('route', command, fam, table, gateway, priority))
        key = (fam, table, priority)
        if command == 'replace':
            if oif is None:
                network = next((n for n in self.kernel.networks() if ipaddress.ip_address(gateway) in n.network), None)
                if network is None:
                    raise NetlinkError(errno.ENETUNREACH)
                oif = self.kernel.links[self.kernel.network_device(network)]['index']
            self.kernel.routes = [r for r in self.kernel.routes if (r['family'], r['table'], r['metric']) != key]
            self.kernel.routes.append(dict(family=fam, table=table, gateway=gateway, metric=priority, oif=oif))
        else:
            found = [r for r in self.kernel.routes if (r['family'], r['table'], r['metric']) == key
                     and (gateway is None or r['gateway'] == gateway)]
            if not found:
                raise NetlinkError(errno.ESRCH)
            self.kernel.routes.remove(found[0])
        return ()

    def rule(self, command, family, priority, table, **selectors):
        self.kernel.check_failure()
        fam = 4 if family == socket.AF_INET else 6
        entry = dict(family=fam, priority=priority, table=table, **selectors)
        self.kernel.calls.append(('rule', command, entry))
        if command == 'add':
            if entry in self.kernel.rules:
                raise NetlinkError(errno.EEXIST)
            self.kernel.rules.append(entry)
        else:
            self.kernel.rules.remove(entry)
        return ()


class FakeGenericNetlinkSocket:
    kernel = None

    def __init__(self):
        self.prid = 0

    def bind(self, name, msg_class):
        assert name == 'fou'
        assert msg_class.nla_map[1] == ('FOU_ATTR_PORT', 'be16')
        if 'fou' not in self.kernel.modules:
            raise NetlinkError(errno.ENOENT)
        self.prid = 42

    def close(self):
        pass

    def nlm_request(self, msg, msg_type, msg_flags):
        assert msg_type == 42
        attrs = dict(msg['attrs'])
        command = msg['cmd']
        key = (attrs.get('FOU_ATTR_AF'), attrs.get('FOU_ATTR_PORT'))
        if command == 3:
            return [Attrs(attrs={'FOU_ATTR_PORT': port, 'FOU_ATTR_AF': af, 'FOU_ATTR_TYPE': kind})
                    for (af, port), kind in sorted(self.kernel.fou.items())]
        self.kernel.check_failure()
        self.kernel.calls.append(('fou', command, key))
        if command == 1:
            if key in self.kernel.fou:
                raise NetlinkError(errno.EADDRINUSE)
            self.kernel.fou[key] = attrs['FOU_ATTR_TYPE']
        elif command == 2:
            del self.kernel.fou[key]
        return []


def install_fake_kernel(tmp_path, monkeypatch):
    """Replace pyroute2, /proc, /sys, modprobe and exit_json/fail_json by the fake kernel."""
    fake = FakeKernel(str(tmp_path))
    FakeIPRoute.kernel = fake
    FakeGenericNetlinkSocket.kernel = fake
    monkeypatch.setattr(_rs_host, 'IPRoute', FakeIPRoute)
    monkeypatch.setattr(_rs_host, 'GenericNetlinkSocket', FakeGenericNetlinkSocket)
    monkeypatch.setattr(_rs_host, 'PROC_SYS', fake.path('proc/sys'))
    monkeypatch.setattr(_rs_host, 'PROC_NET_ROUTE', fake.path('proc/net_route'))
    monkeypatch.setattr(_rs_host, 'PROC_MODULES', fake.path('proc/modules'))
    monkeypatch.setattr(_rs_host, 'SYS_MODULE', fake.path('sys/module'))
    monkeypatch.setattr(_rs_host, 'LIB_MODULES', fake.path('lib/modules'))
    monkeypatch.setattr(_rs_host, 'RECORD_PATH', fake.path('var/lib/lvs-ipvs/rs_vip.json'))
    monkeypatch.setattr(_rs_host, 'NAT_RECORD_PATH', fake.path('var/lib/lvs-ipvs/rs_nat_route.json'))
    monkeypatch.setattr('ansible_collections.lvs.ipvs.plugins.module_utils._rs.vip.SETTLE_DELAY', 0)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, argv, **kw: fake.modprobe(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, *a, **kw: '/sbin/' + name)
    return fake


def run(module, check=False, diff=False, **args):
    args['_ansible_check_mode'] = check
    args['_ansible_diff'] = diff
    with patch_module_args(args):
        try:
            module.main()
        except ExitJson as exc:
            return exc.args[0]
        except FailJson as exc:
            return exc.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')
