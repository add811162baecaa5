# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What Ansible and Molecule get of a lab: its inventory, an ansible.cfg and Molecule's instance config."""

from __future__ import annotations

from .topology import MGMT_ADDRESS


# For Ansible outside Molecule: `ANSIBLE_CONFIG=<run dir>/ansible.cfg ansible lab -m ping`.
ANSIBLE_CFG = """\
# Written by molecule/lab/lab.py; removed by `lab.py down`.
[defaults]
inventory = {dir}/inventory.yml
host_key_checking = False
interpreter_python = /usr/bin/python3
forks = 20

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=300s -o ServerAliveInterval=15
control_path_dir = {dir}/cp
"""


def host_vars(state: dict, vm: dict, port: int) -> dict:
    interfaces = []
    for iface in vm["interfaces"]:
        head = iface["addresses"][0] if iface["addresses"] else None
        interfaces.append({
            "device": iface["device"],
            "segment": iface["segment"],
            "mac": iface["mac"],
            "addresses": [str(a) for a in iface["addresses"]],
            "address": str(head.ip) if head else None,
            "prefix": head.network.prefixlen if head else None,
            "network": str(head.network) if head else None,
        })
    first = next((i for i in interfaces if i["address"]), None)
    hv = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_user": "root",
        "ansible_private_key_file": state["key"],
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                                   "-o IdentitiesOnly=yes -o LogLevel=ERROR",
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_name": state["name"],
        "lab_management_address": MGMT_ADDRESS,
        "lab_image": vm["image"],
        "lab_interfaces": interfaces,
        "lab_segments": {i["segment"]: i for i in interfaces},
        "lvs_address": first["address"] if first else None,
    }
    hv.update(vm["hostvars"])
    return hv


def make_inventory(state: dict, vms: list[dict]) -> str:
    import yaml

    ports = {vm["name"]: vm["port"] for vm in state["vms"]}
    hosts = {vm["name"]: host_vars(state, vm, ports[vm["name"]]) for vm in vms}
    groups: dict[str, dict] = {}
    for vm in vms:
        for group in vm["groups"]:
            groups.setdefault(group, {"hosts": {}})["hosts"][vm["name"]] = None
    inv = {"all": {"hosts": hosts, "children": {"lab": {"hosts": {n: None for n in hosts}}, **groups}}}

    class NoAliases(yaml.SafeDumper):
        """lab_segments holds the same dicts as lab_interfaces: write both out in full, no &anchors."""

        def ignore_aliases(self, data):
            return True

    header = f"# Written by molecule/lab/lab.py for lab {state['name']}; removed by `lab.py down {state['name']}`.\n"
    return header + yaml.dump(inv, Dumper=NoAliases, default_flow_style=False, sort_keys=False)


def make_instance_config(state: dict) -> str:
    import yaml

    return yaml.safe_dump([{
        "instance": vm["name"], "address": "127.0.0.1", "port": vm["port"], "user": "root",
        "identity_file": state["key"],
    } for vm in state["vms"]], default_flow_style=False, sort_keys=False)
