# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an operator checks on real servers prepared by the real_server role (issue 5).

Every check reads the kernel independently of what the role reported (`ip`, `sysctl`,
`ip fou`), or sends real traffic: ARP from the client, HTTP through a director configured by
hand, packets captured on the real server. The reboot test comes last and repeats the checks
on real servers that came back without Ansible.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import testinfra.utils.ansible_runner
import yaml

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "lab"))
import labtest  # noqa: E402  pylint: disable=wrong-import-position

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))
DR_VIP, IPIP_VIP, GUE_VIP, GUE_PORT, NAT_VIP = "10.50.0.10", "10.50.0.20", "10.50.0.21", 6080, "10.50.0.30"
NAT_RULE = "from 10.50.0.11 ipproto tcp sport 8080 lookup 100"
MAC = re.compile(r"([0-9a-f]{2}(?::[0-9a-f]{2}){5})", re.IGNORECASE)


def host(name):
    return RUNNER.get_host(name)


def sysctl(name, key):
    return int(host(name).check_output(f"sysctl -n {key}"))


def addresses(name, device):
    """The addresses of a device, as `ip` shows them."""
    out = json.loads(host(name).check_output(f"ip -j address show dev {device}"))
    return {f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"]}


def mac(name, device="eth1"):
    return host(name).check_output(f"cat /sys/class/net/{device}/address").lower()


def arp_answers(vip):
    """The MAC addresses that answer ARP for the VIP on the segment, seen from the client."""
    client = host("client")
    client.run(f"ip neigh flush to {vip}")
    out = client.run(f"timeout 10 arping -c 4 -I eth1 {vip}").stdout
    return {m.lower() for line in out.splitlines() if vip in line for m in MAC.findall(line)}


def get(vip):
    return host("client").run(f"curl -sS --max-time 5 http://{vip}/")


def check_state():
    """The VIPs on their devices and the sysctls, read from the kernels."""
    assert f"{DR_VIP}/32" in addresses("rs-dr", "lvs0")
    assert "dummy" in host("rs-dr").check_output("ip -d link show dev lvs0")
    assert f"{DR_VIP}/32" not in addresses("rs-dr", "eth1")
    for key, value in (("arp_ignore", 1), ("arp_announce", 2)):
        for device in ("all", "eth1"):
            assert sysctl("rs-dr", f"net.ipv4.conf.{device}.{key}") == value, (device, key)
            assert sysctl("rs-tun", f"net.ipv4.conf.{device}.{key}") == value, (device, key)
    assert {f"{IPIP_VIP}/32", f"{GUE_VIP}/32"} <= addresses("rs-tun", "tunl0")
    assert "UP" in json.loads(host("rs-tun").check_output("ip -j link show dev tunl0"))[0]["flags"]
    assert f"port {GUE_PORT} gue" in host("rs-tun").check_output("ip fou show").splitlines()
    # The kernel applies max(all, device): tunl0 must come out 0, eth1 must still filter.
    assert max(sysctl("rs-tun", "net.ipv4.conf.all.rp_filter"), sysctl("rs-tun", "net.ipv4.conf.tunl0.rp_filter")) == 0
    assert max(sysctl("rs-tun", "net.ipv4.conf.all.rp_filter"), sysctl("rs-tun", "net.ipv4.conf.eth1.rp_filter")) >= 1
    # NAT by policy: the replies of port 8080 look up table 100, whose default route is the director;
    # the main table keeps its own (none here, or another gateway).
    assert f"1000:\t{NAT_RULE}" in host("rs-dr").check_output("ip rule show")
    assert host("rs-dr").check_output("ip route show table 100").startswith("default via 10.50.0.1 dev eth1")
    assert "10.50.0.1" not in host("rs-dr").check_output("ip route show default")


def check_traffic():
    """DR: only the director answers ARP for the VIP; every VIP answers HTTP through the director."""
    assert arp_answers(DR_VIP) == {mac("director")}
    for vip, name in ((DR_VIP, "rs-dr"), (IPIP_VIP, "rs-tun"), (GUE_VIP, "rs-tun"), (NAT_VIP, "rs-dr")):
        result = get(vip)
        assert result.rc == 0 and result.stdout == name, (vip, result.stdout, result.stderr)


def test_vips_and_sysctls_are_in_place():
    check_state()


def test_the_arp_check_can_see_a_real_server_that_answers():
    """Control: with ARP not quiet, the client does see rs-dr's MAC, so the next test means something."""
    rs = host("rs-dr")
    try:
        rs.run_test("sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth1.arp_ignore=0")
        assert mac("rs-dr") in arp_answers(DR_VIP)
    finally:
        rs.run_test("sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth1.arp_ignore=1")


def test_only_the_director_answers_arp_for_the_dr_vip():
    answers = arp_answers(DR_VIP)
    assert answers == {mac("director")}
    assert mac("rs-dr") not in answers


def test_dr_requests_reach_the_real_server_on_the_vip():
    host("rs-dr").run_test("truncate -s 0 /var/log/nginx/lvs-access.log")
    result = get(DR_VIP)
    assert result.stdout == "rs-dr", result.stderr
    log = host("rs-dr").check_output("cat /var/log/nginx/lvs-access.log").split()
    assert log[:2] == ["10.50.0.100", f"{DR_VIP}:80"], log


@pytest.mark.parametrize("vip", [IPIP_VIP, GUE_VIP])
def test_tunnelled_requests_are_answered_from_the_vip(vip):
    rs = host("rs-tun")
    capture = f"/tmp/reply-{vip}.pcap.txt"
    rs.run_test(f"rm -f {capture}; (timeout 20 tcpdump -l -n -c 1 -i eth1 'src host {vip} and tcp src port 80' > {capture} 2>&1 &)")
    time.sleep(2)  # let tcpdump start listening
    result = get(vip)
    assert result.rc == 0 and result.stdout == "rs-tun", (result.stdout, result.stderr)
    deadline = time.monotonic() + 20
    seen = ""
    while time.monotonic() < deadline:
        seen = rs.check_output(f"cat {capture}")
        if f"{vip}.80 > 10.50.0.100" in seen:
            break
        time.sleep(1)
    # The reply leaves rs-tun's own interface, straight to the client, with the VIP as source.
    assert f"IP {vip}.80 > 10.50.0.100." in seen, seen
    # The director did forward it (its counters are refreshed every 2 s by the kernel's estimator).
    deadline = time.monotonic() + 10
    while True:
        stats = host("director").check_output(f"ipvsadm -Ln --stats -t {vip}:80")
        if re.search(r"->\s+10\.50\.0\.12:80\s+\d*[1-9]\d*\s", stats) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert re.search(r"->\s+10\.50\.0\.12:80\s+\d*[1-9]\d*\s", stats), stats


def test_nat_replies_go_back_through_the_director():
    rs = host("rs-dr")
    rs.run_test("truncate -s 0 /var/log/nginx/lvs-access.log")
    result = get(NAT_VIP)
    assert result.rc == 0 and result.stdout == "rs-dr", result.stderr
    log = rs.check_output("cat /var/log/nginx/lvs-access.log").split()
    assert log[:2] == ["10.50.0.100", "10.50.0.11:8080"], log  # the client's own address, the real port


def test_the_nat_check_fails_without_the_policy_rule():
    """Control: without the rule the replies go straight to the client, which drops them."""
    rs = host("rs-dr")
    try:
        rs.run_test(f"ip rule del priority 1000 {NAT_RULE}")
        assert get(NAT_VIP).rc != 0
    finally:
        rs.run(f"ip rule add priority 1000 {NAT_RULE}")
    assert get(NAT_VIP).stdout == "rs-dr"


def converge(*options):
    """Run the scenario's converge playbook again, as Molecule does, with OPTIONS; return its output."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    run = subprocess.run(
        [playbook, "-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), os.path.join(scenario, "converge.yml"),
         *options],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def nat_rules():
    """rs-dr's policy rules at the role's priority, read from the kernel, as `ip rule show` lists them."""
    out = host("rs-dr").check_output("ip -4 rule show")
    return {line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("1000:")}


def nat_rules_at_boot():
    """The policy rules rs-dr's boot script adds, in the words of `ip rule show`."""
    script = host("rs-dr").check_output("cat /usr/local/sbin/lvs-real-server-up")
    return {line.removeprefix("ip rule add priority 1000 ").replace("/32 ", " ")
            for line in script.splitlines() if line.startswith("ip rule add ")}


def test_without_purge_the_policy_rule_of_a_moved_port_stays_until_a_purge_run(tmp_path):
    """Phase 1 of a rolling change (real_server_purge=false) moves web-nat to port 8081 on rs-dr: the rule of
    8081 comes, the one of 8080, which the director still forwards to, stays, at boot too. A purge run back
    on the scenario's own model then removes the rule of 8081."""
    with open(os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "molecule.yml"), encoding="utf-8") as handle:
        services = yaml.safe_load(handle)["provisioner"]["inventory"]["group_vars"]["all"]["lvs_virtual_services"]
    web_nat = next(service for service in services if service["name"] == "web-nat")
    web_nat["real_servers"] = [{"host": "rs-dr", "port": 8081}]
    phase_1 = tmp_path / "phase-1.json"
    phase_1.write_text(json.dumps({"lvs_virtual_services": services, "real_server_purge": False}), encoding="utf-8")
    moved = NAT_RULE.replace("sport 8080", "sport 8081")

    converge("-e", f"@{phase_1}")
    assert nat_rules() == {NAT_RULE, moved}
    assert nat_rules_at_boot() == nat_rules()
    assert get(NAT_VIP).stdout == "rs-dr"  # the director still sends to 8080, and the replies still find it

    converge("-e", '{"real_server_purge": true}')
    assert nat_rules() == {NAT_RULE}
    assert nat_rules_at_boot() == nat_rules()


def test_check_mode_on_the_converged_hosts_changes_nothing():
    run = converge("--check", "--diff")
    recap = re.findall(r"^(rs-dr|rs-tun)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.MULTILINE)
    assert sorted(recap) == [("rs-dr", "0"), ("rs-tun", "0")], run.stdout[-3000:]


# What the role sets on a real server, read from the kernel: after a reboot it must be what was
# applied live, byte for byte. One exception: a dummy device gets a random MAC address each time it
# is made, and so another IPv6 link-local address, masked here, and a local route for it, left out
# (the local table sorts it by that address).
KERNEL_STATE = {
    "addresses": "ip -br address show",
    "links": "ip -br link show | awk '{print $1, $2}'",
    "policy rules": "ip -4 rule show; ip -6 rule show",
    "routes": "ip -4 route show table all; ip -6 route show table all",
    "fou ports": "ip fou show 2>/dev/null || true",  # fails where fou is not loaded
    "LVS sysctls": (r"sysctl -a 2>/dev/null | grep -E '^net\.ipv4\.vs\.|^net\.ipv4\.ip_forward|"
                    r"\.(arp_ignore|arp_announce|rp_filter|forwarding) ' | sort"),
}
RANDOM_LINK_LOCAL = re.compile(r"fe80::[0-9a-f:]*[0-9a-f]")


def kernel_state(name):
    state = {what: host(name).check_output(command) for what, command in KERNEL_STATE.items()}
    state["addresses"] = "\n".join(RANDOM_LINK_LOCAL.sub("fe80::(random)", line) if line.startswith("lvs0 ") else line
                                   for line in state["addresses"].splitlines())
    state["routes"] = "\n".join(line for line in state["routes"].splitlines()
                                if not (line.startswith("local fe80::") and " dev lvs0 " in line))
    return state


def test_the_boot_script_is_what_the_modules_returned():
    """The boot script holds the modules' commands; no sysctl.d or modules-load.d file of the role is left."""
    script = host("rs-tun").check_output("cat /usr/local/sbin/lvs-real-server-up")
    assert "ip fou add port 6080 gue" in script and "modprobe ipip" in script
    assert "ip address add 10.50.0.20/32 dev tunl0" in script
    script = host("rs-dr").check_output("cat /usr/local/sbin/lvs-real-server-up")
    assert "ip link add lvs0 type dummy" in script
    assert "ip rule add priority 1000 from 10.50.0.11/32 ipproto tcp sport 8080 lookup 100" in script
    for name in ("rs-dr", "rs-tun"):
        assert not host(name).file("/etc/sysctl.d/90-lvs-real-server.conf").exists
        assert not host(name).file("/etc/modules-load.d/lvs-real-server.conf").exists


def reboot(names):
    labtest.reboot(RUNNER, names)
    for name in names:
        state = host(name).run("systemctl is-system-running --wait").stdout.strip()
        assert state in ("running", "degraded"), (name, state)
        assert host(name).check_output("systemctl is-active lvs-real-server.service") == "active"


def test_after_a_reboot_everything_is_back_without_ansible():
    names = ["rs-dr", "rs-tun"]
    before = {name: kernel_state(name) for name in names}
    reboot(names)
    check_state()
    check_traffic()
    for name in names:
        labtest.assert_same_state(name, before[name], kernel_state(name))
