# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ssh to the lab's VMs, through their forwarders on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess


def ssh_base(state: dict, vm: dict) -> list[str]:
    return [
        "ssh", "-p", str(vm["port"]), "-i", state["key"], "-l", "root",
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
        "127.0.0.1",
    ]


def ssh_banner(port: int) -> bool:
    """True when sshd answers on the port (slirp accepts at once and closes if the guest does not)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(3)
            return s.recv(4) == b"SSH-"
    except OSError:
        return False


def ssh_run(state: dict, entry: dict, command: str, timeout: float = 30) -> tuple[int, str]:
    """Run COMMAND on a VM; return its status (255 when ssh failed, -1 on timeout) and its output: stdout
    when it succeeded, else what it said on stderr (or stdout)."""
    try:
        res = subprocess.run(ssh_base(state, entry) + [command], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return -1, f"no answer within {timeout:.0f} s"
    return res.returncode, (res.stdout if res.returncode == 0 else res.stderr or res.stdout).strip()
