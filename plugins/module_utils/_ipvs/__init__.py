# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPVS subsystem of the collection: the kernel's table over generic netlink.

This package is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

One file per concern: ``netlink`` (the wire format, the only file that
talks to the kernel), ``model`` (normalise and validate, map to and from the
kernel), ``plan`` (current + desired -> operations, as ipvsadm rules),
``engine`` (apply, read back, verify; the one ``run`` of every IPVS module),
``argspec`` (the options), and one flow per module: ``table``, ``service``,
``real``, ``info``.
"""
