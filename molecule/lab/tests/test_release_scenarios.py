# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scenarios that run another scenario on another Debian release: what they take from it, and that
make test runs them."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lvslab import image  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MOLECULE = os.path.join(REPO, "molecule")
# A scenario NAME_RELEASE runs scenario NAME on another release: its molecule.yml only adds `image:`.
RELEASE_SCENARIOS = sorted(
    (name, name.rsplit("_", 1)[0], name.rsplit("_", 1)[1]) for name in os.listdir(MOLECULE)
    if "_" in name and name.rsplit("_", 1)[1] in image.RELEASES[1:])


def scenario(name):
    import yaml  # pylint: disable=import-outside-toplevel

    with open(os.path.join(MOLECULE, name, "molecule.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolved(name, config, section, key, default):
    """The file or directory a scenario's molecule.yml names (relative to its own directory), or its default."""
    return os.path.normpath(os.path.join(MOLECULE, name, config.get(section, {}).get(key, default)))


def test_there_are_scenarios_on_trixie():
    assert [(base, release) for _name, base, release in RELEASE_SCENARIOS] == [
        ("ipvs_modules", "trixie"), ("nat", "trixie")]


@pytest.mark.parametrize(("name", "base", "release"), RELEASE_SCENARIOS)
def test_a_release_scenario_is_its_base_scenario_on_that_release(name, base, release):
    """Everything but the image comes from the base scenario: its topology and model (the same, which this test
    keeps so), its playbooks and tests (by relative path); nothing else is in its directory."""
    ours, theirs = scenario(name), scenario(base)
    assert [vm.get("image") for vm in ours["platforms"]] == [release] * len(theirs["platforms"])
    assert [{k: v for k, v in vm.items() if k != "image"} for vm in ours["platforms"]] == theirs["platforms"]
    for section in ("provisioner", "scenario", "driver", "dependency"):
        assert ours.get(section) == theirs.get(section), section
    for playbook in ("prepare", "converge", "side_effect", "verify", "cleanup"):
        paths = {resolved(n, c.get("ansible", {}), "playbooks", playbook, f"{playbook}.yml")
                 for n, c in ((name, ours), (base, theirs))}
        assert len(paths) == 1 or not any(os.path.exists(p) for p in paths), (playbook, paths)
    assert resolved(name, ours, "verifier", "directory", "tests") == \
        resolved(base, theirs, "verifier", "directory", "tests")
    assert sorted(os.listdir(os.path.join(MOLECULE, name))) == ["molecule.yml"]


def test_make_test_runs_the_release_scenarios():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as fh:
        line = next(line for line in fh if line.startswith("SCENARIOS ?="))
    for name, base, _release in RELEASE_SCENARIOS:
        assert name in line.split() and base in line.split()
