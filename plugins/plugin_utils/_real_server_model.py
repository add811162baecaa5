# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the cluster model (``lvs_virtual_services``) asks of one real server, on the controller.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Pure functions, no Ansible objects: the ``real_server_setup`` filter wraps
``real_server_setup``, and the unit tests call it directly.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import TUNNEL_TYPES, VIP_FORWARDING
from ansible_collections.lvs.ipvs.plugins.plugin_utils._cluster_model import normalise_model


def _canonical(address):
    """The canonical text of an address (``2001:DB8::0:1`` -> ``2001:db8::1``), or None."""
    try:
        return str(ipaddress.ip_interface(str(address).strip()).ip)
    except ValueError:
        return None


def host_addresses(facts):
    """{address: interface} for the addresses in a host's gathered facts (``ansible_facts``)."""
    found = {}
    for name in facts.get('interfaces') or []:
        interface = facts.get(name.replace('-', '_').replace('.', '_')) or facts.get(name) or {}
        if not isinstance(interface, dict):
            continue
        device = interface.get('device') or name
        entries = [interface.get('ipv4')] if isinstance(interface.get('ipv4'), dict) else []
        entries += interface.get('ipv4_secondaries') or []
        entries += interface.get('ipv6') or []
        for entry in entries:
            address = _canonical(str(entry.get('address', '')).split('%', maxsplit=1)[0])
            if address and address not in found:
                found[address] = device
    return found


def real_server_setup(services, inventory_hostname, facts, address=None, extra_vips=None, nat_gateways=None,
                      hostvars=None):
    """What this host must do as a real server: VIPs, NAT return routes, FULLNAT notes, problems.

    ``services`` is ``lvs_virtual_services``, read through the cluster model's one normaliser
    (normalise_model) with ``hostvars``, so that both roles read it by the same rules and every
    host sees every problem of the model; ``facts`` the host's ``ansible_facts`` (network
    subset); ``address`` the host's data-plane address (``lvs_address``), else the address of
    its default IPv4 route.  A service concerns this host when one of its real servers names it
    (``host: <inventory_hostname>``) or has one of its addresses (``address:``).

    Returns a dictionary:
    ``address``: the address that serves, ``arp_interface``: the interface that holds it,
    ``vips``: one entry per VIP (``vip``, ``forwarding``, ``tunnel_type``, ``tunnel_port``,
    ``services``), ``nat``: one entry per NAT real server entry (``service``, ``address``,
    ``family``, ``protocol``, ``port``), ``nat_routes``: per address family of those, the
    ``gateway`` (from ``nat_gateways``, the director's inner addresses) and the policy
    ``rules``; ``fullnat``: service names, ``problems``: sentences that make the request
    impossible (empty when none).
    """
    facts = facts or {}
    own = host_addresses(facts)
    default_address = (facts.get('default_ipv4') or {}).get('address')
    own_address = _canonical(address) if address else _canonical(default_address) if default_address else None
    if hostvars is None:
        hostvars = {}
    if inventory_hostname not in hostvars:
        hostvars = dict(hostvars)
        hostvars[inventory_hostname] = {'lvs_address': address, 'ansible_default_ipv4': facts.get('default_ipv4')}
    normalised, problems = normalise_model(services, hostvars)
    if address and own_address is None:
        problems.append('lvs_address %r of %s is not an IP address.' % (address, inventory_hostname))

    vips = {}
    nat = []
    fullnat = []
    serving_addresses = []

    for service in normalised:
        label = service['label']
        forwarding = service['forwarding']
        mine = []
        for real_server in service['real_servers']:
            served = _canonical(real_server['address'])
            if real_server.get('host'):
                concerns_this_host = real_server['host'] == inventory_hostname
            else:
                concerns_this_host = served in own
            if concerns_this_host:
                mine.append((real_server, served))
        if not mine:
            continue
        if forwarding == 'fullnat':
            fullnat.append(label)
            continue
        for real_server, served in mine:
            if served is None:
                continue  # not an address: the director role names it
            if served not in serving_addresses:
                serving_addresses.append(served)
            if forwarding == 'nat':
                protocol = service.get('protocol') or 'tcp'
                port = real_server.get('port', service.get('port'))
                if service.get('fwmark') is not None and real_server.get('port') is None:
                    port = None  # a firewall-mark service covers many ports: route by address alone
                nat.append({
                    'service': label,
                    'address': served,
                    'family': 'ipv6' if ':' in served else 'ipv4',
                    'protocol': protocol if port else None,
                    'port': int(port) if port else None,
                })
                continue
            _add_vip(vips, problems, label, service, forwarding, real_server)
    for item in extra_vips or []:
        _add_vip(vips, problems, 'real_server_extra_vips', item, item.get('forwarding', 'dr'), item)

    address_used = serving_addresses[0] if serving_addresses else own_address
    arp_interface = own.get(address_used) if address_used else None
    if arp_interface is None:
        arp_interface = (facts.get('default_ipv4') or {}).get('interface')
    nat_sorted = sorted(nat, key=lambda n: (n['family'], n['address'], n['protocol'] or '', n['port'] or 0, n['service']))
    routes = _nat_routes(nat_sorted, nat_gateways, problems)
    return _result(address_used, arp_interface, sorted(vips.values(), key=lambda v: v['vip']), nat_sorted, fullnat, problems, routes)


def _nat_routes(nat, nat_gateways, problems):
    """Per address family of the nat entries: the gateway and the policy rules."""
    gateways = {}
    for gateway in nat_gateways or []:
        if gateway in (None, ''):
            continue
        canonical = _canonical(gateway)
        if canonical is None or '/' in str(gateway):
            problems.append('real_server_nat_gateway: %r is not an IP address.' % (gateway,))
            continue
        family = 'ipv6' if ':' in canonical else 'ipv4'
        if family in gateways and gateways[family] != canonical:
            problems.append('real_server_nat_gateway and real_server_nat_gateway_ipv6 are both %s addresses; '
                            'give one address per family.' % family.replace('ipv', 'IPv'))
        gateways[family] = canonical
    routes = []
    for family in sorted(set(entry['family'] for entry in nat)):
        entries = [entry for entry in nat if entry['family'] == family]
        if family not in gateways:
            problems.append(
                'This host is a nat real server of %s (%s), so its replies must go back through the director: set '
                'real_server_nat_gateway%s to the director\'s inner %s address.'
                % (', '.join(sorted(set(entry['service'] for entry in entries))), family.replace('ipv', 'IPv'),
                   '_ipv6' if family == 'ipv6' and 'ipv4' in gateways else '', family.replace('ipv', 'IPv')))
            continue
        rules = []
        for entry in entries:
            rule = {'source': entry['address'], 'protocol': entry['protocol'], 'port': entry['port']}
            if rule not in rules:
                rules.append(rule)
        routes.append({'family': family, 'gateway': gateways[family], 'rules': rules})
    return routes


def _result(address, arp_interface, vips, nat, fullnat, problems, routes=None):
    return {
        'address': address,
        'arp_interface': arp_interface,
        'vips': vips,
        'nat': nat,
        'nat_routes': routes or [],
        'fullnat': fullnat,
        'problems': problems,
    }


def _add_vip(vips, problems, label, service, forwarding, real_server):
    vip_text = service.get('vip')
    if vip_text is None:
        problems.append(
            'Virtual service %s uses %s with a firewall mark: the real server must hold the VIPs the mark selects, '
            'which the service does not say; list them in real_server_extra_vips.' % (label, forwarding))
        return
    vip = _canonical(vip_text)
    if vip is None or '/' in str(vip_text) and str(vip_text).split('/')[1] not in ('32', '128'):
        problems.append('Virtual service %s: vip %r is not a single IP address.' % (label, vip_text))
        return
    if forwarding not in VIP_FORWARDING:
        problems.append('%s: forwarding for VIP %s must be dr or tun, not %r.' % (label, vip, forwarding))
        return
    entry = {'vip': vip, 'forwarding': forwarding, 'tunnel_type': None, 'tunnel_port': None, 'services': [label]}
    if forwarding == 'tun':
        entry['tunnel_type'] = real_server.get('tunnel_type') or 'ipip'
        entry['tunnel_port'] = real_server.get('tunnel_port')
        if entry['tunnel_type'] not in TUNNEL_TYPES:
            problems.append('%s: tunnel_type must be one of %s, not %r.' % (label, ', '.join(TUNNEL_TYPES), entry['tunnel_type']))
            return
        if entry['tunnel_type'] == 'gue' and not entry['tunnel_port']:
            problems.append('%s: tunnel_type gue needs tunnel_port, the real server\'s GUE receive port.' % label)
            return
        if entry['tunnel_type'] != 'gue' and entry['tunnel_port']:
            problems.append('%s: tunnel_port applies to tunnel_type gue only.' % label)
            return
    known = vips.get(vip)
    if known is None:
        vips[vip] = entry
        return
    same = all(known[key] == entry[key] for key in ('forwarding', 'tunnel_type', 'tunnel_port'))
    if not same:
        problems.append(
            'VIP %s reaches this host through %s (%s) and through %s (%s); one VIP can only be set up one way on a '
            'real server.' % (vip, ', '.join(known['services']), _how(known), label, _how(entry)))
        return
    if label not in known['services']:
        known['services'].append(label)


def _how(entry):
    if entry['forwarding'] == 'dr':
        return 'dr'
    if entry['tunnel_type'] == 'gue':
        return 'tun, gue port %s' % entry['tunnel_port']
    return 'tun, %s' % entry['tunnel_type']
