# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of the lab uses: its errors, log, commands, locks, hashes and files."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import subprocess
import sys


# molecule/lab: the kernel configuration, the image's files and the lab tool itself.
LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LabError(Exception):
    """An error with a message a person can act on."""


def cache_dir() -> str:
    return os.environ.get("LVS_LAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lvs-ipvs-lab")


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    check = kw.pop("check", True)
    try:
        return subprocess.run(cmd, check=check, **kw)
    except FileNotFoundError as exc:
        raise LabError(f"{cmd[0]} is not installed; install the host packages listed in requirements/apt.txt") from exc
    except subprocess.CalledProcessError as exc:
        raise LabError(f"command failed with status {exc.returncode}: {shlex.join(cmd)}") from exc


@contextlib.contextmanager
def locked(path: str):
    """Hold an exclusive lock on PATH (created if missing) for the duration of the block."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no console log)"


def write_file(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)
