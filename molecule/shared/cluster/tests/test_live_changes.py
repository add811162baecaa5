"""Changes to a live cluster through playbooks/site.yml, with the client sending requests all along.

A wrong model must change nothing on any host; a planned change (a real server or a whole service
leaving, a real server joining, new weights) must fail no request and cut no connection: the
directors drain what leaves before removing it, and the real servers lose their set-up only after.
The client runs molecule/lab/traffic.py: a steady stream of new requests and a few long-lived
connections that exchange a request every 100 ms and close after a few seconds, as a client would.

The scenario's model is put back when the module's tests are done.
"""

import json
import os
import shutil
import sys
import tempfile
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from clusterlib import (  # noqa: E402  pylint: disable=wrong-import-position
    CLIENT, DIRECTOR, INVENTORY, METHOD, MODEL, REAL_SERVERS, VIP, WEIGHTS, host, labtest, model,
    requests_through_vip, site_playbook, url, whole_state)

pytestmark = pytest.mark.skipif(
    METHOD not in ("dr", "nat"),
    reason=f"the order of a change is shown where it differs, in the dr and nat scenarios, not with {METHOD}")
only_dr = pytest.mark.skipif(METHOD != "dr", reason="does not depend on the forwarding method: the dr scenario shows it")

EVERY_HOST = [DIRECTOR, *REAL_SERVERS]
LEAVING = sorted(WEIGHTS)[-1]  # the real server with the most weight in the scenarios
STAYING = sorted(WEIGHTS)[0]
TRAFFIC = {"rate": 10, "long_lived": 3, "hold": 5, "heartbeat": 0.1, "timeout": 3, "duration": 600}


@pytest.fixture(scope="module", autouse=True)
def scenario_model_put_back():
    yield
    site_playbook()


def with_model(services):
    return ("-e", json.dumps({"lvs_virtual_services": services}))


def change_under_traffic(services):
    """Apply SERVICES with site.yml while the client sends requests through the first service's VIP;
    return the traffic summary."""
    handle = labtest.start_traffic(host(CLIENT), url(), **TRAFFIC)
    try:
        time.sleep(3)  # traffic reaches every real server before the change
        site_playbook(*with_model(services))
        time.sleep(2)
    finally:
        summary = labtest.stop_traffic(handle)
    return summary


def assert_nothing_failed(summary):
    assert summary["requests"] > 0 and summary["failed"] == 0, summary
    long_lived = summary["long_lived"]
    assert long_lived["opened"] >= TRAFFIC["long_lived"] and long_lived["broken"] == 0, long_lived


@only_dr
def test_a_wrong_model_changes_nothing_on_any_host():
    wrong = model()
    wrong[0]["real_servers"][-1] = {"host": "rs3", "weight": 3}  # a typo of rs2: no such host
    sticky = next(service for service in wrong if service["name"] == "sticky")
    sticky["real_servers"].append({"address": host(STAYING).ansible.get_variables()["lvs_address"]})  # a duplicate
    before = {name: whole_state(name) for name in EVERY_HOST}
    for check in ((), ("--check", "--diff")):
        out = site_playbook(*with_model(wrong), *check, expect_success=False)
        assert "lvs_virtual_services has 2 problem(s); no host was changed" in out, out[-3000:]
        assert "Virtual service web, real server rs3 is not in the inventory: fix the host name" in out, out[-3000:]
        assert "Virtual service sticky lists real server " in out and " twice " in out, out[-3000:]
        assert "argument_spec" not in out, out[-3000:]
    for name in EVERY_HOST:
        labtest.assert_same_state(name, before[name], whole_state(name), "before and after a refused run")


@only_dr
def test_a_director_that_does_not_see_the_model_keeps_its_table():
    # The model set only for the real servers, as in the group_vars of their group.
    inventory = tempfile.mkdtemp(prefix="lvs-inventory-")
    try:
        shutil.copytree(INVENTORY, inventory, dirs_exist_ok=True)
        group_vars = os.path.join(inventory, "group_vars")
        with open(os.path.join(group_vars, "all"), encoding="utf-8") as handle:
            everyone = yaml.safe_load(handle)
        services = everyone.pop("lvs_virtual_services")
        with open(os.path.join(group_vars, "all"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(everyone, handle)
        with open(os.path.join(group_vars, "lvs_real_servers"), encoding="utf-8") as handle:
            real_servers = yaml.safe_load(handle) or {}
        real_servers["lvs_virtual_services"] = services
        with open(os.path.join(group_vars, "lvs_real_servers"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(real_servers, handle)
        before = whole_state(DIRECTOR)
        out = site_playbook(inventory=inventory, expect_success=False)
        assert f"lvs_virtual_services is not defined for {DIRECTOR}" in out, out[-3000:]
        labtest.assert_same_state(DIRECTOR, before, whole_state(DIRECTOR), "before and after a refused run")
    finally:
        shutil.rmtree(inventory)


def without(services, name):
    """SERVICES with the real server NAME (by host, or by its address) left out of every service."""
    address = host(name).ansible.get_variables()["lvs_address"]
    addresses = {address}
    for interface in host(name).ansible.get_variables().get("lab_interfaces") or []:
        addresses.update(entry.split("/")[0] for entry in interface.get("addresses") or [])
    for service in services:
        service["real_servers"] = [rs for rs in service["real_servers"]
                                   if rs.get("host") != name and rs.get("address") not in addresses]
    return services


def test_a_real_server_leaves_without_a_failed_request_or_a_cut_connection():
    before = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert before[LEAVING] > 0, before
    summary = change_under_traffic(without(model(), LEAVING))
    assert_nothing_failed(summary)
    # Long-lived connections were open on the leaving real server, and ended as the client closed them.
    assert summary["long_lived"]["servers"].get(LEAVING, 0) > 0, summary["long_lived"]
    address = host(LEAVING).ansible.get_variables()["lvs_address"]
    table = host(DIRECTOR).check_output("ipvsadm -Sn")
    assert f" -r {address}:" not in table, table
    answered = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert set(answered) == {STAYING}, answered
    if METHOD == "dr":
        # The real server took the VIP down after the director stopped sending to it.
        assert f" {VIP}/32" not in host(LEAVING).check_output("ip -br address show dev lo")
    else:
        gateway = host(LEAVING).ansible.get_variables()["real_server_nat_gateway"]
        assert f"via {gateway}" not in host(LEAVING).check_output("ip -4 route show default")


def test_a_real_server_joins_and_weights_change_without_a_failed_request():
    changed = model()
    for real_server in changed[0]["real_servers"]:
        real_server["weight"] = 4 - real_server.get("weight", 1)  # 1 and 3 swap
    summary = change_under_traffic(changed)
    assert_nothing_failed(summary)
    table = host(DIRECTOR).check_output("ipvsadm -Ln")
    for real_server in changed[0]["real_servers"]:
        address = host(real_server["host"]).ansible.get_variables()["lvs_address"]
        assert any(address in line and line.split()[-3] == str(real_server["weight"]) for line in table.splitlines()), table
    answered = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert answered["FAILED"] == 0 and set(answered) == set(WEIGHTS), answered


@only_dr
def test_a_whole_service_and_its_vip_leave_and_the_others_fail_no_request():
    leaving = next(service for service in MODEL if service["vip"] != VIP)
    summary = change_under_traffic([service for service in model() if service["name"] != leaving["name"]])
    assert_nothing_failed(summary)
    assert leaving["vip"] not in host(DIRECTOR).check_output("ipvsadm -Sn")
    assert f" {leaving['vip']}/" not in host(DIRECTOR).check_output("ip -br address show")
    for name in REAL_SERVERS:
        assert f" {leaving['vip']}/" not in host(name).check_output("ip -br address show dev lo"), name
