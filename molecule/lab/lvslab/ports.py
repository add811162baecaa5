# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VMs' ssh ports on 127.0.0.1: global to the machine, so allocated across every checkout's labs."""

from __future__ import annotations

import contextlib
import os
import socket

from .common import LabError, cache_dir, locked
from .state import all_lab_states


PORT_BASE = int(os.environ.get("LVS_LAB_PORT_BASE", "22200"))
PORT_LIMIT = PORT_BASE + 2000


def ports_lock():
    """The one lock, for every checkout, held while a lab takes ports or its VMs' processes change."""
    return locked(os.path.join(cache_dir(), "ports.lock"))


def ports_in_use_by_labs(exclude: str) -> set[int]:
    """The ports the labs of every checkout hold, but the lab in run directory EXCLUDE."""
    used: set[int] = set()
    for rdir, state in all_lab_states():
        if rdir == exclude:
            continue
        with contextlib.suppress(KeyError, TypeError):
            used.update(vm["port"] for vm in state["vms"])
    return used


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(rdir: str, count: int) -> list[int]:
    """COUNT free loopback ports not claimed by another lab of any checkout (call with the ports lock held)."""
    taken = ports_in_use_by_labs(rdir)
    ports = []
    for port in range(PORT_BASE, PORT_LIMIT):
        if port not in taken and port_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise LabError(f"no free ports between {PORT_BASE} and {PORT_LIMIT} (set LVS_LAB_PORT_BASE)")
