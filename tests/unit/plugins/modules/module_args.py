# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hand a module its arguments in-process, on every ansible-core the collection supports.

meta/runtime.yml claims ansible-core 2.16; ``ansible.module_utils.testing.patch_module_args``
exists from 2.19 on, where it also selects the serialization profile the module decodes its
arguments with.  Before 2.19 AnsibleModule reads ``basic._ANSIBLE_ARGS``, the JSON bytes of
``{"ANSIBLE_MODULE_ARGS": ...}``, and knows no profiles; the fallback below sets just that.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16 to 2.18
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to the AnsibleModule instances created within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError('The `args` arg must be a dict or None.')
        payload = json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode('utf-8')
        with mock.patch.object(basic, '_ANSIBLE_ARGS', payload):
            yield

__all__ = ['patch_module_args']
