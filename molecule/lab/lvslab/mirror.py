# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Debian mirror of the VMs' packages: LVS_LAB_MIRROR, else the host's own apt sources, nothing else."""

from __future__ import annotations

import os

from .common import LabError


APT_SOURCES = "/etc/apt/sources.list"
APT_SOURCES_DIR = "/etc/apt/sources.list.d"


def apt_source_files() -> list[str]:
    """The files apt reads its sources from, in apt's order: sources.list, then sources.list.d/*.list and
    *.sources (apt ignores other names there, such as *.save or *.disabled)."""
    names = sorted(os.listdir(APT_SOURCES_DIR)) if os.path.isdir(APT_SOURCES_DIR) else []
    return [APT_SOURCES] + [os.path.join(APT_SOURCES_DIR, n) for n in names if n.endswith((".list", ".sources"))]


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a deb822 file as {lower-case field: value}, comments dropped, continuations joined."""
    stanzas: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    field = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                stanzas.append(fields)
            fields, field = {}, None
        elif line[0] in " \t" and field:
            fields[field] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            fields[field] = value.strip()
    return stanzas


def mirror_in(path: str, text: str, release: str) -> str | None:
    """The first mirror in an apt sources file that serves RELEASE itself (not -updates or -security) with
    its main component, or None."""
    if path.endswith(".sources"):
        for stanza in deb822_stanzas(text):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" in stanza.get("types", "").split() and release in stanza.get("suites", "").split() \
                    and "main" in stanza.get("components", "").split():
                uris = [u for u in stanza.get("uris", "").split() if not u.startswith("cdrom:")]
                if uris:
                    return uris[0]
        return None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3 and words[1] == release and "main" in words[2:] and not words[0].startswith("cdrom:"):
            return words[0]
    return None


def apt_mirror(release: str, others: tuple[str, ...] = ()) -> str:
    """The Debian mirror of RELEASE: $LVS_LAB_MIRROR, else the host's own mirror of RELEASE from its apt sources,
    else the host's mirror of the first of OTHERS (other Debian releases) it has: a Debian mirror serves every
    release, while a host usually lists its own release only."""
    if os.environ.get("LVS_LAB_MIRROR"):
        return os.environ["LVS_LAB_MIRROR"]
    paths = apt_source_files()
    texts = []
    for path in paths:
        try:
            with open(path) as fh:
                texts.append((path, fh.read()))
        except OSError:
            continue
    suites = [release] + [r for r in others if r != release]
    for suite in suites:
        for path, text in texts:
            mirror = mirror_in(path, text, suite)
            if mirror:
                return mirror
    wanted = " or ".join(suites)
    raise LabError(f"no Debian {release} mirror (a `deb` source of the suite {wanted} with the main component) "
                   f"in the host's apt sources; looked at {', '.join(paths)}. "
                   "Set LVS_LAB_MIRROR to the URL of a Debian mirror")
