# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where labs keep their run state: one directory per checkout under the cache, one per lab in it.

The kernel and image cache is shared by every checkout; run directories are not, so two checkouts never
find, replace or kill each other's labs, even of the same name."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re

from .common import LAB_DIR, LabError, cache_dir, sha, write_file


LAB_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def checkout_dir() -> str:
    """The checkout (work tree) this lab tool belongs to."""
    return os.path.realpath(os.path.join(LAB_DIR, "..", ".."))


def checkout_key() -> str:
    """A short name for this checkout: labs of two checkouts never share a run directory, even of one name."""
    return sha("checkout", checkout_dir())[:12]


def runs_root() -> str:
    """The run directories of every checkout, one directory per checkout (the ports they hold are global)."""
    return os.path.join(cache_dir(), "run")


def runs_dir() -> str:
    """The run directories of this checkout's labs."""
    return os.path.join(runs_root(), checkout_key())


def lab_names() -> list[str]:
    """The names of this checkout's labs (running, or left by a killed run)."""
    top = runs_dir()
    names = os.listdir(top) if os.path.isdir(top) else []
    return sorted(n for n in names if LAB_NAME_RE.fullmatch(n) and os.path.isdir(os.path.join(top, n)))


def all_run_dirs() -> list[str]:
    """The run directory of every lab of every checkout that has a state file (including labs of the old
    layout, run/<name>/, whose ports may still be in use)."""
    found = []
    for pattern in ("*/*/state.json", "*/state.json"):
        found += [os.path.dirname(p) for p in glob.glob(os.path.join(glob.escape(runs_root()), pattern))]
    return sorted(found)


def all_lab_states() -> list[tuple[str, dict]]:
    """The run directory and state of every lab of every checkout whose state file can be read."""
    found = []
    for rdir in all_run_dirs():
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(rdir, "state.json")) as fh:
                found.append((rdir, json.load(fh)))
    return found


def run_dir(name: str) -> str:
    if not LAB_NAME_RE.fullmatch(name):
        raise LabError(f"{name!r} is not a lab name: 1-32 characters, lower case letters, digits, '_' and '-', "
                       "starting with a letter")
    return os.path.join(runs_dir(), name)


def write_state(state: dict) -> None:
    write_file(os.path.join(state["dir"], "state.json"), json.dumps(state, indent=2) + "\n")


def read_state(name: str) -> dict:
    try:
        with open(os.path.join(run_dir(name), "state.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise LabError(f"lab {name} is not running (no {run_dir(name)}/state.json)") from exc


def console_log(rdir: str, vm: str) -> str:
    """Where a VM of the lab in run directory RDIR writes its console."""
    return os.path.join(rdir, f"{vm}.console.log")
