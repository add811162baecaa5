# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run state is per checkout; the build cache and the loopback ports are shared by every checkout."""

import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lvslab import kernel, lifecycle, ports, processes, segments, state, topology  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.common import LabError  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A cache of the test's own; return a function that makes the lab tool belong to checkout NAME."""
    monkeypatch.setenv("LVS_LAB_CACHE", str(tmp_path / "cache"))

    def checkout(name):
        lab_dir = tmp_path / name / "molecule" / "lab"
        lab_dir.mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(state, "LAB_DIR", str(lab_dir))
        return str(tmp_path / name)

    return checkout


def write_lab(rdir, name, ports, files=()):
    os.makedirs(rdir)
    with open(os.path.join(rdir, "state.json"), "w", encoding="utf-8") as fh:
        json.dump({"name": name, "dir": rdir, "files": list(files),
                   "vms": [{"name": f"vm{i}", "port": p} for i, p in enumerate(ports)]}, fh)


def test_two_checkouts_never_share_a_run_directory(cache):
    cache("one")
    one = state.run_dir("smoke"), processes.slirp_marker("smoke")
    cache("two")
    two = state.run_dir("smoke"), processes.slirp_marker("smoke")
    assert one[0] != two[0] and one[1] != two[1]
    cache("one")
    assert (state.run_dir("smoke"), processes.slirp_marker("smoke")) == one


def test_run_state_is_under_the_cache_and_the_build_cache_is_shared(cache):
    cache("one")
    one = kernel.kernel_dir("k"), state.runs_dir()
    cache("two")
    assert kernel.kernel_dir("k") == one[0]
    assert os.path.dirname(state.runs_dir()) == os.path.dirname(one[1]) == state.runs_root()


def test_a_checkout_is_known_by_its_real_path(cache, monkeypatch, tmp_path):
    real = cache("one")
    os.symlink(real, tmp_path / "link")
    key = state.checkout_key()
    monkeypatch.setattr(state, "LAB_DIR", str(tmp_path / "link" / "molecule" / "lab"))
    assert state.checkout_dir() == os.path.realpath(real)
    assert state.checkout_key() == key


def test_the_marker_of_one_lab_is_not_a_prefix_of_another_s(cache):
    cache("one")
    assert processes.slirp_marker("smoke") not in "slirp://" + processes.slirp_marker("smoke2") + "tcpfwd=..."


def test_ports_of_every_checkout_are_taken(cache):
    """Ports are global to the machine: the labs of other checkouts (and of the old layout) hold theirs."""
    cache("two")
    write_lab(state.run_dir("smoke"), "smoke", [22201, 22202])
    cache("one")
    write_lab(state.run_dir("smoke"), "smoke", [22203])
    write_lab(os.path.join(state.runs_root(), "legacy"), "legacy", [22204])
    assert ports.ports_in_use_by_labs(state.run_dir("smoke")) == {22201, 22202, 22204}
    assert ports.ports_in_use_by_labs(state.run_dir("dr")) == {22201, 22202, 22203, 22204}


def test_ports_are_allocated_past_other_checkouts_labs(cache, monkeypatch):
    monkeypatch.setattr(ports, "port_free", lambda port: True)
    cache("two")
    write_lab(state.run_dir("smoke"), "smoke", [ports.PORT_BASE, ports.PORT_BASE + 2])
    cache("one")
    assert ports.allocate_ports(state.run_dir("smoke"), 2) == [ports.PORT_BASE + 1, ports.PORT_BASE + 3]


def test_status_and_stale_see_only_this_checkout_s_labs(cache):
    cache("two")
    write_lab(state.run_dir("dr"), "dr", [22201])
    cache("one")
    write_lab(state.run_dir("smoke"), "smoke", [22202])
    with open(os.path.join(state.runs_dir(), "checkout"), "w", encoding="utf-8") as fh:
        fh.write(state.checkout_dir() + "\n")
    assert state.lab_names() == ["smoke"]


def test_a_file_of_another_lab_is_not_taken_over(cache, tmp_path):
    """Two clones of one directory name share Molecule's ephemeral directory: the second `up` refuses."""
    inventory = str(tmp_path / "ephemeral" / "inventory" / "lab.yml")
    cache("two")
    write_lab(state.run_dir("smoke"), "smoke", [22201], files=[inventory])
    other = state.run_dir("smoke")
    cache("one")
    with pytest.raises(LabError, match=f"{re.escape(inventory)} belongs to the lab smoke in {re.escape(other)}"):
        lifecycle.check_files_unclaimed(state.run_dir("smoke"), [inventory])
    lifecycle.check_files_unclaimed(state.run_dir("smoke"), [str(tmp_path / "mine.yml")])
    cache("two")
    lifecycle.check_files_unclaimed(state.run_dir("smoke"), [inventory])  # its own lab, which `up` replaces


def test_a_socket_path_too_long_is_refused_before_anything_starts():
    vms = topology.normalise_topology([{"name": "a" * 24, "interfaces": [{"segment": "s" * 24}]}], "test")
    # The default cache of root, a checkout, a name of 16 characters: fits.
    segments.check_socket_paths("/root/.cache/lvs-ipvs-lab/run/0123456789ab/" + "n" * 16, vms)
    with pytest.raises(LabError, match="too long for UNIX sockets"):
        segments.check_socket_paths("/" + "d" * 80, vms)


def test_the_demo_has_a_lab_of_its_own():
    """The demo is a Molecule scenario of its own, whose lab (named after it) and Molecule files no test shares."""
    with open(os.path.join(REPO, "tools", "demo.sh"), encoding="utf-8") as fh:
        script = fh.read()
    name = re.search(r"^scenario=(\S+)$", script, re.M).group(1)
    assert state.LAB_NAME_RE.fullmatch(name)
    assert os.path.exists(os.path.join(REPO, "molecule", name, "molecule.yml"))
    assert "export MOLECULE_EPHEMERAL_DIRECTORY=" in script and "LVS_LAB_NAME" not in script
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as fh:
        scenarios = next(line for line in fh if line.startswith("SCENARIOS ?=")).split()[2:]
    assert scenarios and name not in scenarios
