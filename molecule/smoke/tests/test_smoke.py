# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke test of the VM lab: own kernels with IPVS, isolated networks, disks that survive a reboot."""

import concurrent.futures
import json
import os
import subprocess
import sys
import uuid

import pytest
import testinfra.utils.ansible_runner

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "lab"))
import labtest  # noqa: E402  pylint: disable=wrong-import-position

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))
NAMES = sorted(RUNNER.get_hosts("lab"))


def vm(name):
    return RUNNER.get_host(name)


def hostvars(name):
    return RUNNER.get_variables(name)


def check(host, command):
    """Run a command that must succeed and return its stdout."""
    return host.check_output(command)


def test_four_vms_in_the_inventory_groups():
    assert NAMES == ["client", "director", "rs1", "rs2"]
    assert sorted(RUNNER.get_hosts("real_servers")) == ["rs1", "rs2"]
    assert RUNNER.get_hosts("directors") == ["director"]


@pytest.mark.parametrize("name", NAMES)
def test_vm_runs_the_lab_kernel_with_ipvs(name):
    host = vm(name)
    assert check(host, "uname -r").endswith("-lvslab")
    assert check(host, "hostname") == name
    host.run_test("modprobe ip_vs")
    assert host.file("/proc/net/ip_vs").exists
    assert "ip_vs" in check(host, "cat /proc/modules").split()
    out = check(host, "ipvsadm -Ln")
    assert out.startswith("IP Virtual Server version")


def test_every_vm_has_its_own_kernel():
    boot_ids = {check(vm(n), "cat /proc/sys/kernel/random/boot_id") for n in NAMES}
    assert len(boot_ids) == len(NAMES)
    director, rs1 = vm("director"), vm("rs1")
    try:
        director.run_test("ipvsadm -A -t 192.0.2.10:80 -s rr")
        assert "192.0.2.10:80" in check(director, "ipvsadm -Ln")
        assert "192.0.2.10:80" not in check(rs1, "ipvsadm -Ln")
    finally:
        director.run("ipvsadm -D -t 192.0.2.10:80")


@pytest.mark.parametrize("name", NAMES)
def test_inventory_host_vars_match_the_vm(name):
    hv = hostvars(name)
    host = vm(name)
    recorded = json.loads(check(host, "cat /var/lib/lab-smoke.json"))
    assert recorded["lvs_address"] == hv["lvs_address"]
    first = hv["lab_interfaces"][0]
    assert first["address"] == hv["lvs_address"]
    link = json.loads(check(host, f"ip -j addr show dev {first['device']}"))[0]
    assert link["address"] == first["mac"]
    assert first["address"] in [a["local"] for a in link["addr_info"]]
    assert sorted(hv["lab_segments"]) == recorded["segments"]


def _peers():
    """(source, destination address, source device) for every pair of VMs sharing a segment."""
    pairs = []
    for src in NAMES:
        for seg, iface in hostvars(src)["lab_segments"].items():
            for dst in NAMES:
                other = hostvars(dst)["lab_segments"].get(seg)
                if dst != src and other:
                    pairs.append((src, other["address"], iface["device"]))
    return pairs


@pytest.mark.parametrize(("src", "address", "device"), _peers())
def test_vms_reach_each_other_over_data_segments(src, address, device):
    host = vm(src)
    assert f"dev {device}" in check(host, f"ip route get {address}")
    host.run_test(f"ping -c 1 -W 3 -I {device} {address}")


def test_client_reaches_real_servers_through_the_director():
    client = vm("client")
    for name in ("rs1", "rs2"):
        address = hostvars(name)["lvs_address"]
        assert check(client, f"curl -sS --max-time 5 http://{address}/") == name


def test_management_network_does_not_connect_vms():
    rs1, rs2 = vm("rs1"), vm("rs2")
    # Every VM has its own management link: an address added on rs2's does not answer rs1.
    rs2.run_test("ip addr add 10.0.2.99/24 dev eth0")
    try:
        assert rs1.run("ping -c 2 -W 1 -I eth0 10.0.2.99").rc != 0
        assert "lladdr" not in rs1.run("ip neigh show 10.0.2.99 dev eth0").stdout
    finally:
        rs2.run("ip addr del 10.0.2.99/24 dev eth0")
    # Nor can a VM reach another VM's ssh port through the host's loopback.
    port = hostvars("rs2")["ansible_port"]
    assert rs1.run(f"nc -z -w 3 10.0.2.2 {port}").rc != 0
    # The management link carries only the lab's fixed address and no routes beyond it.
    routes = [line.split() for line in check(rs1, "ip -4 route show dev eth0").splitlines()]
    assert routes == ["10.0.2.0/24 proto kernel scope link src 10.0.2.15".split()]
    assert check(rs1, "ip -4 route show default").split()[2] == "10.10.0.1"


def _listeners(port):
    """Local addresses of the controller's listening TCP sockets on PORT (from /proc/net/tcp, tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    found.append(address)
    return found


def _ssh(port, *options, command="true"):
    """ssh from the controller to a VM's forwarder, without Ansible's multiplexed connection."""
    return subprocess.run(
        ["ssh", "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60", "-o", "ControlMaster=no",
         "-o", "ControlPath=none", *options, "root@127.0.0.1", command],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", NAMES)
def test_ssh_is_reached_on_loopback_only_with_a_key(name):
    port = hostvars(name)["ansible_port"]
    # 0100007F is 127.0.0.1 as /proc/net/tcp writes it; nothing listens on another address or on IPv6.
    assert _listeners(port) == ["0100007F"]
    sshd = check(vm(name), "sshd -T").splitlines()
    assert "passwordauthentication no" in sshd
    assert "kbdinteractiveauthentication no" in sshd
    assert "permitrootlogin without-password" in sshd
    # The server itself offers nothing but public keys to a client that has none.
    refused = _ssh(port, "-o", "PubkeyAuthentication=no", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr


def test_parallel_ssh_connections_all_get_through():
    # slirp listens with a backlog of 1 (it accepts at once); eight new connections at once (no
    # multiplexing) to one VM must all get through. Far more at once make the VM's sshd, not the
    # backlog, the limit: see molecule/README.md.
    hv = hostvars("rs1")
    key = ("-o", "IdentitiesOnly=yes", "-i", hv["ansible_private_key_file"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _n: _ssh(hv["ansible_port"], *key, command="hostname"), range(8)))
    assert [(r.returncode, r.stdout.strip()) for r in results] == [(0, "rs1")] * 8, [r.stderr for r in results]


def test_ipvs_nat_service_across_the_lab():
    director, client = vm("director"), vm("client")
    vip = "192.168.50.10"
    director.run_test(f"ip addr add {vip}/24 dev eth1")
    try:
        director.run_test(f"ipvsadm -A -t {vip}:80 -s rr")
        for name in ("rs1", "rs2"):
            director.run_test(f"ipvsadm -a -t {vip}:80 -r {hostvars(name)['lvs_address']}:80 -m")
        seen = {check(client, f"curl -sS --max-time 5 http://{vip}/") for _attempt in range(4)}
        assert seen == {"rs1", "rs2"}
    finally:
        director.run(f"ipvsadm -D -t {vip}:80")
        director.run(f"ip addr del {vip}/24 dev eth1")


def test_reboot_keeps_what_was_written_to_disk():
    host = vm("rs2")
    token = uuid.uuid4().hex
    host.run_test(f"echo {token} > /root/lab-token && sync")
    # `lab.py reboot` waits until rs2 answers ssh with a new boot id (and checks it again over testinfra).
    labtest.reboot(RUNNER, ["rs2"])
    assert check(host, "cat /root/lab-token") == token
    # modules-load.d written by converge loaded IPVS at boot, without a modprobe.
    assert "ip_vs_rr" in check(host, "cat /proc/modules").split()
    assert check(host, "systemctl is-active nginx") == "active"


def test_a_vm_hung_in_umls_reboot_is_started_again_on_its_disk():
    """The lab's rescue for UML's rare reboot hang, on a hang made on purpose (see labtest.reboot_with_a_hang)."""
    host = vm("rs1")
    token = uuid.uuid4().hex
    host.run_test(f"echo {token} > /root/lab-token && sync")
    before = check(host, "cat /proc/sys/kernel/random/boot_id")
    assert labtest.reboot_with_a_hang(RUNNER, "rs1") == ["rs1"]
    assert check(host, "cat /proc/sys/kernel/random/boot_id") != before
    # Started again on its own copy-on-write disk, with its data-plane interface on the switch again.
    assert check(host, "cat /root/lab-token") == token
    host.run_test(f"ping -c 2 -W 2 {hostvars('director')['lab_segments']['lan']['address']}")
    with open(labtest.console_log(RUNNER, "rs1"), encoding="utf-8", errors="replace") as fh:
        assert "rs1 hung in UML's reboot; killed it and started it again on the same disk" in fh.read()
