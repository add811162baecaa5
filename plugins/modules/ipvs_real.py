#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_real
short_description: Manage one real server of an IPVS virtual service, including draining it
version_added: 0.1.0
description:
  - Adds, changes, drains or removes one real server of an existing virtual service of the kernel's IPVS table.
  - The service is identified as in M(lvs.ipvs.ipvs_service) and must exist for O(state=present); this module never
    changes the service itself.
  - With O(state=present) the real server is declared completely; a setting left out takes its default. Settings are
    changed in place, so established connections are kept.
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
  - lvs.ipvs.ipvs.changes
  - lvs.ipvs.ipvs.service_key
  - lvs.ipvs.ipvs.real_server
attributes:
  check_mode:
    support: full
    description: Check mode plans through the same code as a real run, reports the same operations and sends no
      change. It does not wait.
  diff_mode:
    support: full
    description: The diff shows the real server's settings before and after.
  platform:
    support: full
    platforms: linux
    description: Linux kernels with IPVS.
options:
  address:
    description:
      - The real server's IPv4 or IPv6 address. An address of the other family than the service's needs
        O(forwarding=tun).
    type: str
    required: true
  real_port:
    description:
      - The real server's port (the entries of O(lvs.ipvs.ipvs_service#module:real_servers) call it C(port)). Defaults to the
        service's O(port) (V(0) for a fwmark service, which keeps each packet's port). Only V(nat) can map to another
        port.
    type: int
  forwarding:
    description:
      - The forwarding method. V(nat) rewrites the destination address (and port) and needs the replies to come back
        through the director; V(dr) rewrites only the destination MAC address; V(tun) tunnels the packets.
    type: str
    default: dr
    choices: [dr, nat, tun]
  state:
    description:
      - V(present) adds the real server or changes it to the given settings.
      - V(drained) sets its weight to 0, so that it gets no new connections while the established ones go on; its other
        settings stay as they are and the options that set them are not used. Nothing happens if it does not exist.
        Persistent clients still come back to it until their persistence times out, unless the sysctl
        C(net.ipv4.vs.expire_quiescent_template) is 1.
      - V(absent) removes it. With O(wait=true) it is drained first and removed once its connections are gone.
    type: str
    choices: [absent, drained, present]
    default: present
  wait:
    description:
      - With O(state=drained) or O(state=absent), wait until the real server has no active and no inactive connection
        (as counted by the kernel, which keeps closed TCP connections in C(TIME_WAIT) for up to 2 minutes by default).
      - Fails when O(wait_timeout) passes first; the real server then stays drained.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds O(wait) waits at most.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Add a NAT real server that listens on another port
  lvs.ipvs.ipvs_real:
    vip: 192.0.2.10
    port: 80
    address: 10.0.0.13
    real_port: 8080
    forwarding: nat
    weight: 3
  become: true

- name: Drain a real server before maintenance and wait for its connections to end
  lvs.ipvs.ipvs_real:
    vip: 192.0.2.10
    port: 80
    address: 10.0.0.13
    real_port: 8080
    state: drained
    wait: true
    wait_timeout: 600
  become: true

- name: Remove it gracefully (drain, wait, then remove)
  lvs.ipvs.ipvs_real:
    vip: 192.0.2.10
    port: 80
    address: 10.0.0.13
    real_port: 8080
    state: absent
    wait: true
  become: true

- name: An IPv6 real server behind an IPv4 VIP, through a GUE tunnel with checksums
  lvs.ipvs.ipvs_real:
    vip: 192.0.2.20
    protocol: udp
    port: 4789
    address: "2001:db8::21"
    forwarding: tun
    tunnel_type: gue
    tunnel_port: 6080
    tunnel_checksum: csum
  become: true
"""

RETURN = r"""
real_server:
  description:
    - The real server after the run (predicted in check mode), with its connection counters; empty when it does not
      exist.
  returned: always
  type: dict
  sample:
    address: 10.0.0.13
    port: 8080
    weight: 0
    forwarding: nat
    upper_threshold: 0
    lower_threshold: 0
    tunnel_type: null
    tunnel_port: null
    tunnel_checksum: null
    active_connections: 0
    inactive_connections: 2
    persistent_connections: 0
connections:
  description: The real server's connection counts when O(wait) ended.
  returned: when O(wait=true) waited
  type: dict
  contains:
    active:
      description: Active connections.
      type: int
    inactive:
      description: Inactive connections.
      type: int
    persistent:
      description: Persistence templates pointing at the real server.
      type: int
  sample: {active: 0, inactive: 0, persistent: 1}
operations:
  description: The changes made (in check mode, those that would be made), each as the equivalent C(ipvsadm) rule.
  returned: always
  type: list
  elements: str
  sample: ["-e -t 192.0.2.10:80 -r 10.0.0.13:8080 -m -w 0"]
netlink_requests:
  description: The number of change requests sent to the kernel (V(0) in check mode).
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.argspec import ipvs_real_spec
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import run
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.real import real_flow


def main():
    run(AnsibleModule(**ipvs_real_spec()), real_flow)


if __name__ == '__main__':
    main()
