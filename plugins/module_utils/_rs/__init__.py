# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real-server subsystem of the collection: VIPs, ARP, tunnels and NAT return routes.

This package is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

One file per concern: ``host`` (the kernel access, through pyroute2's
rtnetlink and /proc/sys, and the modules' records), ``vip`` (the pure plan and
flow of rs_vip), ``nat`` (the pure plan and flow of rs_nat_route) and
``converge`` (apply, read back and plan again, the one converge of both).
"""
