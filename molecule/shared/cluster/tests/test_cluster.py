"""What an LVS operator checks on a cluster built by playbooks/site.yml, with real traffic.

The scenario's inventory says what to expect: the first service of lvs_virtual_services gives
the VIP, the port, the forwarding method and the weights; every check reads the kernel or the
real servers' logs independently of what the roles reported.
"""

import collections
import os
import re
import sys
import time

import testinfra.utils.ansible_runner

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "lab"))
import labtest  # noqa: E402  pylint: disable=wrong-import-position

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))
DIRECTOR = RUNNER.get_hosts("lvs_directors")[0]
CLIENT = RUNNER.get_hosts("clients")[0]
VARS = RUNNER.get_variables(DIRECTOR)
SERVICE = VARS["lvs_virtual_services"][0]
VIP, PORT, METHOD = SERVICE["vip"], SERVICE["port"], SERVICE["forwarding"]
WEIGHTS = {rs["host"]: rs.get("weight", 1) for rs in SERVICE["real_servers"]}
REQUESTS = 10 * sum(WEIGHTS.values())  # whole rounds of the weighted scheduler
TOLERANCE = 0.1  # of the requests, per real server


def host(name):
    return RUNNER.get_host(name)


def requests_through_vip(count):
    """Send count requests from the client to the VIP, one connection each; return who answered."""
    out = host(CLIENT).check_output(
        f"for i in $(seq {count}); do curl -sS --max-time 5 http://{VIP}:{PORT}/ || echo FAILED; echo; done")
    return collections.Counter(line for line in out.splitlines() if line)


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


def test_fullnat_real_servers_have_no_route_to_the_client():
    if METHOD != "fullnat":
        return
    client_address = RUNNER.get_variables(CLIENT)["lvs_address"]
    for name in WEIGHTS:
        assert host(name).run(f"ip route get {client_address}").rc != 0, f"{name} has a route to the client"


def test_fullnat_source_nat_uses_the_chosen_backend():
    if METHOD != "fullnat":
        return
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


def test_cluster_serves_again_after_a_reboot_without_ansible():
    first_real_server = sorted(WEIGHTS)[0]
    labtest.reboot(RUNNER, [DIRECTOR, first_real_server])
    # The units the roles installed bring the table, VIPs and real server set-up back.
    deadline = time.monotonic() + 60
    while True:
        answered = requests_through_vip(2 * sum(WEIGHTS.values()))
        if answered["FAILED"] == 0 and set(answered) == set(WEIGHTS) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert answered["FAILED"] == 0, answered
    assert set(answered) == set(WEIGHTS), answered
