# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab's data segments: one userspace switch (vde_switch) each, UNIX sockets in the run directory."""

from __future__ import annotations

import os

from .common import LabError, run


def switch_socket(rdir: str, segment: str) -> str:
    """The socket directory of a segment's switch in the lab's run directory RDIR."""
    return os.path.join(rdir, f"sw-{segment}")


def start_switches(state: dict) -> None:
    """Start a vde_switch for every segment of the lab; only the lab's user can reach it."""
    rdir = state["dir"]
    for segment in state["segments"]:
        sock = switch_socket(rdir, segment)
        run(["vde_switch", "-d", "-s", sock, "-m", "0600", "--dirmode", "0700",
             "-p", os.path.join(rdir, f"sw-{segment}.pid")])
        if not os.path.exists(os.path.join(sock, "ctl")):
            raise LabError(f"vde_switch for segment {segment} did not create {sock}/ctl")


# The longest path a UNIX socket can have (sun_path, less its NUL).
SOCKET_PATH_MAX = 107


def check_socket_paths(rdir: str, vms: list[dict]) -> None:
    """Fail before anything starts when a socket of the lab would not fit in a UNIX socket address."""
    # A switch's clients bind sockets named .<pid>-<n> in its directory (pid_max is at most 7 digits).
    paths = [os.path.join(switch_socket(rdir, i["segment"]), f".{0:07d}-{0:05d}") for vm in vms for i in vm["interfaces"]]
    paths += [f"{rdir}/uml/{vm['name']}/mconsole" for vm in vms]
    longest = max(paths, key=len)
    if len(longest) > SOCKET_PATH_MAX:
        raise LabError(f"the lab's sockets would be too long for UNIX sockets ({longest}, {len(longest)} > "
                       f"{SOCKET_PATH_MAX} characters): use a shorter lab or segment name, or a shorter LVS_LAB_CACHE")
