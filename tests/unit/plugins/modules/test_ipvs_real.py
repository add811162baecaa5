# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_real against the simulated kernel, draining and waiting included."""

from __future__ import annotations

import pytest

from ansible_collections.lvs.ipvs.plugins.modules import ipvs_real
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.ipvs_harness import Environment

KEY = {'vip': '192.0.2.10', 'port': 80}
NAT = dict(KEY, address='10.0.0.5', real_port=8080, forwarding='nat', weight=4, upper_threshold=10)


@pytest.fixture
def env(monkeypatch):
    environment = Environment(monkeypatch)
    environment.service = environment.kernel.add_service(addr='192.0.2.10', port=80)
    return environment


def test_present_four_passes(env):
    check = env.run(ipvs_real.main, NAT, check=True, diff=True)
    real = env.run(ipvs_real.main, NAT, diff=True)
    for result in (check, real):
        assert result['changed'] and result['operations'] == ['-a -t 192.0.2.10:80 -r 10.0.0.5:8080 -m -w 4 -x 10']
    assert check['_kernel_changes'] == 0 and real['_kernel_changes'] == 1
    assert check['diff'] == real['diff']
    assert real['diff']['before'] == {}
    assert real['real_server']['active_connections'] == 0
    dest = env.service['dests'][(2, '10.0.0.5', 8080)]
    assert (dest['fwd_method'], dest['weight'], dest['u_thresh']) == (0, 4, 10)
    for check_mode in (True, False):
        again = env.run(ipvs_real.main, NAT, check=check_mode)
        assert again['changed'] is False and again['_kernel_changes'] == 0


def test_edit_in_place_and_service_untouched(env):
    env.run(ipvs_real.main, NAT)
    result = env.run(ipvs_real.main, dict(NAT, weight=1, upper_threshold=0), diff=True)
    assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.5:8080 -m -w 1']
    assert result['diff']['before']['weight'] == 4 and result['diff']['after']['weight'] == 1
    assert env.kernel.change_requests == [5, 6]       # NEW_DEST then SET_DEST, never a service request


def test_service_must_exist(env):
    result = env.run(ipvs_real.main, dict(NAT, vip='192.0.2.99'))
    assert result['failed'] and 'tcp 192.0.2.99:80 does not exist' in result['msg']
    assert env.run(ipvs_real.main, dict(NAT, vip='192.0.2.99', state='absent'))['changed'] is False


def test_drained_sets_only_the_weight(env):
    env.kernel.add_dest(env.service, addr='10.0.0.6', port=80, fwd_method=2, tun_type=1, tun_port=6080, tun_flags=1,
                        weight=5, u_thresh=9)
    args = dict(KEY, address='10.0.0.6', state='drained')
    check = env.run(ipvs_real.main, args, check=True)
    real = env.run(ipvs_real.main, args, diff=True)
    for result in (check, real):
        assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.6:80 -i -w 0 -x 9 --tun-type gue --tun-port 6080 '
                                        '--tun-csum']
    dest = env.service['dests'][(2, '10.0.0.6', 80)]
    assert (dest['weight'], dest['fwd_method'], dest['tun_type'], dest['tun_port'], dest['u_thresh']) == (0, 2, 1, 6080, 9)
    assert real['diff']['before']['weight'] == 5 and real['diff']['after']['weight'] == 0
    assert env.run(ipvs_real.main, args)['changed'] is False
    assert env.run(ipvs_real.main, dict(args, address='10.0.0.77'))['changed'] is False


def test_absent(env):
    env.run(ipvs_real.main, NAT)
    args = dict(KEY, address='10.0.0.5', real_port=8080, state='absent')
    check = env.run(ipvs_real.main, args, check=True)
    assert check['operations'] == ['-d -t 192.0.2.10:80 -r 10.0.0.5:8080'] and check['_kernel_changes'] == 0
    real = env.run(ipvs_real.main, args)
    assert real['operations'] == check['operations'] and real['real_server'] == {}
    assert env.service['dests'] == {}
    assert env.run(ipvs_real.main, args)['changed'] is False


def test_drain_and_wait_for_a_live_connection(env):
    dest = env.kernel.add_dest(env.service, addr='10.0.0.8', port=80, active_conns=1, inact_conns=2, persist_conns=1)

    def connections_end(sleeps):
        if sleeps == 2:
            dest['active_conns'] = 0
        if sleeps == 4:
            dest['inact_conns'] = 0
    clock = env.fake_time(connections_end)
    result = env.run(ipvs_real.main, dict(KEY, address='10.0.0.8', state='drained', wait=True, wait_timeout=60))
    assert result['changed'] and result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.8:80 -g -w 0']
    assert result['connections'] == {'active': 0, 'inactive': 0, 'persistent': 1}
    assert clock.sleeps == 4
    assert dest['weight'] == 0 and (2, '10.0.0.8', 80) in env.service['dests']


def test_absent_with_wait_drains_first(env):
    dest = env.kernel.add_dest(env.service, addr='10.0.0.8', port=80, active_conns=1)
    weights = []

    def connection_ends(sleeps):
        weights.append(dest['weight'])
        dest['active_conns'] = 0
    env.fake_time(connection_ends)
    result = env.run(ipvs_real.main, dict(KEY, address='10.0.0.8', state='absent', wait=True))
    assert weights == [0]       # drained while waiting
    assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.8:80 -g -w 0', '-d -t 192.0.2.10:80 -r 10.0.0.8:80']
    assert env.service['dests'] == {}


def test_wait_timeout(env):
    env.kernel.add_dest(env.service, addr='10.0.0.8', port=80, active_conns=3, inact_conns=1)
    clock = env.fake_time()
    result = env.run(ipvs_real.main, dict(KEY, address='10.0.0.8', state='absent', wait=True, wait_timeout=5))
    assert result['failed']
    assert 'still has 3 active and 1 inactive connections after 5 seconds' in result['msg']
    assert 'was not removed' in result['msg']
    assert clock.now == 1005.0      # gave up when the timeout had passed, not a poll later
    assert env.service['dests'][(2, '10.0.0.8', 80)]['weight'] == 0    # left drained


def test_check_mode_does_not_wait(env):
    env.kernel.add_dest(env.service, addr='10.0.0.8', port=80, active_conns=3)
    clock = env.fake_time()
    result = env.run(ipvs_real.main, dict(KEY, address='10.0.0.8', state='absent', wait=True), check=True)
    assert result['operations'] == ['-e -t 192.0.2.10:80 -r 10.0.0.8:80 -g -w 0', '-d -t 192.0.2.10:80 -r 10.0.0.8:80']
    assert clock.sleeps == 0 and result['_kernel_changes'] == 0


def test_bad_input(env):
    for args, message in [
        (dict(NAT, forwarding='dr'), 'dr forwarding cannot map ports'),
        (dict(NAT, tunnel_type='gre'), 'only apply to tun forwarding'),
        (dict(NAT, address='2001:db8::1'), 'needs tun forwarding'),
        (dict(NAT, lower_threshold=20), 'lower_threshold 20 is above upper_threshold 10'),
        (dict(NAT, address='10.0.0.300'), 'not a valid IPv4 or IPv6 address'),
        (dict(NAT, wait_timeout=-1), 'wait_timeout must be 0 or more'),
        (dict(NAT, fwmark=3), 'mutually exclusive'),
    ]:
        result = env.run(ipvs_real.main, args)
        assert result['failed'] and message in result['msg'], (args, result['msg'])
        assert result['_kernel_changes'] == 0
