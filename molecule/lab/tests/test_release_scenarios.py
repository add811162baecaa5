# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every Debian release the lab has images of is tested by `make test`: the IPVS modules on a director of each
release, and a cluster scenario with a director and a real server of each."""

import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lvslab import image  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MOLECULE = os.path.join(REPO, "molecule")
CLUSTER_TESTS = "../shared/cluster/tests"


def make_test_scenarios():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as fh:
        line = next(line for line in fh if line.startswith("SCENARIOS ?="))
    return line.split("=", 1)[1].split()


def scenario(name):
    with open(os.path.join(MOLECULE, name, "molecule.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def releases_of(config, group):
    return {vm.get("image", image.DEFAULT_RELEASE) for vm in config["platforms"] if group in vm["groups"]}


@pytest.mark.parametrize("release", image.RELEASES)
def test_the_ipvs_modules_run_on_a_director_of_each_release(release):
    assert "ipvs_modules" in make_test_scenarios()
    assert release in releases_of(scenario("ipvs_modules"), "directors")


@pytest.mark.parametrize("release", image.RELEASES)
def test_a_cluster_scenario_has_a_director_and_a_real_server_of_each_release(release):
    clusters = [scenario(name) for name in make_test_scenarios()
                if scenario(name).get("verifier", {}).get("directory") == CLUSTER_TESTS]
    assert any(release in releases_of(config, "lvs_directors") and release in releases_of(config, "lvs_real_servers")
               for config in clusters)
