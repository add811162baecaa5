# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rs_vip module as a whole, over a fake kernel behind mocked pyroute2 classes."""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest

from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
from ansible_collections.lvs.ipvs.plugins.modules import rs_vip
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.rs_fake_kernel import FakeKernel, install_fake_kernel
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.rs_fake_kernel import run as run_module


@pytest.fixture(name='kernel')
def kernel_fixture(tmp_path, monkeypatch):
    return install_fake_kernel(tmp_path, monkeypatch)


def run(**kwargs):
    return run_module(rs_vip, **kwargs)


def vips(*entries, **kwargs):
    """Options that declare the whole set of the host's VIPs."""
    return dict(kwargs, vips=[dict(entry) for entry in entries], purge=True)


DR = {'vip': '192.0.2.10'}
GUE = {'vip': '192.0.2.20', 'forwarding': 'tun', 'tunnel_type': 'gue', 'tunnel_port': 6080}


def record(kernel):
    path = kernel.path('var/lib/lvs-ipvs/rs_vip.json')
    if not os.path.exists(path):
        return None
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def test_dr_present_changes_the_kernel_then_is_idempotent(kernel):
    result = run(diff=True, **vips(DR))
    assert result['changed'] is True
    assert result['operations'] == [
        'sysctl -w net.ipv4.conf.all.arp_announce=2',
        'sysctl -w net.ipv4.conf.all.arp_ignore=1',
        'sysctl -w net.ipv4.conf.eth0.arp_announce=2',
        'sysctl -w net.ipv4.conf.eth0.arp_ignore=1',
        'ip address add 192.0.2.10/32 dev lo',
    ]
    assert ('lo', '192.0.2.10', 32) in kernel.addresses
    assert kernel.sysctl('all', 'arp_ignore') == 1 and kernel.sysctl('eth0', 'arp_announce') == 2
    assert result['diff']['before']['192.0.2.10/32 on lo'] == 'absent'
    assert result['diff']['after']['192.0.2.10/32 on lo'] == 'present'
    assert result['sysctls']['net.ipv4.conf.eth0.arp_ignore'] == 1
    assert list(record(kernel)['vips']) == ['192.0.2.10/32']
    calls = len(kernel.calls)
    again = run(diff=True, **vips({'vip': '192.0.2.10/32'}))
    assert again['changed'] is False and again['operations'] == []
    assert len(kernel.calls) == calls
    assert again['diff']['before'] == again['diff']['after']


def test_diff_is_returned_only_in_diff_mode(kernel):
    assert 'diff' not in run(**vips(DR))


def test_check_mode_predicts_and_touches_nothing(kernel):
    before = kernel.snapshot()
    result = run(check=True, return_commands=True, **vips(GUE))
    assert result['changed'] is True
    assert result['operations'][:3] == ['modprobe ipip', 'modprobe fou', 'udevadm settle']
    assert result['commands'] == result['operations']
    assert kernel.snapshot() == before
    assert kernel.calls == []
    assert record(kernel) is None
    assert not os.path.exists(kernel.path('var/lib/lvs-ipvs'))  # not even the lock file
    real = run(return_commands=True, **vips(GUE))
    assert real['operations'] == result['operations']
    assert real['commands'] == result['commands']


def test_tun_gue_loads_modules_adds_port_and_relaxes_rp_filter(kernel):
    kernel.set_sysctl('all', 'rp_filter', 1)
    result = run(**vips(GUE))
    assert result['changed'] is True
    assert kernel.calls[:3] == [('modprobe', 'ipip'), ('modprobe', 'fou'), ('udevadm', 'settle')]
    assert kernel.fou == {(socket.AF_INET, 6080): 2}
    assert ('tunl0', '192.0.2.20', 32) in kernel.addresses
    assert kernel.links['tunl0']['flags'] & 1
    assert kernel.sysctl('tunl0', 'rp_filter') == 0
    assert kernel.sysctl('all', 'rp_filter') == 0
    assert kernel.sysctl('eth0', 'rp_filter') == 1  # raised so that eth0 filters as before
    assert result['kernel_modules'] == ['fou', 'ipip']
    assert result['managed_vips'] == [{'vip': '192.0.2.20/32', 'forwarding': 'tun', 'device': 'tunl0',
                                       'tunnel_type': 'gue', 'tunnel_port': 6080}]
    assert run(**vips(GUE))['changed'] is False
    assert run(check=True, **vips(GUE))['changed'] is False


def test_absent_puts_the_host_back_as_it_was(kernel):
    kernel.set_sysctl('all', 'rp_filter', 1)
    original = kernel.snapshot()
    run(vips=[{'vip': '192.0.2.10', 'device': 'lvs0'}])
    run(vips=[GUE])
    run(vips=[{'vip': '2001:db8::10'}])
    assert 'lvs0' in kernel.links
    assert [v['vip'] for v in run(check=True)['managed_vips']] == ['192.0.2.10/32', '192.0.2.20/32', '2001:db8::10/128']
    assert run(vips=[{'vip': '192.0.2.20', 'state': 'absent'}])['changed'] is True
    assert run(**vips())['changed'] is True
    after = kernel.snapshot()
    # tunl0 stays (a kernel module is not unloaded), down and without address; all else is as before
    assert after['links'].pop('tunl0') == ('ipip', False)
    after['sysctls'] = {k: v for k, v in after['sysctls'].items() if not k.startswith('tunl0/')}
    assert after == original
    assert record(kernel)['vips'] == {} and record(kernel)['saved'] == {}


def test_bad_input_fails_before_any_change(kernel):
    result = run(**vips(DR, {'vip': '192.0.2.0/24'}))
    assert result['failed'] and 'only /32' in result['msg']
    result = run(**vips(DR, {'vip': '192.0.2.11', 'tunnel_type': 'ipip'}))
    assert result['failed'] and 'forwarding=tun only' in result['msg']
    assert kernel.calls == [] and record(kernel) is None


def test_gue_without_port_is_refused_by_the_argument_spec(kernel):
    result = run(**vips({'vip': '192.0.2.10', 'forwarding': 'tun', 'tunnel_type': 'gue'}))
    assert result['failed'] and 'tunnel_port' in result['msg']


def test_vip_on_an_arp_interface_is_refused(kernel):
    kernel.addresses.append(('eth0', '192.0.2.10', 32))
    result = run(**vips(DR))
    assert result['failed'] and 'already on eth0' in result['msg']
    assert kernel.calls == []


def test_permission_error_says_to_become_root(kernel):
    kernel.fail_with = errno.EPERM
    result = run(**vips({'vip': '192.0.2.10', 'device': 'lvs0'}))
    assert result['failed']
    assert result['msg'] == ('Could not create dummy device lvs0: Operation not permitted '
                             '(the module must run as root: use become).')


def test_missing_tunnel_device_after_modprobe_is_explained(kernel, monkeypatch):
    monkeypatch.setattr(FakeKernel, 'MODULE_DEVICES', {})
    result = run(**vips({'vip': '192.0.2.20', 'forwarding': 'tun'}))
    assert result['failed'] and 'fb_tunnels_only_for_init_net' in result['msg']


def test_missing_pyroute2_is_reported(kernel, monkeypatch):
    monkeypatch.setattr(_rs_host, 'HAS_PYROUTE2', False)
    result = run(**vips(DR))
    assert result['failed']
    # The names to install it by, for Debian's package manager and for pip.
    assert 'Debian package python3-pyroute2' in result['msg']
    assert 'pip install pyroute2' in result['msg']


def test_purge_removes_what_the_module_put_there_earlier_only(kernel):
    kernel.addresses.append(('lo', '198.51.100.1', 32))  # someone else's
    run(**vips(DR, {'vip': '192.0.2.11', 'device': 'lvs0'}))
    without = run(vips=[DR])  # no purge: the other VIP stays
    assert without['changed'] is False and len(without['managed_vips']) == 2
    result = run(return_commands=True, **vips(DR))
    assert result['operations'] == ['ip address del 192.0.2.11/32 dev lvs0', 'ip link del lvs0']
    assert 'lvs0' not in kernel.links and ('lo', '198.51.100.1', 32) in kernel.addresses
    assert result['managed_vips'] == [{'vip': '192.0.2.10/32', 'forwarding': 'dr', 'device': 'lo'}]
    assert result['commands'] == [
        'sysctl -w net.ipv4.conf.all.arp_announce=2',
        'sysctl -w net.ipv4.conf.all.arp_ignore=1',
        'sysctl -w net.ipv4.conf.eth0.arp_announce=2',
        'sysctl -w net.ipv4.conf.eth0.arp_ignore=1',
        'ip address add 192.0.2.10/32 dev lo',
    ]


def test_commands_from_empty_are_what_a_first_run_does(kernel):
    kernel.set_sysctl('all', 'rp_filter', 1)
    first = run(return_commands=True, **vips(DR, GUE, {'vip': '2001:db8::10', 'device': 'lvs0'}))
    assert first['commands'] == first['operations']
    again = run(return_commands=True, **vips(DR, GUE, {'vip': '2001:db8::10', 'device': 'lvs0'}))
    assert again['changed'] is False and again['commands'] == first['commands']


def test_an_old_record_is_read_and_rewritten(kernel):
    """A host converged by the one-VIP-per-call module: the same record, now purged by the whole set."""
    run(vips=[{'vip': '192.0.2.10'}])
    run(vips=[{'vip': '192.0.2.11'}])
    result = run(**vips({'vip': '192.0.2.11'}))
    assert result['operations'] == ['ip address del 192.0.2.10/32 dev lo']
    assert list(record(kernel)['vips']) == ['192.0.2.11/32']


def test_an_empty_set_on_a_fresh_host_changes_and_writes_nothing(kernel):
    result = run(return_commands=True, **vips())
    assert result['changed'] is False and result['operations'] == [] and result['commands'] == []
    assert record(kernel) is None and kernel.calls == []
