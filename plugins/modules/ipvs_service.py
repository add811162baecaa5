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
version_added: 0.1.0
description:
  - Adds, changes or removes one virtual service of the kernel's IPVS table (Linux Virtual Server), identified by
    protocol, VIP and port or by firewall mark.
  - The service is declared completely; a setting left out takes its default. Settings are changed in place.
  - With O(real_servers), the service's real servers become exactly the listed ones. Without it, they are left alone
    (manage them with M(lvs.ipvs.ipvs_real)).
  - Removing a real server or the service cuts its established connections, unless O(drain_timeout) lets them end
    first.
  - To manage many services in one task, use M(lvs.ipvs.ipvs_table).
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
  - lvs.ipvs.ipvs.changes
  - lvs.ipvs.ipvs.service_key
  - lvs.ipvs.ipvs.service
attributes:
  check_mode:
    support: full
    description: Check mode plans through the same code as a real run, reports the same operations and sends no change.
      It does not wait for O(drain_timeout).
  diff_mode:
    support: full
    description: The diff shows the service with its real servers before and after.
  platform:
    support: full
    platforms: linux
    description: Linux kernels with IPVS.
options:
  drain_timeout:
    description:
      - How many seconds the real servers that the run removes may go on serving their established connections
        before they are removed. V(0) removes them at once, which cuts those connections.
      - Above V(0), a run that removes real servers (those not listed in O(real_servers)) or the service
        (O(state=absent)) first applies all its other changes, together with weight V(0) for every real server it is
        about to remove, all of the service's when the service goes (one at weight 0 already is left as it is). The
        kernel then sends those real servers no new connections, while the established ones go on.
      - It then reads the kernel's connection counters (those C(ipvsadm -Ln) shows), at once and about once a
        second, until none of those real servers has an active connection or O(drain_timeout) seconds have passed,
        and then removes them, or the service. After the timeout they are removed all the same; the run does not
        fail, and RV(drained) and a warning give the connections that were left.
      - Only active connections (C(ActiveConn)) are waited for, which are TCP and SCTP connections in the ESTABLISHED
        state. Inactive ones (C(InActConn)) are not waited for. They are TCP connections that have closed already
        (C(FIN_WAIT), C(TIME_WAIT) and the like, which IPVS keeps for up to 2 minutes) or are still in their
        handshake, and every UDP flow, which has no end to wait for and only times out.
      - Clients of a persistent service (O(persistence_timeout)) keep coming back to a real server at weight 0 until
        their persistence times out, unless the sysctl C(net.ipv4.vs.expire_quiescent_template) is 1; their new
        connections are waited for too.
      - Check mode does not wait; RV(operations) lists the weight-0 edits and the removals a real run would send. A
        run that removes nothing reads and sends exactly what it would with V(0).
    type: int
    default: 0
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

- name: Remove a service and its real servers once their connections have ended (1 minute at most)
  lvs.ipvs.ipvs_service:
    vip: 192.0.2.10
    port: 443
    state: absent
    drain_timeout: 60
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
drained:
  description:
    - One entry per real server that was drained before it was removed (O(drain_timeout)), in the order of removal.
    - Empty when the run removed nothing, with O(drain_timeout=0), and in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The service, named as the module's messages name it, such as C(tcp 192.0.2.10:80).
      type: str
      returned: always
    real_server:
      description: The real server's address and port (C(10.0.0.12:80), C([2001:db8::12]:80)).
      type: str
      returned: always
    weight_before:
      description: Its weight before the run set it to 0.
      type: int
      returned: always
    active_connections:
      description: Its active connections when it was removed; above 0 only when O(drain_timeout) had passed.
      type: int
      returned: always
    inactive_connections:
      description: Its inactive connections when it was removed.
      type: int
      returned: always
    seconds_waited:
      description:
        - Seconds between its weight 0 and its removal, to a tenth of a second. The same for every real server of a
          run, since they are removed together.
      type: float
      returned: always
  sample:
    - {service: tcp 192.0.2.10:80, real_server: 10.0.0.12:80, weight_before: 1, active_connections: 0,
       inactive_connections: 3, seconds_waited: 4.0}
operations:
  description:
    - The changes made (in check mode, those that would be made), each as the equivalent C(ipvsadm) rule.
    - With O(drain_timeout), in the order they were sent, which is the other changes, then weight 0 for the real
      servers to be removed, then the removals.
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
