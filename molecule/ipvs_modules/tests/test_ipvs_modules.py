# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What converge leaves on each director, read with the kernel's own tools and with ipvs_info."""

import json
import os


INVENTORY = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
# One director per supported Debian release; the ansible backend, so that the collection's modules
# can be run on them too.
RELEASES = {"director12": ("12", "bookworm"), "director13": ("13", "trixie")}
testinfra_hosts = ["ansible://%s?ansible_inventory=%s" % (name, INVENTORY) for name in RELEASES]


def test_each_director_runs_its_debian_release(host):
    release = dict(line.split("=", 1) for line in host.file("/etc/os-release").content_string.splitlines()
                   if "=" in line)
    expected = RELEASES[host.backend.get_hostname()]
    assert (release["VERSION_ID"].strip('"'), release["VERSION_CODENAME"]) == expected
    assert host.ansible.get_variables()["lab_image"] == expected[1]


FINAL_RULES = sorted([
    "-A -u 192.0.2.20:5060 -s wlc",
    "-a -u 192.0.2.20:5060 -r 10.10.0.41:5070 -m -w 1",
    "-a -u 192.0.2.20:5060 -r [fd00:10::43]:5060 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
])


def test_ipvsadm_reads_the_final_table(host):
    rules = sorted(line.strip() for line in host.check_output("ipvsadm -Sn").splitlines() if line.strip())
    assert rules == FINAL_RULES


def test_proc_shows_the_same_table(host):
    proc = " ".join(host.check_output("cat /proc/net/ip_vs").split())
    # 192.0.2.20:5060 and 10.10.0.41:5070 in the kernel's hexadecimal notation
    assert "UDP C0000214:13C4 wlc" in proc
    assert "-> 0A0A0029:13CE Masq 1 0 0" in proc


def test_ipvs_info_agrees_and_a_rerun_changes_nothing(host):
    info = host.ansible("lvs.ipvs.ipvs_info", "statistics=false", check=False, become=False)
    assert info["loaded"] is True
    services = info["services"]
    assert [(s["protocol"], s["vip"], s["port"], s["scheduler"]) for s in services] == [("udp", "192.0.2.20", 5060, "wlc")]
    reals = services[0]["real_servers"]
    assert [(r["address"], r["port"], r["forwarding"], r["tunnel_type"]) for r in reals] == [
        ("10.10.0.41", 5070, "nat", None), ("fd00:10::43", 5060, "tun", "gue")]
    table = host.ansible("lvs.ipvs.ipvs_table", json.dumps({
        "services": [{"vip": "192.0.2.20", "protocol": "udp", "port": 5060, "forwarding": "nat",
                      "real_servers": [{"address": "10.10.0.41", "port": 5070},
                                       {"address": "fd00:10::43", "forwarding": "tun", "tunnel_type": "gue",
                                        "tunnel_port": 6080, "tunnel_checksum": "csum"}]}],
        "purge": True}), check=True, become=False)
    assert table["changed"] is False and table["operations"] == []


def test_the_drain_service_is_gone(host):
    assert "10.98.0.10" not in host.check_output("ipvsadm -Ln")
