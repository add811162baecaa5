# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster model (``lvs_virtual_services``) as the roles read it, on the controller.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Pure functions, no Ansible objects: the filter plugins in ``plugins/filter``
wrap them, and the unit tests call them directly.
"""

from __future__ import annotations

import ipaddress
import os

from collections.abc import Mapping

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import hostport, normalise_service, service_key
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs.model import service_label as kernel_label
from ansible_collections.lvs.ipvs.plugins.module_utils._vocabulary import (
    DEFAULT_SCHEDULER,
    DEFAULT_TUNNEL_TYPE,
    IPVS_MODULE,
    KERNEL_FORWARDING,
    TUNNEL_MODULES,
    scheduler_module,
)
# Keys of a virtual service in the model that ipvs_table takes as they are.
SERVICE_KEYS = (
    'vip', 'fwmark', 'family', 'protocol', 'port', 'scheduler', 'scheduler_flags',
    'persistence_timeout', 'persistence_netmask', 'persistence_engine', 'one_packet',
)
REAL_SERVER_KEYS = (
    'port', 'weight', 'upper_threshold', 'lower_threshold',
    'tunnel_type', 'tunnel_port', 'tunnel_checksum',
)
# The model's one schema: lvs_virtual_services as the roles' meta/argument_specs.yml document it (both
# roles carry the same entry; a unit test keeps them equal).
SCHEMA_FILE = os.path.join(os.path.dirname(__file__), '..', '..', 'roles', 'director', 'meta', 'argument_specs.yml')
_SCHEMA = {}


def _schema():
    """(service spec without the real servers' options, real server spec), read once."""
    if not _SCHEMA:
        with open(SCHEMA_FILE, encoding='utf-8') as handle:
            options = yaml.safe_load(handle)['argument_specs']['main']['options']['lvs_virtual_services']['options']
        service = dict(options)
        # The real servers are checked one by one, to name each in its messages.
        _SCHEMA['real_server'] = ArgumentSpecValidator(service['real_servers']['options'])
        service['real_servers'] = {'type': 'list'}
        _SCHEMA['service'] = ArgumentSpecValidator(service)
    return _SCHEMA['service'], _SCHEMA['real_server']


def _schema_problems(validator, entry, where):
    """The schema's verdict on one service or real server, as sentences that start with WHERE."""
    problems = []
    for error in validator.validate(entry).errors:
        text = str(error)
        if type(error).__name__ == 'UnsupportedError':
            text = 'unknown key %s' % text
        problems.append('%s: %s.' % (where, text.rstrip('.')))
    return problems


def plain(value):
    """VALUE as plain dicts, lists and scalars. Since ansible-core 2.19 a filter gets the variables as lazy
    containers, and each deep copy of one copies its templating context too (the whole model): the schema's
    validator copies every entry it checks, which made a model of N services cost N squared."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def service_label(service, index):
    """A name for a service in messages: its name, its key, or its position."""
    if service.get('name'):
        return str(service['name'])
    if service.get('fwmark') is not None:
        return 'fwmark %s' % service['fwmark']
    if service.get('vip') is not None:
        return '%s %s:%s' % (service.get('protocol', 'tcp'), service['vip'], service.get('port'))
    return 'lvs_virtual_services[%d]' % index


def _canonical(text):
    """The canonical text of an address (``2001:DB8::0:1`` -> ``2001:db8::1``), or None."""
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return None


def host_address(host, hostvars):
    """The data-plane address of an inventory host: its host variable ``lvs_address``, else the
    address of its default IPv4 route from its facts; None when neither is known."""
    variables = hostvars.get(host) or {}
    address = variables.get('lvs_address') or (variables.get('ansible_default_ipv4') or {}).get('address')
    return str(address) if address else None


def normalise_model(services, hostvars):
    """The one reading of ``lvs_virtual_services``: ``(services, problems)``.

    Every service is checked against the model's schema (the roles' meta/argument_specs.yml) and
    gets its ``label`` (for messages); every real server names exactly one of an inventory
    ``host`` or an ``address`` and gets its ``address`` (a host's lvs_address, else the address of
    its default IPv4 route; canonical text) and its ``port`` (the service's unless set). Then the
    service is checked as lvs.ipvs.ipvs_table will check it, so that nothing the module would refuse
    reaches a host. Problems are sentences naming the service, the real server and what to set; a
    service with a problem is left out of the services.
    """
    if services is None:
        return [], []
    if not isinstance(services, list):
        return [], ['lvs_virtual_services must be a list of virtual services.']
    services = plain(services)
    service_schema, real_server_schema = _schema()
    resolved = []
    problems = []
    keys = {}
    for index, service in enumerate(services):
        if not isinstance(service, dict):
            problems.append('lvs_virtual_services[%d] must be a dictionary.' % index)
            continue
        label = service_label(service, index)
        start = len(problems)
        problems.extend(_schema_problems(service_schema, service, 'Virtual service %s' % label))
        real_servers = []
        seen = {}
        for position, real_server in enumerate(service.get('real_servers') or []):
            where = 'Virtual service %s, real server %d' % (label, position + 1)
            if not isinstance(real_server, dict):
                problems.append('%s must be a dictionary.' % where)
                continue
            host = real_server.get('host')
            if host:
                where = 'Virtual service %s, real server %s' % (label, host)
            if _schema_problems(real_server_schema, real_server, where):
                problems.extend(_schema_problems(real_server_schema, real_server, where))
                continue
            if bool(host) == bool(real_server.get('address')):
                problems.append('%s needs exactly one of host: (an inventory host) or address:.' % where)
                continue
            entry = dict(real_server)
            if host:
                if host not in hostvars:
                    problems.append('%s is not in the inventory: fix the host name, or give the real server an '
                                    'address: instead of host:.' % where)
                    continue
                address = host_address(host, hostvars)
                if address is None:
                    problems.append('%s: its address is unknown. Set its host variable lvs_address, give the real '
                                    'server an address: instead of host:, or gather facts from that host.' % where)
                    continue
            else:
                address = str(real_server['address'])
            entry['address'] = _canonical(address) or address
            if entry.get('port') is None and service.get('port') is not None:
                entry['port'] = service['port']
            key = (entry['address'], entry.get('port'))
            if key in seen:
                shown = hostport(*key) if key[1] is not None else key[0]
                problems.append('Virtual service %s lists real server %s twice (as %s and %s): each address and port '
                                'may appear once in a service.' % (label, shown, seen[key], host or real_server['address']))
                continue
            seen[key] = host or real_server['address']
            real_servers.append(entry)
        if len(problems) > start:
            continue
        entry = dict(service)
        entry['label'] = label
        entry['real_servers'] = real_servers
        # What lvs.ipvs.ipvs_table will say of it, said now, before any host changes.
        errors = []
        kernel = normalise_service(ipvs_table_services([entry])[0], errors)
        problems.extend(_module_problem(label, error, kernel_label(kernel)) for error in errors)
        if errors:
            continue
        key = service_key(kernel)
        if key in keys:
            problems.append('Virtual services %s and %s are the same service (%s): merge them, or change the '
                            'vip, protocol or port (or the fwmark) of one.' % (keys[key], label, kernel_label(kernel)))
            continue
        keys[key] = label
        resolved.append(entry)
    return resolved, problems


def _module_problem(label, error, module_label):
    """An ipvs_table message as a model problem: the service named as the model names it."""
    for prefix in ('service ', module_label + ': '):
        if error.startswith(prefix):
            error = error.split(': ', 1)[-1]
            break
    if error.startswith('real server '):
        return 'Virtual service %s, %s.' % (label, error)
    return 'Virtual service %s: %s.' % (label, error)


def ipvs_table_services(services):
    """The services of a resolved model as the ``services`` option of ``lvs.ipvs.ipvs_table``."""
    table = []
    for service in services:
        entry = dict((key, service[key]) for key in SERVICE_KEYS if service.get(key) is not None)
        entry['forwarding'] = KERNEL_FORWARDING[service['forwarding']]
        entry['real_servers'] = []
        for real_server in service['real_servers']:
            destination = dict((key, real_server[key]) for key in REAL_SERVER_KEYS if real_server.get(key) is not None)
            destination['address'] = real_server['address']
            entry['real_servers'].append(destination)
        table.append(entry)
    return table


def vips(services):
    """The distinct VIPs of the services, in the order they first appear."""
    found = []
    for service in services:
        vip = service.get('vip')
        if vip is not None and str(vip) not in found:
            found.append(str(vip))
    return found


def host_networks(facts):
    """The networks directly attached to a host, from its gathered facts (``ansible_facts``)."""
    networks = []
    for name in facts.get('interfaces') or []:
        interface = facts.get(name.replace('-', '_')) or facts.get(name) or {}
        if not isinstance(interface, dict):
            continue
        ipv4 = [interface.get('ipv4')] if isinstance(interface.get('ipv4'), dict) else []
        ipv4 += interface.get('ipv4_secondaries') or []
        for address in ipv4:
            if address.get('address') and address.get('netmask'):
                networks.append(ipaddress.ip_interface('%s/%s' % (address['address'], address['netmask'])))
        for address in interface.get('ipv6') or []:
            if address.get('address') and address.get('prefix'):
                networks.append(ipaddress.ip_interface('%s/%s' % (address['address'].split('%')[0], address['prefix'])))
    return networks


def _ip_version(text):
    """4 or 6 for an address (with or without a prefix length), None for anything else."""
    try:
        return ipaddress.ip_interface(str(text)).version
    except ValueError:
        return None


def director_problems(services, facts, hostvars, gateway_variable, snat_addresses, extra_gateways=()):
    """What makes the services impossible on this director: a list of sentences, empty when none.

    ``facts`` are the director's facts, ``hostvars`` the inventory's host variables,
    ``gateway_variable`` the real_server role's variable for a NAT real server's gateway,
    ``snat_addresses`` the director's source addresses for FULLNAT, and ``extra_gateways``
    addresses the director answers on besides its own (a floating inner address).
    """
    problems = []
    networks = [network for network in host_networks(facts) if not network.ip.is_loopback]
    own_addresses = set(str(network.ip) for network in networks) | set(str(address) for address in extra_gateways)

    def attached(address):
        ip = ipaddress.ip_address(address)
        return any(ip in network.network for network in networks if network.version == ip.version)

    for service in services:
        label = service['label']
        forwarding = service['forwarding']
        if forwarding == 'fullnat' and service.get('vip') is None:
            problems.append('Virtual service %s uses fullnat, which needs a vip and port: the source NAT rules '
                            'match them; firewall-mark services are not supported with fullnat.' % label)
        if forwarding == 'fullnat' and not snat_addresses:
            problems.append('Virtual service %s uses fullnat, but director_snat_addresses is empty: '
                            'the director needs a source address toward the real servers.' % label)
        elif forwarding == 'fullnat' and service.get('vip') is not None:
            family = 6 if ':' in str(service['vip']) else 4
            if not any(_ip_version(address) == family for address in snat_addresses):
                problems.append('Virtual service %s is an IPv%d fullnat service, but director_snat_addresses has no '
                                'IPv%d address: add the director\'s IPv%d source address toward its real servers.'
                                % (label, family, family, family))
        for real_server in service['real_servers']:
            # normalise_model has checked the address and the port mapping, as ipvs_table does.
            where = 'Virtual service %s, real server %s' % (label, real_server.get('host') or real_server['address'])
            if forwarding == 'dr' and not attached(real_server['address']):
                problems.append('%s: %s is not on a network attached to this director, and dr forwards by MAC '
                                'address on one L2 segment; use tun or fullnat for routed real servers.' % (where, real_server['address']))
            if forwarding == 'nat':
                if not attached(real_server['address']):
                    problems.append('%s: %s is not on a network attached to this director, so its replies cannot '
                                    'return through it (nat); use fullnat for routed real servers.' % (where, real_server['address']))
                host = real_server.get('host')
                gateway = hostvars.get(host, {}).get(gateway_variable) if host else None
                if host and not gateway:
                    problems.append('%s: nat needs replies to return through the director, but %s is not set for %s.'
                                    % (where, gateway_variable, host))
                elif gateway and str(gateway) not in own_addresses:
                    problems.append('%s: its gateway %s (%s) is not an address of this director, so replies would '
                                    'bypass it.' % (where, gateway, gateway_variable))
    return problems


def director_view(services, hostvars, facts, gateway_variable='real_server_nat_gateway', snat_addresses=(),
                  extra_gateways=(), extra_kernel_modules=()):
    """Everything the director role needs from the model, read once: a dict with

    ``services`` (see normalise_model), ``table`` (the services option of ipvs_table),
    ``vips``, ``fullnat`` (the fullnat services), ``ipv6`` (whether a VIP is IPv6),
    ``kernel_modules`` (ip_vs, the schedulers' and tunnels' modules, then ``extra_kernel_modules``),
    ``forwarding_sysctls`` (what the methods in use need) and ``problems`` (sentences; when there
    are any, the rest is empty)."""
    resolved, problems = normalise_model(services, hostvars)
    problems += director_problems(resolved, facts, hostvars, gateway_variable, list(snat_addresses or ()),
                                  list(extra_gateways or ()))
    if problems:
        resolved = []
    addresses = vips(resolved)
    methods = set(service['forwarding'] for service in resolved)
    ipv6 = any(':' in address for address in addresses)
    modules = [IPVS_MODULE]
    for service in resolved:
        modules.append(scheduler_module(service.get('scheduler') or DEFAULT_SCHEDULER))
        if service['forwarding'] == 'tun':
            modules.extend(TUNNEL_MODULES.get(real_server.get('tunnel_type') or DEFAULT_TUNNEL_TYPE)
                           for real_server in service['real_servers'])
    modules.extend(extra_kernel_modules or ())
    sysctls = {}
    if methods & set(('nat', 'fullnat')):
        sysctls['net.ipv4.ip_forward'] = 1
        if ipv6:
            sysctls['net.ipv6.conf.all.forwarding'] = 1
    if 'fullnat' in methods:
        sysctls['net.ipv4.vs.conntrack'] = 1
    return {
        'services': resolved,
        'table': ipvs_table_services(resolved),
        'vips': addresses,
        'fullnat': [service for service in resolved if service['forwarding'] == 'fullnat'],
        'ipv6': ipv6,
        'kernel_modules': _unique(modules),
        'forwarding_sysctls': sysctls,
        'problems': problems,
    }


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _model_key(service):
    """A service's identity in the model: (fwmark, family) or (protocol, canonical vip, port)."""
    if service.get('fwmark') is not None:
        return ('fwmark', service['fwmark'], service.get('family') or 'ipv4')
    return (service.get('protocol') or 'tcp', _canonical(service.get('vip')) or service.get('vip'), service.get('port'))


def _how_served(service, real_server):
    """How a real server entry is reached, as both sides must agree on it."""
    return (service['forwarding'], real_server.get('port'), real_server.get('tunnel_type'), real_server.get('tunnel_port'))


def cluster_problems(hostvars, hosts, directors=(), real_servers=()):
    """Every problem of a cluster run, once: the problems each host of ``hosts`` found with the model
    (``__director_problems`` and ``__real_server_problems``, set by the roles' view tasks), and the
    rules that span hosts: a real server that a director forwards to by dr, tun or nat must be in
    ``real_servers`` (the group site.yml prepares), and its own reading of the model must give the
    same service the same way (the same method, port and tunnel).

    A problem that only some of the hosts found is prefixed with their names. Returns a list of
    sentences, empty when the cluster may be changed."""
    hosts = list(hosts)
    found = {}
    checked = []
    for host in hosts:
        variables = hostvars[host]
        for key in ('__director_problems', '__real_server_problems'):
            if key in variables:
                if host not in checked:
                    checked.append(host)
                for problem in variables[key]:
                    found.setdefault(problem, [])
                    if host not in found[problem]:
                        found[problem].append(host)
    spanning = []
    readings = {}
    for director in hosts:
        if director not in directors or '__director' not in hostvars[director]:
            continue
        own_model = hostvars[director].get('lvs_virtual_services')
        for service in hostvars[director]['__director']['services']:
            if service['forwarding'] not in ('dr', 'tun', 'nat'):
                continue
            for real_server in service['real_servers']:
                host = real_server.get('host')
                if not host:
                    continue
                if host not in real_servers:
                    spanning.append('Virtual service %s, real server %s: %s is not in the group lvs_real_servers, so '
                                    'playbooks/site.yml would not prepare it for %s; add it to that group.'
                                    % (service['label'], host, host, service['forwarding']))
                    continue
                model = hostvars[host].get('lvs_virtual_services')
                if model is None or model == own_model:
                    continue  # undefined: the host says so itself
                if host not in readings:
                    readings[host] = dict((_model_key(entry), entry) for entry in normalise_model(model, hostvars)[0])
                theirs = readings[host].get(_model_key(service))
                entry = None
                if theirs is not None:
                    entry = next((candidate for candidate in theirs['real_servers'] if candidate.get('host') == host), None)
                if entry is None:
                    spanning.append('Virtual service %s: %s forwards to %s by %s, but the lvs_virtual_services that %s '
                                    'sees does not make it a real server of that service; set lvs_virtual_services '
                                    'once, where every director and real server sees it (group_vars/all).'
                                    % (service['label'], director, host, service['forwarding'], host))
                elif _how_served(service, real_server) != _how_served(theirs, entry):
                    spanning.append('Virtual service %s: %s forwards to %s by %s, but %s reads %s; set '
                                    'lvs_virtual_services once, where every director and real server sees it '
                                    '(group_vars/all).'
                                    % (service['label'], director, host, _how_text(service, real_server), host,
                                       _how_text(theirs, entry)))
    problems = []
    for problem, where in found.items():
        if len(where) == len(checked):
            problems.append(problem)
        else:
            problems.append('%s: %s' % (', '.join(where), problem))
    for problem in spanning:
        if problem not in problems:
            problems.append(problem)
    return problems


def _how_text(service, real_server):
    forwarding, port, tunnel_type, tunnel_port = _how_served(service, real_server)
    text = '%s to port %s' % (forwarding, port)
    if tunnel_type:
        text += ' through a %s tunnel' % tunnel_type
    if tunnel_port:
        text += ' on port %s' % tunnel_port
    return text
