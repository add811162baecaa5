#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_info
short_description: Read the IPVS table, its statistics, timeouts and sync daemons
version_added: 0.1.0
description:
  - Returns the kernel's IPVS table (virtual services with their real servers), in the same form the other IPVS
    modules take as options, with statistics and connection counters; the connection timeouts; the connection
    synchronisation daemons; the IPVS version and the size of the connection hash table.
  - It changes nothing and does not load the C(ip_vs) kernel module; when IPVS is not loaded it says so in RV(loaded).
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: The module only reads, in check mode as otherwise.
  diff_mode:
    support: none
    description: The module changes nothing.
  platform:
    support: full
    platforms: linux
    description: Linux kernels with IPVS.
options:
  statistics:
    description:
      - Include the traffic statistics of every service and real server (RV(services[].stats)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the IPVS table
  lvs.ipvs.ipvs_info:
  become: true
  register: ipvs

- name: Show the real servers of each service with their active connections
  ansible.builtin.debug:
    msg: "{{ item.vip }}:{{ item.port }} -> {{ item.real_servers | map(attribute='address') | zip(item.real_servers | map(attribute='active_connections')) }}"
  loop: "{{ ipvs.services }}"
"""

RETURN = r"""
loaded:
  description: Whether IPVS is available (the C(ip_vs) kernel module is loaded, or built in).
  returned: always
  type: bool
  sample: true
version:
  description: The kernel's IPVS version; null when IPVS is not loaded.
  returned: always
  type: str
  sample: 1.2.1
connection_table_size:
  description: The size of the connection hash table (2 to the power of the C(ip_vs) module parameter C(conn_tab_bits));
    null when IPVS is not loaded.
  returned: always
  type: int
  sample: 4096
timeouts:
  description: The connection timeouts in seconds; empty when IPVS is not loaded.
  returned: always
  type: dict
  contains:
    tcp:
      description: Established TCP connections.
      type: int
    tcp_fin:
      description: TCP connections after a FIN.
      type: int
    udp:
      description: UDP.
      type: int
  sample: {tcp: 900, tcp_fin: 120, udp: 300}
sync_daemons:
  description: The running connection synchronisation daemons.
  returned: always
  type: list
  elements: dict
  contains:
    state:
      description: V(master) (sends) or V(backup) (receives).
      type: str
    interface:
      description: The interface it uses.
      type: str
    sync_id:
      description: The synchronisation id.
      type: int
    max_length:
      description: The largest sync message payload.
      type: int
    group:
      description: The multicast group (when the kernel reports one).
      type: str
    port:
      description: The UDP port.
      type: int
    ttl:
      description: The multicast TTL.
      type: int
  sample: [{state: master, interface: eth1, sync_id: 1, max_length: 1472, group: 224.0.0.81, port: 8848, ttl: 1}]
services:
  description:
    - The virtual services, sorted by address family, address, protocol and port (fwmark services last), in the form
      of the entries of O(lvs.ipvs.ipvs_table#module:services), with counters and statistics added.
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: V(ipv4) or V(ipv6).
      type: str
    protocol:
      description: V(tcp), V(udp) or V(sctp); null for a fwmark service.
      type: str
    vip:
      description: The virtual IP address; null for a fwmark service.
      type: str
    port:
      description: The service port; null for a fwmark service.
      type: int
    fwmark:
      description: The firewall mark; null for an address-based service.
      type: int
    scheduler:
      description: The scheduler.
      type: str
    scheduler_flags:
      description: The scheduler flags (C(flag-1) to C(flag-3) for flags that the scheduler gives no name).
      type: list
      elements: str
    persistence_timeout:
      description: Persistence in seconds, 0 when not persistent.
      type: int
    persistence_netmask:
      description: The persistence prefix length (or an IPv4 netmask that is not a prefix).
      type: raw
    one_packet:
      description: Whether one-packet scheduling is on.
      type: bool
    persistence_engine:
      description: The persistence engine, or null.
      type: str
    stats:
      description: Traffic statistics since the service was created or zeroed.
      returned: when O(statistics=true)
      type: dict
      contains:
        connections:
          description: Connections scheduled.
          type: int
        packets_in:
          description: Packets received.
          type: int
        packets_out:
          description: Packets sent.
          type: int
        bytes_in:
          description: Bytes received.
          type: int
        bytes_out:
          description: Bytes sent.
          type: int
        connections_per_second:
          description: Current connection rate.
          type: int
        packets_in_per_second:
          description: Current incoming packet rate.
          type: int
        packets_out_per_second:
          description: Current outgoing packet rate.
          type: int
        bytes_in_per_second:
          description: Current incoming byte rate.
          type: int
        bytes_out_per_second:
          description: Current outgoing byte rate.
          type: int
    real_servers:
      description: The real servers of the service.
      type: list
      elements: dict
      contains:
        address:
          description: The real server's address.
          type: str
        port:
          description: The real server's port.
          type: int
        weight:
          description: The weight.
          type: int
        forwarding:
          description: V(nat), V(dr) or V(tun) (or V(local) and V(bypass), which only old kernels or other tools set).
          type: str
        upper_threshold:
          description: The upper connection threshold, 0 for none.
          type: int
        lower_threshold:
          description: The lower connection threshold.
          type: int
        tunnel_type:
          description: V(ipip), V(gue) or V(gre) for V(tun) forwarding, else null.
          type: str
        tunnel_port:
          description: The GUE port, else null.
          type: int
        tunnel_checksum:
          description: V(nocsum), V(csum) or V(remcsum) for V(tun) forwarding, else null.
          type: str
        active_connections:
          description: Established connections.
          type: int
        inactive_connections:
          description: Other connections (for example half open, or closing).
          type: int
        persistent_connections:
          description: Persistence templates pointing at the real server.
          type: int
        stats:
          description: Traffic statistics, as RV(services[].stats).
          returned: when O(statistics=true)
          type: dict
  sample:
    - family: ipv4
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
          active_connections: 3
          inactive_connections: 10
          persistent_connections: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.argspec import ipvs_info_spec
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import run
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.info import info_flow


def main():
    run(AnsibleModule(**ipvs_info_spec()), info_flow)


if __name__ == '__main__':
    main()
