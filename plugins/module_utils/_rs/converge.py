# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one converge of the real-server modules: apply a plan, read back, plan again.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

rs_vip and rs_nat_route both read the host, plan from what they read and
their record, and apply the plan unless in check mode.  What the kernel
holds afterwards is read again and planned again: an empty plan proves the
changes took.  Where something on the host reacts to the changes (udev
applying sysctl.d to a device a tunnel module made), a few more rounds
settle it.
"""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.module_utils._common import LvsError


def converge(first, read_plan, apply, write_record, rounds=0, wait=None):
    """Apply ``first`` (a plan with ``operations`` and ``record``) and return
    ``(final, extra)``: the plan read back at the end, and the operations the
    settling rounds added.

    ``read_plan(record)`` reads the host and plans against ``record``;
    ``apply(operation)`` applies one operation; ``write_record(record)`` keeps
    a record that changed.  Up to ``rounds`` times, what is still needed is
    applied too (after ``wait(plan)``); whatever is still needed then is an
    error."""
    for operation in first.operations:
        apply(operation)
    current = first
    extra = []
    for _round in range(rounds):
        if wait is not None:
            wait(current)
        current = read_plan(current.record)
        if not current.operations:
            return current, extra
        write_record(current.record)
        for operation in current.operations:
            apply(operation)
        extra.extend(current.operations)
    current = read_plan(current.record)
    if current.operations:
        raise LvsError('The kernel did not keep the changes; still needed: %s.'
                       % '; '.join(operation.text for operation in current.operations))
    return current, extra
