# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pieces shared by every module of the collection.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.
"""

from __future__ import annotations


class LvsError(Exception):
    """An error a person can act on; modules turn it into ``fail_json(msg=...)``."""


def run_module(module, work):
    """The one end of every module of the collection: call ``work()``, which
    returns the result (with ``diff`` and ``warnings`` when it has them), turn
    an LvsError into ``fail_json``, keep the diff for ``--diff`` only, hand
    the warnings to Ansible and exit."""
    try:
        result = work()
    except LvsError as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop('diff', None)
    if module._diff and diff is not None:
        result['diff'] = diff
    for warning in result.pop('warnings', None) or ():
        module.warn(warning)
    module.exit_json(**result)
