#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_service
short_description: Manage one IPVS virtual service and, optionally, its real servers
version_added: 1.0.0
description:
  - Adds, changes or removes one virtual service of the kernel's IPVS table (Linux Virtual Server), identified by
    protocol, VIP and port or by firewall mark.
  - The service is declared completely; a setting left out takes its default. Settings are changed in place.
  - With O(real_servers), the service's real servers become exactly the listed ones. Without it, they are left alone
    (manage them with M(lvs.ipvs.ipvs_real)).
  - To manage many services in one task, use M(lvs.ipvs.ipvs_table).
author:
  - lvs.ipvs contributors (!UNKNOWN)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
  - lvs.ipvs.ipvs.service_key
  - lvs.ipvs.ipvs.service
attributes:
  check_mode:
    support: full
    description: Check mode plans through the same code as a real run, reports the same operations and sends no change.
  diff_mode:
    support: full
    description: The diff shows the service with its real servers before and after.
  platform:
    support: full
    platforms: linux
    description: Linux kernels with IPVS.
options:
  state:
    description:
      - V(present) creates or updates the service; V(absent) removes it with its real servers.
      - With V(absent) only the options that identify the service are used.
    type: str
    choices: [absent, present]
    default: present
  real_servers:
    description:
      - The real servers of the service. Those missing are added, those that differ are changed in place, and the
        others are removed. Each entry is declared completely; a setting left out takes its default.
      - When left out, the service's real servers are not touched.
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - The real server's IPv4 or IPv6 address. An address of the other family than the service's needs
            O(real_servers[].forwarding=tun).
        type: str
        required: true
      port:
        description:
          - The real server's port. Defaults to the service's O(port) (V(0) for a fwmark service, which keeps each
            packet's port). Only V(nat) can map to another port.
        type: int
      weight:
        description:
          - The real server's share of new connections relative to the others, 0 to 2147483647. V(0) gives it no new
            connections.
        type: int
        default: 1
      forwarding:
        description:
          - The forwarding method of this real server. Defaults to the service's O(forwarding).
        type: str
        choices: [dr, nat, tun]
      upper_threshold:
        description:
          - The most connections (active plus inactive) the real server gets. V(0) means no limit.
        type: int
        default: 0
      lower_threshold:
        description:
          - After going over O(real_servers[].upper_threshold), the real server gets new connections again below this
            number. V(0) means three quarters of the upper threshold. May not be above the upper threshold.
        type: int
        default: 0
      tunnel_type:
        description:
          - The encapsulation with V(tun) forwarding. V(ipip) (the default there), V(gue) (Linux 5.2) or V(gre)
            (Linux 5.3).
        type: str
        choices: [gre, gue, ipip]
      tunnel_port:
        description:
          - The UDP port the real server receives GUE packets on; required with V(gue), used only there.
        type: int
      tunnel_checksum:
        description:
          - Tunnel checksums. V(nocsum) (the default with V(tun)), V(csum) (GUE and GRE) or V(remcsum) (GUE).
        type: str
        choices: [csum, nocsum, remcsum]
"""

EXAMPLES = r"""
- name: A web service, weighted least connections, two DR real servers
  lvs.ipvs.ipvs_service:
    vip: 192.0.2.10
    protocol: tcp
    port: 80
    scheduler: wlc
    forwarding: dr
    real_servers:
      - address: 10.0.0.11
      - address: 10.0.0.12
        weight: 2
  become: true

- name: NAT with port mapping and persistence per /24 of clients
  lvs.ipvs.ipvs_service:
    vip: 192.0.2.10
    port: 443
    persistence_timeout: 600
    persistence_netmask: 24
    forwarding: nat
    real_servers:
      - address: 10.0.0.11
        port: 8443
      - address: 10.0.0.12
        port: 8443
  become: true

- name: Maglev hashing over an IPv6 VIP, with fallback, leaving the real servers as they are
  lvs.ipvs.ipvs_service:
    vip: "2001:db8::10"
    protocol: udp
    port: 53
    scheduler: mh
    scheduler_flags: [mh-fallback, mh-port]
  become: true

- name: A firewall-mark service whose real servers are reached through GUE tunnels
  lvs.ipvs.ipvs_service:
    fwmark: 7
    scheduler: rr
    forwarding: tun
    real_servers:
      - address: 198.51.100.21
        tunnel_type: gue
        tunnel_port: 6080
  become: true

- name: Remove a service and its real servers
  lvs.ipvs.ipvs_service:
    vip: 192.0.2.10
    port: 80
    state: absent
  become: true
"""

RETURN = r"""
service:
  description:
    - The service as the kernel holds it after the run (predicted in check mode), with its real servers; empty when
      it does not exist.
  returned: always
  type: dict
  sample:
    family: ipv4
    protocol: tcp
    vip: 192.0.2.10
    port: 80
    fwmark: null
    scheduler: wlc
    scheduler_flags: []
    persistence_timeout: 0
    persistence_netmask: 32
    one_packet: false
    persistence_engine: null
    real_servers:
      - address: 10.0.0.11
        port: 80
        weight: 1
        forwarding: dr
        upper_threshold: 0
        lower_threshold: 0
        tunnel_type: null
        tunnel_port: null
        tunnel_checksum: null
operations:
  description: The changes made (in check mode, those that would be made), each as the equivalent C(ipvsadm) rule.
  returned: always
  type: list
  elements: str
  sample: ["-A -t 192.0.2.10:80 -s wlc", "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1"]
netlink_requests:
  description: The number of change requests sent to the kernel (V(0) in check mode).
  returned: always
  type: int
  sample: 2
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.argspec import ipvs_service_spec
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import run
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.service import service_flow


def main():
    run(AnsibleModule(**ipvs_service_spec()), service_flow)


if __name__ == '__main__':
    main()
