# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Documentation shared by the IPVS modules (ipvs_service, ipvs_real, ipvs_table, ipvs_info)."""

    # What every IPVS module needs, ipvs_info included. ansible-doc joins the requirements with
    # commas into one sentence: each is a short phrase, without a comma or a full stop.
    DOCUMENTATION = r"""
options: {}
requirements:
  - Python 3 on the managed host (the standard library only; no pyroute2)
  - root on the managed host (C(CAP_NET_ADMIN); use C(become))
  - a Linux kernel with IPVS (C(CONFIG_IP_VS)) as a module or built in
attributes:
  action_group:
    support: full
    membership:
      - lvs.ipvs.ipvs
    description: Use C(group/lvs.ipvs.ipvs) in C(module_defaults) to set defaults for this module.
notes:
  - The modules talk to the kernel over generic netlink, as C(ipvsadm) does.
seealso:
  - name: ipvsadm(8)
    description: The IPVS administration tool; C(ipvsadm -Ln) lists the same table, and the modules that change it report their changes in its rule syntax.
    link: https://manpages.debian.org/bookworm/ipvsadm/ipvsadm.8.en.html
"""

    # What the modules that change the table (ipvs_service, ipvs_real, ipvs_table) need and how
    # they behave; ipvs_info only reads and extends DOCUMENTATION alone.
    CHANGES = r"""
options: {}
requirements:
  - C(modprobe) (package C(kmod)) to load the IPVS kernel modules
notes:
  - The modules change the live IPVS table only. Nothing here makes the table survive a reboot; the
    C(lvs.ipvs.director) role does that.
  - If the C(ip_vs) kernel module is not loaded, a module that changes the table loads it with C(modprobe), and the
    scheduler module (C(ip_vs_<scheduler>)) and persistence engine module (C(ip_vs_pe_sip)) a service needs.
    In check mode nothing is loaded; the modules only check that C(modprobe) could load them.
  - Settings the kernel can change in place are changed in place, never by deleting and adding again, so that
    established connections are kept. Changes take effect for new connections.
  - The whole request is checked before the first change. If the kernel refuses part of a run, the changes of that
    run that had taken effect are undone. If the kernel accepts a setting but does not apply it (an older kernel
    ignores attributes it does not know, such as tunnel types before Linux 5.2), the module fails and says which.
  - The modules return every change in C(operations), as the equivalent C(ipvsadm) rule.
"""

    # The options that identify a virtual service.
    SERVICE_KEY = r"""
options:
  vip:
    description:
      - The virtual IP address of the service, IPv4 or IPv6.
      - With O(protocol) and O(port) it identifies the service. Give either O(vip) or O(fwmark).
    type: str
  fwmark:
    description:
      - A firewall mark (1 to 4294967295) that identifies the service instead of an address, protocol and port.
        Packets that netfilter marked with it (for example nftables C(meta mark set 1)) are load balanced.
      - Together with O(family) it identifies the service. Mutually exclusive with O(vip), O(protocol) and O(port).
    type: int
  protocol:
    description:
      - The transport protocol of an address-based service. V(tcp) when left out.
    type: str
    choices: [sctp, tcp, udp]
  port:
    description:
      - The service port, 0 to 65535. Required with O(vip).
      - V(0) means every port; such a service must be persistent.
    type: int
  family:
    description:
      - The address family of the service. Follows from O(vip) when it is given; for a O(fwmark) service it defaults to
        V(ipv4), and an IPv6 fwmark service needs V(ipv6).
    type: str
    choices: [ipv4, ipv6]
"""

    # The settings of a virtual service (ipvs_service; ipvs_table repeats them under services).
    SERVICE = r"""
options:
  scheduler:
    description:
      - How the kernel picks a real server for a new connection. V(rr) round robin, V(wrr) weighted round robin,
        V(lc) least connections, V(wlc) weighted least connections, V(lblc) locality-based least connections,
        V(lblcr) the same with replication, V(dh) destination hashing, V(sh) source hashing, V(sed) shortest expected
        delay, V(nq) never queue, V(fo) weighted failover, V(ovf) weighted overflow, V(mh) Maglev hashing, V(twos)
        weighted random twos choice.
      - Changing it is done in place; the scheduler's own state (for example a hash table) starts afresh.
    type: str
    default: wlc
    choices: [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos]
  scheduler_flags:
    description:
      - Flags of the V(sh) and V(mh) schedulers. V(sh-fallback) and V(mh-fallback) choose another real server when the
        hashed one is unavailable (weight 0 or overloaded); V(sh-port) and V(mh-port) hash the source port as well as
        the source address.
      - A flag of another scheduler than O(scheduler) is an error.
    type: list
    elements: str
    default: []
    choices: [mh-fallback, mh-port, sh-fallback, sh-port]
  persistence_timeout:
    description:
      - Seconds for which a client keeps going to the same real server after its last connection (persistence). V(0)
        means not persistent. At most 2678400 (31 days).
    type: int
    default: 0
  persistence_netmask:
    description:
      - Clients whose addresses share this prefix are treated as one client for persistence.
      - A prefix length (V(24); for IPv6 1 to 128) or, for IPv4, a netmask such as V(255.255.255.0).
      - Only with O(persistence_timeout). When left out, the whole address (V(32) or V(128)).
    type: raw
  one_packet:
    description:
      - One-packet scheduling, for UDP; each datagram is scheduled on its own and no connection entry is kept. Only
        for V(udp) services and fwmark services (where it applies to their UDP packets).
    type: bool
    default: false
  persistence_engine:
    description:
      - A persistence engine that groups connections by something else than the client address. V(sip) groups SIP
        messages by their Call-ID. Needs O(persistence_timeout).
    type: str
    choices: [sip]
  forwarding:
    description:
      - The forwarding method of the real servers in O(real_servers) that do not set their own.
      - V(nat) rewrites the destination address (and port) and needs the replies to come back through the director.
        V(dr) (direct routing) rewrites only the destination MAC address; the real servers share a network segment
        with the director and hold the VIP. V(tun) tunnels the packets to the real servers, which hold the VIP.
    type: str
    default: dr
    choices: [dr, nat, tun]
"""

    # The settings of one real server, as top-level options (ipvs_real).
    REAL_SERVER = r"""
options:
  weight:
    description:
      - The real server's share of new connections relative to the other real servers, 0 to 2147483647. V(0) gives it
        no new connections (see O(state=drained)).
    type: int
    default: 1
  upper_threshold:
    description:
      - The most connections (active plus inactive) the real server gets; above it, it gets no new ones. V(0) means no
        limit.
    type: int
    default: 0
  lower_threshold:
    description:
      - After the real server went over O(upper_threshold), it gets new connections again below this number. V(0)
        means three quarters of O(upper_threshold). May not be above O(upper_threshold).
    type: int
    default: 0
  tunnel_type:
    description:
      - The encapsulation of O(forwarding=tun). V(ipip) (the default there), V(gue) (needs Linux 5.2, and
        O(tunnel_port)) or V(gre) (Linux 5.3). Only with O(forwarding=tun).
    type: str
    choices: [gre, gue, ipip]
  tunnel_port:
    description:
      - The UDP port the real server receives GUE packets on. Required with O(tunnel_type=gue), and only used there.
    type: int
  tunnel_checksum:
    description:
      - Checksums in the tunnel. V(nocsum) (the default with O(forwarding=tun)), V(csum) (GUE and GRE) or V(remcsum)
        (remote checksum offload, GUE only).
    type: str
    choices: [csum, nocsum, remcsum]
"""
