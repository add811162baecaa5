"""Changes to a live cluster through playbooks/site.yml, with the client sending requests all along.

A wrong model must change nothing on any host; a planned change (a real server or a whole service
leaving, a real server joining, new weights) must fail no request and cut no connection: the
directors drain what leaves before removing it, and the real servers lose their set-up only after.
The client runs molecule/lab/traffic.py: a steady stream of new requests and a few long-lived
connections that exchange a request every 100 ms and close after a few seconds, as a client would.

The last change puts the scenario's own model back, and the table is then what it was at the start.
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
    CLIENT, DIRECTOR, INVENTORY, METHOD, MODEL, REAL_SERVERS, RUNNER, VIP, WEIGHTS, host, labtest, model,
    requests_through_vip, site_playbook, url, whole_state)

pytestmark = pytest.mark.skipif(
    METHOD not in ("dr", "nat"),
    reason=f"the order of a change is shown where it differs, in the dr and nat scenarios, not with {METHOD}")
only_dr = pytest.mark.skipif(METHOD != "dr", reason="does not depend on the forwarding method: the dr scenario shows it")

EVERY_HOST = [DIRECTOR, *REAL_SERVERS]
LEAVING = sorted(WEIGHTS)[-1]  # the real server with the most weight in the scenarios
STAYING = sorted(WEIGHTS)[0]
# A request fails when no reply comes within 10 s: a dropped connection never gets one, while a lab VM that
# a busy host stops for a few seconds (4 scenarios share 2 cores in make test) still answers.
TRAFFIC = {"rate": 5, "long_lived": 3, "hold": 5, "heartbeat": 0.2, "timeout": 10, "duration": 1500}


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
    sticky["real_servers"].append({"address": RUNNER.get_variables(STAYING)["lvs_address"]})  # a duplicate
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
    variables = RUNNER.get_variables(name)
    addresses = {variables["lvs_address"]}
    for interface in variables.get("lab_interfaces") or []:
        addresses.update(entry.split("/")[0] for entry in interface.get("addresses") or [])
    for service in services:
        service["real_servers"] = [rs for rs in service["real_servers"]
                                   if rs.get("host") != name and rs.get("address") not in addresses]
    return services


# The scenario's services on the first service's VIP: the others leave in the first change.
ON_THE_VIP = [service["name"] for service in MODEL if service.get("vip") == VIP]
TABLE_AT_START = {}


def on_the_vip():
    return [service for service in model() if service["name"] in ON_THE_VIP]


@only_dr
def test_a_whole_service_and_its_vip_leave_and_the_others_fail_no_request():
    TABLE_AT_START["lines"] = sorted(host(DIRECTOR).check_output("ipvsadm -Sn").splitlines())
    leaving = [service for service in MODEL if service["name"] not in ON_THE_VIP]
    assert leaving, "the scenario has no service on another VIP"
    summary = change_under_traffic(on_the_vip())
    assert_nothing_failed(summary)
    table = host(DIRECTOR).check_output("ipvsadm -Sn")
    director_addresses = host(DIRECTOR).check_output("ip -br address show")
    for service in leaving:
        assert service["vip"] not in table, table
        assert f" {service['vip']}/" not in director_addresses, director_addresses
        for name in REAL_SERVERS:
            assert f" {service['vip']}/" not in host(name).check_output("ip -br address show dev lo"), name


def test_a_real_server_leaves_without_a_failed_request_or_a_cut_connection():
    TABLE_AT_START.setdefault("lines", sorted(host(DIRECTOR).check_output("ipvsadm -Sn").splitlines()))
    before = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert before[LEAVING] > 0, before
    changed = without(on_the_vip(), LEAVING)
    changed[0]["real_servers"][0]["weight"] = 2  # and the one that stays gets another weight
    summary = change_under_traffic(changed)
    assert_nothing_failed(summary)
    # Long-lived connections were open on the leaving real server, and ended as the client closed them.
    assert summary["long_lived"]["servers"].get(LEAVING, 0) > 0, summary["long_lived"]
    address = RUNNER.get_variables(LEAVING)["lvs_address"]
    table = host(DIRECTOR).check_output("ipvsadm -Sn")
    assert f" -r {address}:" not in table, table
    answered = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert set(answered) == {STAYING}, answered
    if METHOD == "dr":
        # The real server took the VIP down after the director stopped sending to it.
        assert f" {VIP}/32" not in host(LEAVING).check_output("ip -br address show dev lo")
    else:
        gateway = RUNNER.get_variables(LEAVING)["real_server_nat_gateway"]
        assert f"via {gateway}" not in host(LEAVING).check_output("ip -4 route show default")


def test_a_real_server_joins_and_weights_change_back_without_a_failed_request():
    # The scenario's own model again: the real server joins, the other's weight changes back, and in dr
    # the service on the other VIP comes back.
    summary = change_under_traffic(model())
    assert_nothing_failed(summary)
    assert sorted(host(DIRECTOR).check_output("ipvsadm -Sn").splitlines()) == TABLE_AT_START["lines"]
    answered = requests_through_vip(2 * sum(WEIGHTS.values()))
    assert answered["FAILED"] == 0 and set(answered) == set(WEIGHTS), answered
