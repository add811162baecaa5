# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Debian mirror comes from LVS_LAB_MIRROR or the host's own apt sources, never from anywhere else."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lvslab import image, mirror  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.common import LabError  # noqa: E402  pylint: disable=wrong-import-position

# Hosts of the reserved .example domain: no test names a real mirror.
MIRROR = "http://mirror.example/debian"
OTHER = "http://other.example/debian"

DEB822 = f"""\
# A comment before the first stanza.
Types: deb-src
URIs: {OTHER}
Suites: bookworm
Components: main

Types: deb
URIs: {OTHER}-security
Suites: bookworm-security
Components: main

Types: deb
URIs: {OTHER}
Suites: bookworm
Components: main
Enabled: no

types: deb deb-src
uris: {MIRROR}
  {OTHER}
suites: bookworm bookworm-updates
components: contrib
 main non-free-firmware
"""

ONE_LINE = f"""\
# deb {OTHER} bookworm main
deb-src {OTHER} bookworm main
deb {OTHER} bookworm-updates main
deb {OTHER} bookworm contrib
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} bookworm main contrib
deb {OTHER} bookworm main
"""


@pytest.fixture
def apt(monkeypatch, tmp_path):
    """An empty /etc/apt of the test's own; return a function that writes a file into it."""
    monkeypatch.delenv("LVS_LAB_MIRROR", raising=False)
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    monkeypatch.setattr(mirror, "APT_SOURCES", str(tmp_path / "sources.list"))
    monkeypatch.setattr(mirror, "APT_SOURCES_DIR", str(parts))

    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_the_mirror_of_a_deb822_sources_file(apt):
    apt("sources.list.d/debian.sources", DEB822)
    assert mirror.apt_mirror(image.DEFAULT_RELEASE) == MIRROR


def test_the_mirror_of_a_one_line_sources_list(apt):
    apt("sources.list", ONE_LINE)
    assert mirror.apt_mirror(image.DEFAULT_RELEASE) == MIRROR


def test_sources_list_comes_first_then_the_parts_in_order(apt):
    apt("sources.list.d/b.list", f"deb {OTHER} bookworm main\n")
    apt("sources.list.d/a.sources", f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm\nComponents: main\n")
    assert mirror.apt_mirror(image.DEFAULT_RELEASE) == MIRROR
    apt("sources.list", f"deb {OTHER}/first bookworm main\n")
    assert mirror.apt_mirror(image.DEFAULT_RELEASE) == f"{OTHER}/first"


def test_files_apt_does_not_read_are_not_read(apt):
    apt("sources.list.d/debian.sources.disabled", DEB822)
    apt("sources.list.d/debian.list.save", ONE_LINE)
    with pytest.raises(LabError):
        mirror.apt_mirror(image.DEFAULT_RELEASE)


def test_no_mirror_names_the_files_it_looked_at(apt):
    apt("sources.list", f"deb {OTHER} trixie main\n")
    sources = apt("sources.list.d/debian.sources", DEB822.replace("bookworm", "trixie"))
    apt("sources.list.d/old.list.disabled", ONE_LINE)
    with pytest.raises(LabError) as error:
        mirror.apt_mirror(image.DEFAULT_RELEASE)
    message = str(error.value)
    assert "no Debian bookworm mirror" in message
    assert f"looked at {mirror.APT_SOURCES}, {sources}." in message
    assert "LVS_LAB_MIRROR" in message
    assert "old.list.disabled" not in message


def test_no_apt_sources_at_all(apt):
    with pytest.raises(LabError, match=r"looked at .*/sources\.list\. Set LVS_LAB_MIRROR"):
        mirror.apt_mirror(image.DEFAULT_RELEASE)


def test_lvs_lab_mirror_wins(apt, monkeypatch):
    apt("sources.list", ONE_LINE)
    monkeypatch.setenv("LVS_LAB_MIRROR", OTHER)
    assert mirror.apt_mirror(image.DEFAULT_RELEASE) == OTHER


def test_a_release_the_host_does_not_list_comes_from_the_host_s_mirror_of_another(apt):
    """A host lists its own release only; the Debian mirror it uses serves trixie as well."""
    apt("sources.list.d/debian.sources", DEB822)
    assert image.release_mirror("trixie") == image.release_mirror("bookworm") == MIRROR


def test_a_release_the_host_lists_comes_from_its_own_source(apt):
    apt("sources.list", f"deb {OTHER} bookworm main\ndeb {MIRROR} trixie main\n")
    assert image.release_mirror("trixie") == MIRROR
    assert image.release_mirror("bookworm") == OTHER


def test_no_mirror_of_any_release_names_every_suite_it_looked_for(apt):
    apt("sources.list", f"deb {OTHER} sid main\n")
    with pytest.raises(LabError, match=r"no Debian trixie mirror \(a `deb` source of the suite trixie or bookworm "):
        image.release_mirror("trixie")


def test_the_lab_names_no_mirror_of_its_own():
    """The mirror is the host's (or the user's): the lab's code holds no URL to fall back on (the licence
    header's aside)."""
    lab_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    package = os.path.join(lab_dir, "lvslab")
    paths = [os.path.join(lab_dir, "lab.py")] + [os.path.join(package, n) for n in os.listdir(package) if n.endswith(".py")]
    urls = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            urls += [f"{path}: {line}" for line in fh
                     if re.search(r"\b(?:https?|ftp)://", line) and not line.startswith("# GNU General Public License")]
    assert len(paths) > 10 and not urls
