# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rebooting a lab's VMs, and rescuing the rare VM that hangs in UML's own reboot."""

from __future__ import annotations

import os
import time

from .common import LabError, log, tail
from .ports import ports_lock
from .ssh import ssh_run
from .state import console_log, read_state, write_state
from .vm import VM, vm_entry


# UML reboots a VM by re-executing itself once the guest has shut down. Very rarely (about one in 20
# scenario runs with reboots, on a loaded host) the process hangs after it has closed its network devices and before the exec: the
# console log ends with "reboot: Restarting system" and the VM never comes back. The guest had finished by
# then (file systems synced and unmounted), so `reboot` kills such a VM and starts it again on the same
# copy-on-write disk, which is what the exec would have done, and says so.
REBOOT_LINE = "reboot: Restarting system"
AFTER_REBOOT_LINES = {"", "vde backend - closing connection"}
REBOOT_HANG_SECONDS = float(os.environ.get("LVS_LAB_REBOOT_HANG", "45"))


def hung_in_reboot(console: str, quiet: float) -> bool:
    """True when the console log ends in UML's reboot and has not grown for QUIET seconds."""
    try:
        with open(console, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - 8192))
            text = fh.read().decode(errors="replace")
            mtime = os.fstat(fh.fileno()).st_mtime
    except OSError:
        return False
    found, after = text.rpartition(REBOOT_LINE)[1:]
    if not found or time.time() - mtime < quiet:
        return False
    return all(line.strip() in AFTER_REBOOT_LINES for line in after.splitlines())


BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


# A VM started again after a hang boots from the start: it gets at least this long to answer ssh.
REVIVE_BOOT_SECONDS = 120


def revive(state: dict, name: str) -> VM:
    """Kill VM NAME, hung in UML's reboot, and start it again with its own command and disk; return it."""
    # Under the lock, and on the state as it is now: `down --stale` must not see the lab between the kill
    # and the new PID, and a lab taken down or started again meanwhile is left alone.
    with ports_lock():
        try:
            current = read_state(state["name"])
        except LabError as exc:
            raise LabError(f"lab {state['name']} was taken down while VM {name} was rebooting") from exc
        entry = vm_entry(current, name)
        if current.get("created") != state.get("created") or entry.get("pid") != vm_entry(state, name).get("pid"):
            raise LabError(f"lab {state['name']} was started again while VM {name} was rebooting; left it alone")
        vm = VM(current, entry, entry["command"])
        vm.kill()
        vm.note(f"{name} hung in UML's reboot; killed it and started it again on the same disk")
        vm.start()
        write_state(current)
    vm_entry(state, name)["pid"] = entry["pid"]
    return vm


def reboot_vms(lab: str, vms: list[str], timeout: float, hang: float) -> list[str]:
    """Reboot the VMS of lab LAB from inside and wait until each answers ssh with a new boot id, within TIMEOUT
    seconds; start a VM again whose console has ended in UML's reboot for HANG seconds. Return those VMs."""
    state = read_state(lab)
    entries = {name: vm_entry(state, name) for name in dict.fromkeys(vms)}
    missing = [name for name, entry in entries.items() if "command" not in entry]
    if missing:
        raise LabError(f"lab {lab} was started by an older lab.py; start it again to reboot {', '.join(missing)}")
    before = {}
    for name, entry in entries.items():
        status, out = ssh_run(state, entry, BOOT_ID)
        if status != 0:
            raise LabError(f"VM {name} does not answer ssh before the reboot: {out}")
        before[name] = out
    for name, entry in entries.items():
        status, out = ssh_run(state, entry, "systemd-run --on-active=1 systemctl reboot")
        if status != 0:
            raise LabError(f"could not reboot VM {name}: {out}")
    start = time.monotonic()
    deadline = start + timeout
    waiting, last, went_down, revived = dict(entries), {}, set(), {}
    while waiting:
        time.sleep(2)
        for name, entry in list(waiting.items()):
            console = console_log(state["dir"], name)
            vm = revived.get(name)
            if vm is not None and vm.proc.poll() is not None:
                raise LabError(f"VM {name} stopped (status {vm.proc.returncode}) after it was started again; "
                               f"the end of its console log:\n{tail(console)}")
            status, out = ssh_run(state, entry, BOOT_ID, timeout=20)
            if status == 0 and out and out != before[name]:
                log(f"VM {name} is back after {time.monotonic() - start:.0f} s")
                del waiting[name]
                continue
            if status != 0:
                went_down.add(name)
            last[name] = f"status {status}: {out or '(no output)'}"
            if vm is None and hung_in_reboot(console, hang):
                log(f"NOTE: VM {name} hung in UML's reboot after the guest had shut down (its console ends with "
                    f"{REBOOT_LINE!r} and nothing for {hang:.0f} s); starting it again on the same disk")
                revived[name] = revive(state, name)
                deadline = max(deadline, time.monotonic() + REVIVE_BOOT_SECONDS)
        if waiting and time.monotonic() > deadline:
            waited = time.monotonic() - start
            raise LabError("\n".join(
                (f"VM {name} did not come back from the reboot within {waited:.0f} s (last ssh: {last[name]})"
                 if name in went_down else
                 f"VM {name} never went down: after {waited:.0f} s it still answers ssh with its old boot id")
                + f"; the end of its console log:\n{tail(console_log(state['dir'], name))}"
                for name in waiting))
    return list(revived)
