# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab's VMs: their UML command lines, their processes, and booting them until they answer ssh."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

from .common import LabError, log, run, tail
from .kernel import Kernel
from .ports import ports_lock
from .processes import lab_processes, process_groups, slirp_marker
from .segments import start_switches, switch_socket
from .ssh import ssh_banner, ssh_run
from .state import console_log, write_state
from .topology import MGMT_ADDRESS, MGMT_PREFIX


def vm_command(kernel: Kernel, image: str, rdir: str, lab: str, vm: dict, port: int, pubkey: str) -> list[str]:
    mgmt = (f"slirp://{slirp_marker(lab)}tcpfwd=127.0.0.1:{port}:{MGMT_ADDRESS}:22"
            "/disable_host_loopback/v4")
    cmd = [
        kernel.binary,
        f"umid={vm['name']}",
        f"uml_dir={rdir}/uml",
        f"mem={vm['memory']}M",
        f"ubd0={rdir}/{vm['name']}.cow,{image}",
        "root=/dev/ubda", "rw",
        "con=null", "con0=null,fd:1", "ssl=null",
        f"eth0=vde,{mgmt},52:54:00:{vm['index']:02x}:00:01",
    ]
    for iface in vm["interfaces"]:
        cmd.append(f"eth{iface['device'][3:]}=vde,{switch_socket(rdir, iface['segment'])},{iface['mac']}")
    cmd += [
        f"systemd.hostname={vm['name']}", f"lab.name={vm['name']}", f"lab.key={pubkey}",
        f"lab.if=eth0,{MGMT_ADDRESS}/{MGMT_PREFIX}",
    ]
    for iface in vm["interfaces"]:
        cmd.append("lab.if=" + ",".join([iface["device"]] + [str(a) for a in iface["addresses"]]))
    for route in vm["routes"]:
        cmd.append(f"lab.route={route['device']},{route['to']},{route['via']}")
    return cmd


# A UML kernel very rarely stalls early in its boot (seen once in some 30 boots on a loaded host, while
# mounting its root file system). A VM whose console log has not grown for this long and that does not
# answer ssh yet is started again, at most BOOT_RETRIES times.
STALL_SECONDS = float(os.environ.get("LVS_LAB_STALL_TIMEOUT", "60"))
BOOT_RETRIES = 2


class VM:
    """One VM process of a lab being started."""

    def __init__(self, state: dict, entry: dict, command: list[str]) -> None:
        self.state = state
        self.entry = entry
        self.name = entry["name"]
        self.command = command
        self.console = console_log(state["dir"], self.name)
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.size = -1
        self.changed = time.monotonic()

    def start(self) -> None:
        with open(self.console, "ab") as console:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=console,
                                         stderr=subprocess.STDOUT, cwd=self.state["dir"], start_new_session=True)
        self.entry["pid"] = self.proc.pid
        self.changed = time.monotonic()

    def kill(self) -> None:
        """SIGKILL the VM's whole process group (if it is still this lab's), wait until it is gone, and
        remove its UML run files."""
        pid = self.entry.get("pid")
        if self.proc is not None or pid in lab_processes(self.state["name"]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait()
            deadline = time.monotonic() + 10
            while any(pgid == pid for pgid in process_groups().values()):
                if time.monotonic() > deadline:
                    raise LabError(f"the processes of VM {self.name} (process group {pid}) would not die")
                time.sleep(0.1)
        shutil.rmtree(os.path.join(self.state["dir"], "uml", self.name), ignore_errors=True)

    def note(self, text: str) -> None:
        """Leave a line in the VM's console log, so that the log tells what the lab did to it."""
        with open(self.console, "a") as console:
            console.write(f"\n===== lab.py: {text}\n")

    def restart(self) -> None:
        """Kill the VM and boot it again on a fresh copy-on-write disk."""
        self.kill()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.state["dir"], f"{self.name}.cow"))
        self.note(f"no console output for {STALL_SECONDS:.0f} s, starting {self.name} again")
        self.restarts += 1
        log(f"VM {self.name} stalled while booting; starting it again ({self.restarts}/{BOOT_RETRIES})")
        self.start()
        self.size = -1

    def stalled(self) -> bool:
        try:
            size = os.path.getsize(self.console)
        except OSError:
            size = 0
        now = time.monotonic()
        if size != self.size:
            self.size, self.changed = size, now
        return now - self.changed > STALL_SECONDS


def vm_entry(state: dict, name: str) -> dict:
    entry = next((v for v in state["vms"] if v["name"] == name), None)
    if entry is None:
        raise LabError(f"lab {state['name']} has no VM {name} (it has {', '.join(v['name'] for v in state['vms'])})")
    return entry


def wait_for_ssh(state: dict, vms: list[VM], timeout: float) -> None:
    pending = {vm.name: vm for vm in vms}
    ports = {entry["name"]: entry["port"] for entry in state["vms"]}
    deadline = time.monotonic() + timeout
    while pending:
        for name, vm in list(pending.items()):
            if vm.proc.poll() is not None:
                raise LabError(f"VM {name} of lab {state['name']} stopped (status {vm.proc.returncode}) "
                               f"before it answered ssh; the end of {vm.console}:\n{tail(vm.console)}")
            if ssh_banner(ports[name]) and ssh_run(state, vm.entry, "true")[0] == 0:
                del pending[name]
                continue
            if vm.stalled() and vm.restarts < BOOT_RETRIES:
                # Under the lock: `down --stale` must not see the lab between the kill and the new PID.
                with ports_lock():
                    vm.restart()
                    write_state(state)
        if not pending:
            return
        if time.monotonic() > deadline:
            lines = []
            for name, vm in pending.items():
                lines.append(f"VM {name} did not answer ssh on 127.0.0.1:{ports[name]} within {timeout:.0f} s; "
                             f"the end of {vm.console}:\n{tail(vm.console)}")
            raise LabError("\n".join(lines))
        time.sleep(0.5)


def start_lab(state: dict, vms: list[dict], kernel: Kernel, images: dict[str, str]) -> list[VM]:
    """Make the lab's ssh key, start its switches and its VMs, each on the image of its release (IMAGES:
    {release: path}); return the VMs."""
    rdir = state["dir"]
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lvslab-{state['name']}", "-f", state["key"]],
        stdout=subprocess.DEVNULL)
    with open(state["key"] + ".pub") as fh:
        pubkey = fh.read().split()[1]
    start_switches(state)
    for vm, entry in zip(vms, state["vms"]):
        # Kept in the state, for `reboot` to start a VM again exactly as it was started.
        entry["command"] = vm_command(kernel, images[vm["image"]], rdir, state["name"], vm, entry["port"], pubkey)
    machines = [VM(state, entry, entry["command"]) for entry in state["vms"]]
    for machine in machines:
        machine.start()
    write_state(state)
    return machines
