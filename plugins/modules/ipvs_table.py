#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_table
short_description: Manage the whole IPVS table, or the part one owner manages, in one task
version_added: 0.1.0
description:
  - Makes the kernel's IPVS table hold the listed virtual services with their real servers, in one task and with
    one batched netlink conversation, however many services there are.
  - Each listed service and real server is declared completely; a setting left out takes its default. Settings are
    changed in place, so established connections are kept; only what differs is sent.
  - Without O(purge), services and real servers that are not listed are left alone. With O(purge=true) they are
    removed, within O(purge_scope) when it is given.
  - Removing a real server or a service cuts its established connections, unless O(drain_timeout) lets them end
    first.
  - The whole request is checked before the first change; a request with a problem changes nothing.
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
  - lvs.ipvs.ipvs.changes
attributes:
  check_mode:
    support: full
    description: Check mode plans through the same code as a real run, reports the same operations and sends no change.
      It does not wait for O(drain_timeout).
  diff_mode:
    support: full
    description: The diff shows the services the run changes, with their real servers, before and after.
  platform:
    support: full
    platforms: linux
    description: Linux kernels with IPVS.
notes:
  - Ansible echoes a module's arguments back in its result (C(invocation), shown with C(-vvv)). When O(services) holds
    more than 200 services and real servers together, it is echoed as a one-line count instead of in full, so that a
    large table is not sent back over the connection.
options:
  services:
    description:
      - The virtual services, each with its real servers. A service is identified by O(services[].protocol),
        O(services[].vip) and O(services[].port), or by O(services[].fwmark) and O(services[].family); each may be
        listed once.
    type: list
    elements: dict
    default: []
    suboptions:
      vip:
        description:
          - The virtual IP address, IPv4 or IPv6. Give either O(services[].vip) (with O(services[].port)) or
            O(services[].fwmark).
        type: str
      fwmark:
        description:
          - A firewall mark (1 to 4294967295) that identifies the service instead of an address, protocol and port.
            Mutually exclusive with O(services[].vip), O(services[].protocol) and O(services[].port).
        type: int
      protocol:
        description:
          - The transport protocol of an address-based service. V(tcp) when left out.
        type: str
        choices: [sctp, tcp, udp]
      port:
        description:
          - The service port, 0 to 65535. Required with O(services[].vip). V(0) means every port and needs
            O(services[].persistence_timeout).
        type: int
      family:
        description:
          - The address family. Follows from O(services[].vip); for a fwmark service it defaults to V(ipv4).
        type: str
        choices: [ipv4, ipv6]
      scheduler:
        description:
          - How the kernel picks a real server for a new connection (see M(lvs.ipvs.ipvs_service) for each one).
        type: str
        default: wlc
        choices: [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos]
      scheduler_flags:
        description:
          - Flags of the V(sh) and V(mh) schedulers; a flag of another scheduler is an error. V(sh-fallback) and
            V(mh-fallback) choose another real server when the hashed one is unavailable; V(sh-port) and V(mh-port)
            hash the source port too.
        type: list
        elements: str
        default: []
        choices: [mh-fallback, mh-port, sh-fallback, sh-port]
      persistence_timeout:
        description:
          - Seconds for which a client keeps going to the same real server (persistence); V(0) means not persistent.
        type: int
        default: 0
      persistence_netmask:
        description:
          - Clients within this prefix count as one for persistence. A prefix length (IPv6 1 to 128) or, for IPv4, a
            netmask such as V(255.255.255.0). Only with O(services[].persistence_timeout); the whole address when left
            out.
        type: raw
      one_packet:
        description:
          - One-packet scheduling (each UDP datagram on its own). Only for V(udp) and fwmark services.
        type: bool
        default: false
      persistence_engine:
        description:
          - V(sip) groups SIP messages by Call-ID for persistence. Needs O(services[].persistence_timeout).
        type: str
        choices: [sip]
      forwarding:
        description:
          - The forwarding method of the real servers that do not set their own. V(nat), V(dr) (direct routing) or
            V(tun) (tunnelling).
        type: str
        default: dr
        choices: [dr, nat, tun]
      real_servers:
        description:
          - The real servers of the service. Those missing are added and those that differ are changed in place. With
            O(purge=true) the others are removed; without it they are left alone.
        type: list
        elements: dict
        suboptions:
          address:
            description:
              - The real server's IPv4 or IPv6 address. The other family than the service's needs V(tun) forwarding.
            type: str
            required: true
          port:
            description:
              - The real server's port; defaults to the service port (V(0) for a fwmark service). Only V(nat) can map
                to another port.
            type: int
          weight:
            description:
              - The real server's share of new connections, 0 to 2147483647; V(0) gives it none.
            type: int
            default: 1
          forwarding:
            description:
              - The forwarding method of this real server; defaults to the service's O(services[].forwarding).
            type: str
            choices: [dr, nat, tun]
          upper_threshold:
            description:
              - The most connections (active plus inactive) the real server gets; V(0) means no limit.
            type: int
            default: 0
          lower_threshold:
            description:
              - Below this number an overloaded real server gets new connections again; V(0) means three quarters of
                the upper threshold. May not be above the upper threshold.
            type: int
            default: 0
          tunnel_type:
            description:
              - The encapsulation with V(tun) forwarding. V(ipip) (the default there), V(gue) or V(gre).
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
  purge:
    description:
      - Remove the services that are not listed, and the real servers of listed services that are not listed with
        them.
      - With O(purge_scope), only services within that scope are removed, so that several owners (or another tool
        such as kube-proxy) can share the table.
    type: bool
    default: false
  purge_scope:
    description:
      - Restricts O(purge) to the services of some VIPs and firewall marks. Services outside it are never removed.
      - Real servers of listed services are purged whatever the scope.
    type: dict
    suboptions:
      vips:
        description:
          - Addresses or networks (V(192.0.2.0/24), V(2001:db8::/64)); a service whose VIP lies within one of them is
            in scope.
        type: list
        elements: str
        default: []
      fwmarks:
        description:
          - Firewall marks whose services are in scope.
        type: list
        elements: int
        default: []
      rules:
        description:
          - Rules in C(ipvsadm-restore) form, such as an earlier run's RV(rules) kept in a boot file; each service they
            add (C(-A)) is in scope. Other lines are ignored. This is how an owner removes exactly the services it
            created earlier and nothing that another tool or an operator added.
        type: list
        elements: str
        default: []
  drain_timeout:
    description:
      - How many seconds the real servers that the run removes may go on serving their established connections
        before they are removed. V(0) removes them at once, which cuts those connections.
      - Above V(0), a run that removes real servers or whole services first applies all its other changes, together
        with weight V(0) for every real server it is about to remove, those of a removed service included (one at
        weight 0 already is left as it is). The kernel then sends those real servers no new connections, while the
        established ones go on.
      - It then reads the kernel's connection counters (those C(ipvsadm -Ln) shows), at once and about once a
        second, until none of those real servers has an active connection or O(drain_timeout) seconds have passed,
        and then removes them, real servers first, then services. After the timeout they are removed all the same;
        the run does not fail, and RV(drained) and a warning give the connections that were left.
      - Only active connections (C(ActiveConn)) are waited for, which are TCP and SCTP connections in the ESTABLISHED
        state. Inactive ones (C(InActConn)) are not waited for. They are TCP connections that have closed already
        (C(FIN_WAIT), C(TIME_WAIT) and the like, which IPVS keeps for up to 2 minutes) or are still in their
        handshake, and every UDP flow, which has no end to wait for and only times out.
      - Clients of a persistent service (O(services[].persistence_timeout)) keep coming back to a real server at weight 0 until their persistence
        times out, unless the sysctl C(net.ipv4.vs.expire_quiescent_template) is 1; their new connections are
        waited for too.
      - Check mode does not wait; RV(operations) lists the weight-0 edits and the removals a real run would send. A
        run that removes nothing reads and sends exactly what it would with V(0).
    type: int
    default: 0
  return_rules:
    description:
      - Return RV(rules), the listed table as C(ipvsadm-restore) reads it. Off by default, so that a large table is
        not formatted and sent back when nobody reads it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The director's whole table; anything else is removed
  lvs.ipvs.ipvs_table:
    purge: true
    services:
      - vip: 192.0.2.10
        port: 80
        scheduler: wrr
        forwarding: dr
        real_servers:
          - address: 10.0.0.11
            weight: 2
          - address: 10.0.0.12
      - vip: 192.0.2.10
        protocol: udp
        port: 53
        scheduler: mh
        scheduler_flags: [mh-port]
        one_packet: true
        forwarding: nat
        real_servers:
          - address: 10.0.0.21
            port: 5353
      - fwmark: 42
        family: ipv6
        scheduler: sh
        scheduler_flags: [sh-fallback]
        forwarding: tun
        real_servers:
          - address: "2001:db8::31"
            tunnel_type: gre
  become: true

- name: Read the rules an earlier run saved (none on the first run)
  ansible.builtin.slurp:
    src: /etc/ipvs.rules
  register: saved
  failed_when: false
  become: true

- name: Build the table, remove only the services an earlier run created, and keep the rules for boot
  lvs.ipvs.ipvs_table:
    purge: true
    purge_scope:
      rules: "{{ (saved.content | default('') | b64decode).splitlines() }}"
    return_rules: true
    services: "{{ my_services }}"
  register: table
  become: true

- name: Save what the table is, for ipvsadm-restore at boot
  ansible.builtin.copy:
    content: |
      {% for rule in table.rules %}
      {{ rule }}
      {% endfor %}
    dest: /etc/ipvs.rules
    mode: "0644"
  become: true

- name: Remove what is not listed, letting the removed real servers finish their connections (2 minutes at most)
  lvs.ipvs.ipvs_table:
    purge: true
    drain_timeout: 120
    services: "{{ my_services }}"
  become: true

- name: Manage only the services of one VIP range, next to services someone else owns
  lvs.ipvs.ipvs_table:
    purge: true
    purge_scope:
      vips: [192.0.2.0/28]
    services: "{{ my_services }}"
  become: true
"""

RETURN = r"""
operations:
  description:
    - The changes made (in check mode, those that would be made), each as the equivalent C(ipvsadm) rule.
    - With O(drain_timeout), in the order they were sent, which is the other changes, then weight 0 for the real
      servers to be removed, then the removals.
  returned: always
  type: list
  elements: str
  sample: ["-A -t 192.0.2.10:80 -s wrr", "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 2", "-e -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 1"]
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
rules:
  description:
    - The listed table as rules for C(ipvsadm-restore) (C(ipvsadm -R)), exactly the operations this module would apply
      to an empty table, in the same order. Services are sorted by key; real servers follow their service.
    - Written to a file and loaded at boot, it gives the same table as a run of this module from empty.
  returned: when O(return_rules=true)
  type: list
  elements: str
  sample: ["-A -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.255.0", "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 2"]
netlink_requests:
  description:
    - The number of change requests sent to the kernel (V(0) in check mode). Changing one weight is one request.
  returned: always
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.argspec import ipvs_table_spec
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.engine import run
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.table import table_flow


def main():
    run(AnsibleModule(**ipvs_table_spec()), table_flow)


if __name__ == '__main__':
    main()
