# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab's processes, found from /proc (so also when its state is lost), and how they are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from .common import LabError
from .state import checkout_key, run_dir


def slirp_marker(name: str) -> str:
    """A word in every management forwarder's command line that names its lab (and checkout)."""
    return f"/hostname=lvslab.{checkout_key()}.{name}/"


LAB_PROGRAMS = {"linux", "linux.uml", "vde_switch", "vde_plug"}


def lab_processes(name: str) -> list[int]:
    """PIDs of every process of lab NAME, found from /proc, so a lab whose state was lost is still found.

    A process belongs to the lab when it runs a program the lab starts (a UML kernel, vde_switch, vde_plug)
    and its command line names the lab's run directory (VMs, switches) or carries the lab's slirp marker
    (the management forwarders UML starts), or when it is in the process group of such a process (UML's
    helper processes). Other programs that merely name the run directory (an editor, `tail -f`) are left alone.
    """
    rdir = run_dir(name) + "/"
    marker = slirp_marker(name)
    me = os.getpid()
    procs: dict[int, int] = {}
    matched: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[pid] = int(fields[2])  # process group
        if rdir in cmdline or marker in cmdline:
            try:
                program = os.path.basename(os.readlink(f"/proc/{pid}/exe")).split(" ")[0]
            except OSError:
                program = ""
            if program in LAB_PROGRAMS:
                matched.add(pid)
    groups = {procs[p] for p in matched if procs[p] > 1}
    return sorted(matched | {p for p, g in procs.items() if g in groups})


def kill_lab_processes(name: str, timeout: float = 10.0) -> int:
    """SIGKILL every process of the lab and wait until they are gone; return how many there were."""
    pids = lab_processes(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = lab_processes(name)
        if not left:
            return len(pids)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    raise LabError(f"processes of lab {name} would not die: {lab_processes(name)}")


def process_groups() -> dict[int, int]:
    groups = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
                groups[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[2])
    return groups
