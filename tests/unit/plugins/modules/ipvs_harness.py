# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the IPVS modules in-process against the simulated kernel."""

from __future__ import annotations

from ansible.module_utils import basic

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import drain
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import netlink as nl
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import engine as runner
from ansible_collections.lvs.ipvs.tests.unit.plugins.module_utils.ipvs_fake_kernel import (
    FakeKernel,
    open_socket_factory,
)
# ansible-core's own on 2.19 and later, a fallback before.
from ansible_collections.lvs.ipvs.tests.unit.plugins.modules.module_args import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


def _exit_json(module, **kwargs):
    kwargs.setdefault('changed', False)
    kwargs['failed'] = False
    raise ModuleExit(kwargs)


def _fail_json(module, msg, **kwargs):
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise ModuleExit(kwargs)


class FakeTime(object):
    """A clock that advances only when slept on, and a hook run at each
    sleep (``on_sleep(number of sleeps so far)``), so that a test waits no
    real time and decides when connections end."""

    def __init__(self, on_sleep=None):
        self.now = 1000.0
        self.sleeps = 0
        self.slept = []
        self.on_sleep = on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(self.sleeps)


class Environment(object):
    """A simulated host: a FakeKernel, a record of modprobe calls, and whether
    ip_vs is loaded."""

    def __init__(self, monkeypatch, loaded=True, modprobe_fails=(), **kernel_args):
        self.kernel = FakeKernel(**kernel_args)
        self.monkeypatch = monkeypatch
        self.loaded = loaded
        self.modprobe = []
        self.modprobe_fails = set(modprobe_fails)
        factory = open_socket_factory(self.kernel)

        def open_socket():
            if not self.loaded:
                raise nl.IpvsUnavailable('the ip_vs kernel module is not loaded')
            return factory()

        def load_kernel_module(module, name, dry_run=False):
            self.modprobe.append((name, dry_run))
            if name in self.modprobe_fails:
                return 'modprobe: FATAL: Module %s not found' % name
            if name == 'ip_vs' and not dry_run:
                self.loaded = True
            return None

        monkeypatch.setattr(runner, 'open_socket', open_socket)
        monkeypatch.setattr(runner, 'load_kernel_module', load_kernel_module)
        monkeypatch.setattr(runner, '_modules_dir', lambda: '/')
        self.warnings = []
        monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, warning: self.warnings.append(warning))
        monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
        monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)

    def fake_time(self, on_sleep=None):
        """Replace the clock and the sleep of the wait for connections (see FakeTime)."""
        clock = FakeTime(on_sleep)
        self.monkeypatch.setattr(drain, 'time', clock)
        return clock

    def run(self, main, args, check=False, diff=False):
        """Run a module's main(); returns its result dict.  The kernel's
        change requests of this run are in result['_kernel_changes'], its
        warnings in result['_warnings']."""
        before = len(self.kernel.change_requests)
        del self.warnings[:]
        arguments = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        result = None
        with patch_module_args(arguments):
            try:
                main()
            except ModuleExit as exc:
                result = exc.result
        assert result is not None, 'the module did not exit'
        result['_kernel_changes'] = len(self.kernel.change_requests) - before
        result['_warnings'] = list(self.warnings)
        return result
