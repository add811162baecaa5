# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The words of LVS that the whole collection shares, defined once.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

The IPVS modules, the real-server modules and the controller-side model
(plugin_utils, the roles' filters) all take their schedulers, protocols,
forwarding methods, tunnel types and the kernel modules behind them from here.
Numbers are the kernel's (include/uapi/linux/ip_vs.h, in.h).
"""

from __future__ import annotations

FAMILIES = {'ipv4': 2, 'ipv6': 10}

PROTOCOLS = {'tcp': 6, 'udp': 17, 'sctp': 132}

SCHEDULERS = ('rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos')
# ipvsadm's default, and the kernel module's name of each scheduler.
DEFAULT_SCHEDULER = 'wlc'

# The forwarding methods of the kernel's table, with their IP_VS_CONN_F_* numbers.
FORWARDING = {'nat': 0, 'tun': 2, 'dr': 3}
DEFAULT_FORWARDING = 'dr'
# The methods of the cluster model: the kernel's, and FULLNAT, which is IPVS NAT plus source NAT
# on the director.
MODEL_FORWARDING = ('nat', 'dr', 'tun', 'fullnat')
KERNEL_FORWARDING = {'nat': 'nat', 'dr': 'dr', 'tun': 'tun', 'fullnat': 'nat'}
# The methods whose real servers hold the VIP themselves (on a non-ARP device, or a tunnel device).
VIP_FORWARDING = ('dr', 'tun')

TUNNEL_TYPES = {'ipip': 0, 'gue': 1, 'gre': 2}
DEFAULT_TUNNEL_TYPE = 'ipip'
TUNNEL_CHECKSUMS = {'nocsum': 0, 'csum': 1, 'remcsum': 2}
# The kernel module that sends each tunnel type from the director.
TUNNEL_MODULES = {'ipip': 'ipip', 'gue': 'fou', 'gre': 'ip_gre'}

PERSISTENCE_ENGINES = ('sip',)

IPVS_MODULE = 'ip_vs'


def scheduler_module(scheduler):
    """The kernel module of a scheduler: ``ip_vs_wrr`` for ``wrr``."""
    return '%s_%s' % (IPVS_MODULE, scheduler)


def persistence_engine_module(engine):
    """The kernel module of a persistence engine: ``ip_vs_pe_sip`` for ``sip``."""
    return '%s_pe_%s' % (IPVS_MODULE, engine)
