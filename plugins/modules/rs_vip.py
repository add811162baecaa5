#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rs_vip
short_description: Put the LVS VIPs of a real server in place for direct routing (DR) or tunnelling (TUN)
version_added: 0.1.0
description:
  - Prepares a Linux Virtual Server real server to accept the traffic a director forwards to its VIPs. One call
    declares the VIPs of the host (O(vips)); with O(purge=true) it is the whole set, and the VIPs this module put in
    place earlier that O(vips) does not list are removed, as M(lvs.ipvs.ipvs_table) does for services.
  - "C(forwarding=dr): the VIP goes on a device that never answers ARP (C(lo), or a dummy device that the module
    creates), and C(arp_ignore)/C(arp_announce) are set on C(all) and on the interface that faces the director, so
    that only the director answers ARP for the VIP."
  - "C(forwarding=tun): the kernel tunnel device that receives the director's packets (C(tunl0) for IPIP and GUE,
    C(gre0) for GRE; C(ip6tnl0) and C(ip6gre0) for IPv6 VIPs) is created by loading its kernel module, brought up and
    given the VIP. For GUE a fou receive port is added. Reverse path filtering is relaxed on the tunnel device, and on
    C(all) when needed (see O(rp_filter)). ARP is made quiet for the VIP as for DR."
  - The module changes the live kernel state only, through netlink (pyroute2) and C(/proc/sys), and reports each change
    as the shell command that makes it (RV(operations)). With O(return_commands=true) it also returns RV(commands), the
    commands that build the whole set on a freshly booted host; the C(lvs.ipvs.real_server) role writes them into its
    boot script, so that the host has after a reboot what the module applied live.
  - The module keeps its own record of the VIPs it manages, and of the value every setting had before it changed it,
    in C(/var/lib/lvs-ipvs/rs_vip.json); it reads it to know what to purge and what to put back, and returns what it
    manages as RV(managed_vips). Several VIPs share the host-wide settings; removing a VIP puts back the settings,
    devices and fou ports that no remaining VIP needs, to the values they had before. It never touches what it did not
    change.
  - The host-wide settings (O(arp_ignore), O(arp_announce), O(arp_interface), O(rp_filter)) are those of the latest
    call that lists a VIP as present or purges; they apply to every VIP the module manages.
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
requirements:
  - pyroute2 0.7.2 or later on the managed host (Debian package C(python3-pyroute2); on PyPI C(pyroute2))
  - root on the managed host (use C(become))
  - C(modprobe) (package C(kmod)) when a tunnel kernel module must be loaded
attributes:
  action_group:
    support: full
    membership:
      - lvs.ipvs.real_server
    description: Use C(group/lvs.ipvs.real_server) in C(module_defaults) to set defaults for this module.
  check_mode:
    support: full
    description: Check mode plans through the same code as a real run and reports the same operations.
  diff_mode:
    support: full
    description: The diff shows the VIPs, the devices, the fou ports and every sysctl involved, before and after.
  platform:
    support: full
    platforms: linux
    description: Linux; the host side of an LVS cluster.
options:
  vips:
    description:
      - The VIPs of the host, each listed once. With O(purge=true) the whole set; otherwise the VIPs to put in place
        (or, with O(vips[].state=absent), to remove), next to the others the module manages.
    type: list
    elements: dict
    default: []
    suboptions:
      vip:
        description:
          - The virtual IP address, IPv4 or IPv6, as a plain address or with the host prefix (V(/32) or V(/128)).
        type: str
        required: true
      state:
        description:
          - V(present) puts the VIP in place; V(absent) removes it, and puts back what no other managed VIP needs. A VIP
            the module does not manage is removed only from the device this entry names.
        type: str
        choices: [present, absent]
        default: present
      forwarding:
        description:
          - The director's forwarding method for this real server. NAT and FULLNAT real servers need no VIP.
        type: str
        choices: [dr, tun]
        default: dr
      device:
        description:
          - For O(vips[].forwarding=dr), the device that holds the VIP. V(lo) (the default) or the name of a dummy
            device; the module creates the dummy device if it does not exist, and deletes it again with the last VIP on
            it if it created it.
          - For O(vips[].forwarding=tun) the device follows from O(vips[].tunnel_type) and the VIP's family; leave it
            unset.
        type: str
      tunnel_type:
        description:
          - How the director encapsulates packets to this real server (the director's C(--tun-type)). Only with
            O(vips[].forwarding=tun); the default there is V(ipip).
        type: str
        choices: [ipip, gue, gre]
      tunnel_port:
        description:
          - The UDP port the director sends GUE packets to (the director's C(--tun-port)); required with
            O(vips[].tunnel_type=gue), not allowed otherwise.
        type: int
  purge:
    description:
      - Remove the VIPs this module put in place earlier (its record) that O(vips) does not list, with what only they
        needed. VIPs that something else put on the host are never removed by the purge.
    type: bool
    default: false
  return_commands:
    description:
      - Return RV(commands), the commands that build the whole set of managed VIPs on a freshly booted host.
    type: bool
    default: false
  arp_ignore:
    description:
      - Value for C(net.ipv4.conf.all.arp_ignore) and for the interface facing the director. V(1) answers ARP only for
        addresses of the interface the request came in on; V(2) also requires the sender to be on that subnet; V(8)
        answers no ARP at all. Host-wide; applies to IPv4 VIPs (IPv6 neighbour discovery never answers for addresses
        of another device).
    type: int
    choices: [1, 2, 8]
    default: 1
  arp_announce:
    description:
      - Value for C(net.ipv4.conf.all.arp_announce) and for the interface facing the director. V(2) makes ARP requests
        use the outgoing interface's own address, never the VIP. Host-wide.
    type: int
    choices: [1, 2]
    default: 2
  arp_interface:
    description:
      - The interface that faces the director, which gets the ARP settings as well as C(all).
      - Default is the interface of the IPv4 default route. When the director is reached through another interface,
        set this (the C(lvs.ipvs.real_server) role passes the interface holding the real server's address).
    type: str
  rp_filter:
    description:
      - "Reverse path filtering for the tunnel devices of IPv4 VIPs with O(vips[].forwarding=tun): V(0) off, or V(2)
        loose. Strict filtering (1) drops the decapsulated packets, whose client source address is routed through
        another interface. The kernel uses the larger of C(net.ipv4.conf.all.rp_filter) and the device's value, so
        when C(all) is higher the module lowers it to this value and raises every other interface and C(default) to
        the old C(all) value, so that their filtering does not change."
      - Host-wide; not used when no VIP uses O(vips[].forwarding=tun).
    type: int
    choices: [0, 2]
    default: 0
notes:
  - The IPv6 tunnel devices assume that the director reaches the real server over IPv6 (the same family outside and
    inside the tunnel).
  - A VIP that is already on another device, where the module did not put it, is an error rather than moved, since on
    a real server it answers ARP and takes the director's traffic.
  - The module loads C(ipip), C(ip_gre), C(ip6_tunnel), C(ip6_gre) or C(fou) with C(modprobe) when the tunnel needs it,
    and, on a host with udev, waits for it (C(udevadm settle)) after it has made a device; check mode does neither.
  - RV(commands) assumes that the host boots with the values the module found before its first change (the record
    keeps them), that is, with none of this set-up; the device order and the order of addresses on a device are those
    of a run from empty.
seealso:
  - module: lvs.ipvs.rs_nat_route
  - name: LVS-DR and the ARP problem
    description: The Linux Virtual Server project's description of direct routing.
    link: http://www.linuxvirtualserver.org/VS-DRouting.html
  - name: ip-sysctl
    description: The kernel's documentation of arp_ignore, arp_announce and rp_filter.
    link: https://docs.kernel.org/networking/ip-sysctl.html
"""

EXAMPLES = r"""
- name: DR real server, VIP on lo
  lvs.ipvs.rs_vip:
    vips:
      - vip: 192.0.2.10
  become: true

- name: All the VIPs of the host; remove those it put in place earlier and that are no longer listed
  lvs.ipvs.rs_vip:
    purge: true
    arp_interface: eth1
    rp_filter: 2
    vips:
      - vip: 192.0.2.11/32
        device: lvs0
      - vip: 192.0.2.20
        forwarding: tun
      - vip: 192.0.2.21
        forwarding: tun
        tunnel_type: gue
        tunnel_port: 6080
      - vip: 2001:db8::10
  become: true

- name: Remove one VIP (and what only it needed), keep the others
  lvs.ipvs.rs_vip:
    vips:
      - vip: 192.0.2.10
        state: absent
  become: true

- name: Put the VIPs in place and keep the commands that do it at boot
  lvs.ipvs.rs_vip:
    purge: true
    return_commands: true
    vips:
      - vip: 192.0.2.10
  register: vips
  become: true

- name: Write the boot script
  ansible.builtin.copy:
    content: |
      #!/bin/sh
      set -eu
      {% for command in vips.commands %}
      {{ command }}
      {% endfor %}
    dest: /usr/local/sbin/vips-up
    mode: "0755"
  become: true
"""

RETURN = r"""
operations:
  description:
    - The changes made (in check mode, the changes that would be made), in order, each as the shell command that makes
      the same change.
  returned: always
  type: list
  elements: str
  sample:
    - sysctl -w net.ipv4.conf.all.arp_announce=2
    - sysctl -w net.ipv4.conf.all.arp_ignore=1
    - ip address add 192.0.2.10/32 dev lo
commands:
  description:
    - The shell commands that build every VIP the module manages after this call on a freshly booted host, in order
      (C(modprobe), C(ip link add), C(udevadm settle) on a host with udev, C(sysctl -w), C(ip fou add),
      C(ip link set ... up), C(ip address add)); on such a host a run of this module performs exactly these. Empty
      when it manages no VIP.
    - In check mode, those of the set the call would leave.
  returned: when O(return_commands=true)
  type: list
  elements: str
  sample:
    - modprobe ipip
    - udevadm settle
    - sysctl -w net.ipv4.conf.all.arp_announce=2
    - sysctl -w net.ipv4.conf.all.arp_ignore=1
    - sysctl -w net.ipv4.conf.tunl0.rp_filter=0
    - ip link set dev tunl0 up
    - ip address add 192.0.2.20/32 dev tunl0
sysctls:
  description:
    - Every sysctl the module holds for all the VIPs it manages on the host, with its value.
  returned: always
  type: dict
  sample:
    net.ipv4.conf.all.arp_ignore: 1
    net.ipv4.conf.all.arp_announce: 2
    net.ipv4.conf.eth0.arp_ignore: 1
    net.ipv4.conf.eth0.arp_announce: 2
kernel_modules:
  description: The kernel modules the managed VIPs need.
  returned: always
  type: list
  elements: str
  sample: [fou, ipip]
managed_vips:
  description: Every VIP the module manages on the host after this call (its record).
  returned: always
  type: list
  elements: dict
  sample:
    - vip: 192.0.2.10/32
      forwarding: dr
      device: lo
    - vip: 192.0.2.21/32
      forwarding: tun
      device: tunl0
      tunnel_type: gue
      tunnel_port: 6080
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._rs.host import Host, run_module
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.vip import run_rs_vip


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vips=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    vip=dict(type='str', required=True),
                    state=dict(type='str', choices=['present', 'absent'], default='present'),
                    forwarding=dict(type='str', choices=['dr', 'tun'], default='dr'),
                    device=dict(type='str'),
                    tunnel_type=dict(type='str', choices=['ipip', 'gue', 'gre']),
                    tunnel_port=dict(type='int'),
                ),
                required_if=[('tunnel_type', 'gue', ['tunnel_port'])],
            ),
            purge=dict(type='bool', default=False),
            return_commands=dict(type='bool', default=False),
            arp_ignore=dict(type='int', choices=[1, 2, 8], default=1),
            arp_announce=dict(type='int', choices=[1, 2], default=2),
            arp_interface=dict(type='str'),
            rp_filter=dict(type='int', choices=[0, 2], default=0),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: run_rs_vip(module.params, Host(run_command=module.run_command, get_bin_path=module.get_bin_path), module.check_mode))


if __name__ == '__main__':
    main()
