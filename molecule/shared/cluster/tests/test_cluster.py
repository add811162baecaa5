"""What an LVS operator checks on a cluster built by playbooks/site.yml, with real traffic.

The scenario's inventory says what to expect (see clusterlib); every check reads the kernel or the
real servers' logs independently of what the roles reported.
"""

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from clusterlib import (  # noqa: E402  pylint: disable=wrong-import-position
    CLIENT, DIRECTOR, METHOD, MODEL, PORT, RUNNER, SERVICE, VARS, VIP, WEIGHTS, host, kernel_state, labtest,
    requests_through_vip, site_playbook)

REQUESTS = 10 * sum(WEIGHTS.values())  # whole rounds of the weighted scheduler
TOLERANCE = 0.1  # of the requests, per real server


def service_stats():
    """Conns, InPkts and OutPkts of the service, from the director's kernel."""
    out = host(DIRECTOR).check_output(f"ipvsadm -Ln --stats --exact -t {VIP}:{PORT}")
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] in ("TCP", "UDP", "SCTP"):
            return {"conns": int(fields[2]), "in": int(fields[3]), "out": int(fields[4])}
    raise AssertionError(f"service {VIP}:{PORT} is not in the director's table:\n{out}")


def service_stats_after(before, packets_in):
    """service_stats once the kernel counts at least packets_in more incoming packets than before.

    The counters IPVS exports are refreshed by its rate estimator (every 2 s on Linux 6.1), not
    per packet, so a read right after the traffic can miss its last packets. Gives up after 15 s
    and returns what it read last."""
    deadline = time.monotonic() + 15
    while True:
        after = service_stats()
        if after["in"] - before["in"] >= packets_in or time.monotonic() > deadline:
            return after
        time.sleep(1)


# The Debian release of each lab image, as /etc/os-release names it.
CODENAMES = {"bookworm": "12", "trixie": "13"}


@pytest.mark.parametrize("name", RUNNER.get_hosts("all"))
def test_each_host_runs_the_debian_release_its_topology_gives(name):
    release = dict(line.split("=", 1) for line in host(name).file("/etc/os-release").content_string.splitlines()
                   if "=" in line)
    image = RUNNER.get_variables(name)["lab_image"]
    assert (release["VERSION_CODENAME"], release["VERSION_ID"].strip('"')) == (image, CODENAMES[image])


def test_table_matches_the_model():
    out = host(DIRECTOR).check_output(f"ipvsadm -Ln -t {VIP}:{PORT}")
    flag = {"nat": "Masq", "fullnat": "Masq", "dr": "Route", "tun": "Tunnel"}[METHOD]
    for name, weight in WEIGHTS.items():
        address = RUNNER.get_variables(name)["lvs_address"]
        rs_port = next(rs.get("port", PORT) for rs in SERVICE["real_servers"] if rs["host"] == name)
        assert re.search(rf"-> {re.escape(address)}:{rs_port}\s+{flag}\s+{weight}\s", out), out


def test_requests_spread_in_proportion_to_the_weights():
    for name in WEIGHTS:
        host(name).run_test("truncate -s 0 /var/log/nginx/lvs-access.log")
    answered = requests_through_vip(REQUESTS)
    assert answered["FAILED"] == 0, answered
    assert set(answered) == set(WEIGHTS), answered
    total = sum(WEIGHTS.values())
    for name, weight in WEIGHTS.items():
        expected = REQUESTS * weight / total
        assert abs(answered[name] - expected) <= TOLERANCE * REQUESTS, (name, answered, WEIGHTS)


def test_real_servers_see_the_expected_client_address():
    if METHOD == "fullnat":
        expected = set(VARS["director_snat_addresses"])
    else:
        expected = {RUNNER.get_variables(CLIENT)["lvs_address"]}
    for name in WEIGHTS:
        log = host(name).check_output("cat /var/log/nginx/lvs-access.log").splitlines()
        assert log, f"{name} logged no request"
        sources = {line.split()[0] for line in log}
        assert sources <= expected, (name, sources, expected)


IPV6_SERVICES = [service for service in MODEL if ":" in service.get("vip", "")]


@pytest.mark.skipif(not IPV6_SERVICES, reason="the scenario has no IPv6 service")
def test_ipv6_services_answer_from_every_real_server():
    for service in IPV6_SERVICES:
        answered = requests_through_vip(4 * len(service["real_servers"]), service["vip"], service["port"])
        assert answered["FAILED"] == 0, (service["name"], answered)
        assert len(answered) == len(service["real_servers"]), (service["name"], answered)


only_fullnat = pytest.mark.skipif(METHOD != "fullnat", reason=f"the scenario's first service uses {METHOD}, not fullnat")


@only_fullnat
def test_fullnat_real_servers_have_no_route_to_the_client():
    client_address = RUNNER.get_variables(CLIENT)["lvs_address"]
    for name in WEIGHTS:
        assert host(name).run(f"ip route get {client_address}").rc != 0, f"{name} has a route to the client"


@only_fullnat
def test_fullnat_source_nat_uses_the_chosen_backend():
    director = host(DIRECTOR)
    snat = VARS["director_snat_addresses"][0]
    nft = director.run("nft list table inet lvs_fullnat")
    iptables = director.run("iptables -t nat -S LVS-FULLNAT")
    if VARS["director_snat_backend"] == "nftables":
        assert nft.rc == 0 and f"snat ip to {snat}" in nft.stdout, nft.stdout
        assert iptables.rc != 0, iptables.stdout
    else:
        assert iptables.rc == 0 and f"--to-source {snat}" in iptables.stdout, iptables.stdout
        assert nft.rc != 0, nft.stdout
    assert director.check_output("sysctl -n net.ipv4.vs.conntrack") == "1"


def test_replies_pass_the_director_only_for_nat_and_fullnat():
    before = service_stats()
    answered = requests_through_vip(8)
    assert answered["FAILED"] == 0, answered
    after = service_stats_after(before, 8 * 3)
    assert after["conns"] > before["conns"]
    assert after["in"] - before["in"] >= 8 * 3  # at least SYN, ACK and the request of each
    if METHOD in ("nat", "fullnat"):
        assert after["out"] - before["out"] >= 8, (before, after)
    else:
        assert after["out"] == before["out"] == 0, (before, after)


HAND_MADE = f"-A -t {VIP}:9999 -s rr"


@pytest.mark.skipif(METHOD != "dr", reason="the purge does not depend on the forwarding method: the dr scenario shows it")
def test_purge_keeps_a_service_added_by_hand_unless_told_to_remove_it():
    director = host(DIRECTOR)
    director.run_test(f"ipvsadm {HAND_MADE}")
    try:
        site_playbook("--limit", "lvs_directors")
        assert HAND_MADE in director.check_output("ipvsadm -Sn").splitlines()
        site_playbook("--limit", "lvs_directors", "-e", "director_purge_scope=all")
        assert f"{VIP}:9999" not in director.check_output("ipvsadm -Sn")
    finally:
        director.run(f"ipvsadm -D -t {VIP}:9999 2>/dev/null || true")
    requests = requests_through_vip(sum(WEIGHTS.values()))
    assert requests["FAILED"] == 0, requests


def test_cluster_serves_again_after_a_reboot_without_ansible():
    first_real_server = sorted(WEIGHTS)[0]
    rebooted = [DIRECTOR, first_real_server]
    before = {name: kernel_state(name) for name in rebooted}
    labtest.reboot(RUNNER, rebooted)
    # The units the roles installed bring the table, VIPs and real server set-up back.
    deadline = time.monotonic() + 60
    while True:
        answered = requests_through_vip(2 * sum(WEIGHTS.values()))
        if answered["FAILED"] == 0 and set(answered) == set(WEIGHTS) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert answered["FAILED"] == 0, answered
    assert set(answered) == set(WEIGHTS), answered
    # Boot state is exactly the state applied live: the same table, byte for byte, and the same
    # addresses, rules, routes and sysctls.
    for name in rebooted:
        labtest.assert_same_state(name, before[name], kernel_state(name))
