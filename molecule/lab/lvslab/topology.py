# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab's topology: its VMs, their interfaces on segments, addresses and routes, validated."""

from __future__ import annotations

import ipaddress
import re

from .common import LabError
from .image import DEFAULT_RELEASE, check_release


NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,23}")
SEGMENT_RE = re.compile(r"[a-z][a-z0-9_-]{0,23}")
MGMT_ADDRESS = "10.0.2.15"
MGMT_PREFIX = 24


def _as_list(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, list):
        return value
    raise LabError(f"{what} must be a list")


def parse_memory(value, what: str) -> int:
    if value is None:
        return 256
    m = re.fullmatch(r"(\d+)\s*([MmGg]?)i?[Bb]?", str(value))
    if not m:
        raise LabError(f"{what}: memory must be a number of MiB or like 512M or 1G, not {value!r}")
    mib = int(m.group(1)) * (1024 if m.group(2).lower() == "g" else 1)
    if not 128 <= mib <= 4096:
        raise LabError(f"{what}: memory must be between 128M and 4G, not {value!r}")
    return mib


def load_topology(path: str) -> list[dict]:
    """Read and validate a topology: a YAML file with `vms:` (or Molecule's `platforms:`)."""
    import yaml  # PyYAML: only needed here

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read topology {path}: {exc}") from exc
    vms = data.get("vms", data.get("platforms")) if isinstance(data, dict) else None
    if not isinstance(vms, list) or not vms:
        raise LabError(f"{path}: no VMs (expected a non-empty `vms:` or `platforms:` list)")
    return normalise_topology(vms, path)


def normalise_topology(vms: list, where: str) -> list[dict]:
    """Validate every VM and return normalised dicts with devices, MACs and parsed addresses."""
    result: list[dict] = []
    seen: set[str] = set()
    addresses: dict[str, str] = {}
    for index, raw in enumerate(vms, start=1):
        if not isinstance(raw, dict) or "name" not in raw:
            raise LabError(f"{where}: VM #{index} needs a name")
        name = str(raw["name"])
        what = f"{where}: VM {name}"
        if not NAME_RE.fullmatch(name):
            raise LabError(f"{what}: names are 1-24 characters, lower case letters, digits and '-', "
                           "starting with a letter")
        if name in seen:
            raise LabError(f"{what}: the name is used twice")
        seen.add(name)
        if index > 250:
            raise LabError(f"{where}: at most 250 VMs")
        interfaces = []
        used_segments: set[str] = set()
        for ifindex, iface in enumerate(_as_list(raw.get("interfaces"), f"{what}: interfaces"), start=1):
            if not isinstance(iface, dict) or not iface.get("segment"):
                raise LabError(f"{what}: every interface needs a segment")
            segment = str(iface["segment"])
            if not SEGMENT_RE.fullmatch(segment):
                raise LabError(f"{what}: segment names are 1-24 characters of a-z, 0-9, '_' and '-', not {segment!r}")
            if segment in used_segments:
                raise LabError(f"{what}: two interfaces on segment {segment}; put the addresses on one interface")
            used_segments.add(segment)
            addrs = []
            for addr in _as_list(iface.get("address", iface.get("addresses")), f"{what}: address"):
                try:
                    parsed = ipaddress.ip_interface(str(addr))
                except ValueError as exc:
                    raise LabError(f"{what}: {exc}") from exc
                if "/" not in str(addr):
                    raise LabError(f"{what}: address {addr} needs a prefix length, for example {addr}/24")
                if str(parsed.ip) in addresses:
                    raise LabError(f"{what}: address {parsed.ip} is also used by {addresses[str(parsed.ip)]}")
                if parsed.version == 4 and parsed.network.overlaps(ipaddress.ip_network("10.0.2.0/24")):
                    raise LabError(f"{what}: {parsed} overlaps 10.0.2.0/24, which is the management network")
                addresses[str(parsed.ip)] = name
                addrs.append(parsed)
            mac = str(iface.get("mac") or f"52:54:00:{index:02x}:{ifindex:02x}:01").lower()
            if not re.fullmatch(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", mac) or int(mac[:2], 16) & 1:
                raise LabError(f"{what}: {mac} is not a unicast MAC address")
            interfaces.append({"device": f"eth{ifindex}", "segment": segment, "mac": mac, "addresses": addrs})
        routes = []
        for key, family in (("gateway", 4), ("gateway6", 6)):
            if raw.get(key):
                routes.append({"to": "default", "via": raw[key], "family": family})
        for route in _as_list(raw.get("routes"), f"{what}: routes"):
            if not isinstance(route, dict) or "to" not in route or "via" not in route:
                raise LabError(f"{what}: a route needs `to` and `via`")
            try:
                dest = ipaddress.ip_network(str(route["to"]), strict=True)
            except ValueError as exc:
                raise LabError(f"{what}: route {route['to']}: {exc}") from exc
            routes.append({"to": str(dest), "via": route["via"], "family": dest.version})
        for route in routes:
            try:
                via = ipaddress.ip_address(str(route["via"]))
            except ValueError as exc:
                raise LabError(f"{what}: gateway {route['via']}: {exc}") from exc
            if via.version != route["family"]:
                raise LabError(f"{what}: gateway {via} is not an IPv{route['family']} address")
            dev = next((i["device"] for i in interfaces for a in i["addresses"] if via in a.network), None)
            if dev is None:
                raise LabError(f"{what}: gateway {via} is on none of the VM's data segments")
            route.update(via=str(via), device=dev)
        release = DEFAULT_RELEASE if raw.get("image") is None else str(raw["image"])
        try:
            check_release(release)
        except LabError as exc:
            raise LabError(f"{what}: image: {exc}") from None
        hostvars = raw.get("hostvars") or {}
        if not isinstance(hostvars, dict):
            raise LabError(f"{what}: hostvars must be a mapping")
        groups = [str(g) for g in _as_list(raw.get("groups"), f"{what}: groups")]
        for group in groups:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", group):
                raise LabError(f"{what}: {group!r} is not a valid Ansible group name")
        result.append({
            "name": name,
            "index": index,
            "memory": parse_memory(raw.get("memory"), what),
            "image": release,
            "groups": groups,
            "interfaces": interfaces,
            "routes": routes,
            "hostvars": hostvars,
        })
    return result
