#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rs_nat_route
short_description: Send an LVS NAT real server's replies back through the director
version_added: 0.1.0
description:
  - With NAT forwarding the director rewrites the destination of the client's packets and must rewrite the source
    of the replies; so the replies of a NAT real server must go back through the director's inner address.
  - "O(mode=default_route): the host's default route (main table, at the metric C(ip route add) gives: 0 for IPv4,
    1024 for IPv6) goes through O(gateway). A default route that it replaces is kept in the module's record and put
    back by O(state=absent). Other default routes (other metrics) are left alone; the lowest metric wins."
  - "O(mode=policy): for hosts that must keep their default route. Routing table O(table) gets a default route
    through O(gateway), and policy rules at O(priority) send the replies there: by source address (the real server's
    address), and optionally by protocol and source port (the real server's port). Once it has set them up, the
    module owns that table's default route and every rule at O(priority) that looks up O(table): rules there that
    O(rules) does not list are removed (kept with O(purge=false)). It records the table and priority it uses, so that
    a later change of either, or O(state=absent), removes the old ones; it never touches a table it did not set up."
  - One call handles one address family, the family of O(gateway).
  - The module changes the live kernel state through netlink (pyroute2), and reports each change as the C(ip) command
    that makes it (RV(operations)). With O(return_commands=true) it also returns RV(commands), the C(ip) commands that
    set the request up on a freshly booted host; the C(lvs.ipvs.real_server) role writes them into its boot script, so
    that the host has after a reboot the routes and rules the module applied live.
author:
  - lvs.ipvs contributors (@MAINTAINER_GITHUB_HANDLE)
requirements:
  - pyroute2 0.7.2 or later on the managed host (Debian package C(python3-pyroute2); on PyPI C(pyroute2))
  - root on the managed host (use C(become))
  - Linux 4.17 or later (policy routing by protocol and port) for O(rules) with O(rules[].port)
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
    description: The diff shows the default route, the table's route and the rules, before and after.
  platform:
    support: full
    platforms: linux
    description: Linux; the host side of an LVS cluster.
options:
  state:
    description:
      - V(present) routes the replies through the director; V(absent) removes what the module set for O(mode) (the
        family of O(gateway), or both families when O(gateway) is not given).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: How the replies are routed; see the description.
    type: str
    choices: [default_route, policy]
    default: default_route
  gateway:
    description:
      - The director's inner address (its address, or its floating address, on the real servers' network). It must be
        on a network this host is attached to. Required with O(state=present).
    type: str
  family:
    description:
      - The address family that O(state=absent) cleans when O(gateway) is not given; both when unset. With
        O(gateway) the family is the gateway's.
    type: str
    choices: [ipv4, ipv6]
  table:
    description: The routing table for O(mode=policy). Not 0, 253, 254 or 255.
    type: int
    default: 100
  priority:
    description: The priority of the rules for O(mode=policy), before the main table's rule (32766).
    type: int
    default: 1000
  rules:
    description:
      - For O(mode=policy), the replies to send through the director, one rule each. With O(purge=true) this is the
        full list; rules at O(priority) that look up O(table) and are not listed are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      source:
        description: The real server's address that the director sends to (the replies' source address).
        type: str
        required: true
      protocol:
        description: The protocol of the service.
        type: str
        choices: [tcp, udp, sctp]
      port:
        description: The real server's port (the replies' source port). Needs O(rules[].protocol).
        type: int
  purge:
    description:
      - For O(mode=policy) with O(state=present), whether O(rules) is the full list.
      - V(true) removes the rules at O(priority) that look up O(table) and that O(rules) does not list.
      - V(false) keeps them. From then on they are part of what the module manages, like the listed ones, and
        RV(rules) and RV(commands) include them, so that the boot script built from RV(commands) gives the host the
        rules it has live. A later run with O(purge=true) removes those it does not list.
      - In a rolling change, run with V(false) while the directors may still send to what the new O(rules) leave out,
        and with V(true) once they have stopped, so that no reply loses its way back (the C(lvs.ipvs.real_server) role
        passes its C(real_server_purge)).
      - A new O(gateway) takes effect either way, since it is the point of the change. The default route
        (O(mode=default_route)) or the default route of O(table) is replaced, and the kept rules use it.
      - When O(table) or O(priority) differs from the previous run's, V(false) moves the rules of the previous table
        and priority to the new ones, each added before the old one is removed, rather than keeping the previous
        table, whose route would keep the old gateway and which the boot script would have to rebuild as well. A
        previous table no longer in use loses its route after its rules.
      - Without effect with O(mode=default_route), and with O(state=absent), which removes what the module set.
    type: bool
    default: true
  return_commands:
    description:
      - Return RV(commands), the C(ip) commands that set the request up on a freshly booted host.
    type: bool
    default: false
notes:
  - The record of a replaced default route, and of the policy table and priority in use, is
    C(/var/lib/lvs-ipvs/rs_nat_route.json).
seealso:
  - module: lvs.ipvs.rs_vip
  - name: LVS-NAT
    description: The Linux Virtual Server project's description of NAT forwarding.
    link: http://www.linuxvirtualserver.org/VS-NAT.html
"""

EXAMPLES = r"""
- name: The director's inner address becomes the default route
  lvs.ipvs.rs_nat_route:
    gateway: 10.10.0.1
  become: true

- name: Keep the default route; replies of the web server on port 8080 go through the director
  lvs.ipvs.rs_nat_route:
    mode: policy
    gateway: 10.10.0.1
    rules:
      - source: 10.10.0.11
        protocol: tcp
        port: 8080
  become: true

- name: Add the rule of a new port and keep the rules already there, until the directors no longer use them
  lvs.ipvs.rs_nat_route:
    mode: policy
    gateway: 10.10.0.1
    rules:
      - source: 10.10.0.11
        protocol: tcp
        port: 8081
    purge: false
  become: true

- name: Route the replies through the director and keep the commands that do it at boot
  lvs.ipvs.rs_nat_route:
    gateway: 10.10.0.1
    return_commands: true
  register: nat_route
  become: true

- name: Put the previous default route back
  lvs.ipvs.rs_nat_route:
    state: absent
  become: true
"""

RETURN = r"""
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
mode:
  description: The mode.
  returned: always
  type: str
  sample: policy
gateway:
  description: The gateway, in canonical form.
  returned: always
  type: str
  sample: 10.10.0.1
operations:
  description:
    - The changes made (in check mode, the changes that would be made), in order, each as the C(ip) command that makes
      the same change.
  returned: always
  type: list
  elements: str
  sample:
    - ip route replace default via 10.10.0.1 table 100 proto static
    - ip rule add priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100
commands:
  description:
    - The C(ip) commands that set the request up on a host that has none of it, such as a freshly booted one, in order;
      on such a host a run of this module performs exactly these. Empty with O(state=absent).
  returned: when O(return_commands=true)
  type: list
  elements: str
  sample:
    - ip route replace default via 10.10.0.1 table 100 proto static
    - ip rule add priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100
table:
  description: The routing table.
  returned: when O(mode=policy)
  type: int
  sample: 100
priority:
  description: The priority of the rules.
  returned: when O(mode=policy)
  type: int
  sample: 1000
rules:
  description:
    - The rules the module keeps, as C(ip rule) would show them; with O(purge=false), the listed ones and those it kept.
      Empty with O(state=absent).
  returned: when O(mode=policy)
  type: list
  elements: str
  sample:
    - priority 1000 from 10.10.0.11/32 ipproto tcp sport 8080 lookup 100
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.ipvs.plugins.module_utils._rs.host import Host, run_module
from ansible_collections.lvs.ipvs.plugins.module_utils._rs.nat import run_rs_nat_route


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            mode=dict(type='str', choices=['default_route', 'policy'], default='default_route'),
            gateway=dict(type='str'),
            family=dict(type='str', choices=['ipv4', 'ipv6']),
            table=dict(type='int', default=100),
            priority=dict(type='int', default=1000),
            rules=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    source=dict(type='str', required=True),
                    protocol=dict(type='str', choices=['tcp', 'udp', 'sctp']),
                    port=dict(type='int'),
                ),
                required_by={'port': 'protocol'},
            ),
            purge=dict(type='bool', default=True),
            return_commands=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ['gateway'])],
        supports_check_mode=True,
    )
    run_module(module, lambda: run_rs_nat_route(module.params, Host(nat=True), module.check_mode))


if __name__ == '__main__':
    main()
