# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the scenarios' testinfra tests share about the lab.

A test puts this directory on sys.path (from MOLECULE_PROJECT_DIRECTORY) and imports it.
"""

import difflib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import lab

LAB_PY = lab.__file__
BOOT_ID = lab.BOOT_ID


def assert_same_state(name, before, after, moment="before and after the reboot"):
    """Compare two readings of a VM's state ({what: command output}) taken at two moments (by default before
    and after a reboot); fail with a diff of the first piece that differs."""
    for what in after:
        assert after[what] == before[what], f"{name}: {what} differ {moment}:\n" + "\n".join(
            difflib.unified_diff(before[what].splitlines(), after[what].splitlines(), "before", "after",
                                 lineterm=""))


def run_dir(runner, name):
    """The lab's run directory on this machine (where its ssh key, state and console logs are)."""
    return os.path.dirname(runner.get_variables(name)["ansible_private_key_file"])


def console_log(runner, name):
    return lab.console_log(run_dir(runner, name), name)


def lab_reboot(runner, names, *options):
    """Run `lab.py reboot` on the VMs NAMES of a testinfra AnsibleRunner's lab; return the VMs it started again."""
    lab_name = runner.get_variables(names[0])["lab_name"]
    done = subprocess.run([sys.executable, LAB_PY, "reboot", *options, lab_name, *names], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, f"lab.py reboot {lab_name} {' '.join(names)} failed:\n{done.stderr}"
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("revived ")]


def reboot(runner, names):
    """Reboot the VMs NAMES and wait until they are back.

    `lab.py reboot` reboots them from inside and waits for ssh and a new boot id. It also starts a VM
    again that hung in UML's own reboot; that is reported as a pytest warning, which the summary of the
    run shows. Each VM's new boot id is then read again over testinfra's own connection.
    """
    before = {name: runner.get_host(name).check_output(BOOT_ID) for name in names}
    for name in lab_reboot(runner, names):
        warnings.warn(f"lab.py reboot: {name} hung in UML's reboot and was started again", stacklevel=2)
    for name in names:
        assert runner.get_host(name).check_output(BOOT_ID) != before[name], f"{name} did not boot anew"


# The last line of the guest before the reboot system call, and the first of a UML kernel that started.
GUEST_DONE = b"systemd-shutdown[1]: Rebooting."
REBOOT_LINE = lab.REBOOT_LINE.encode()
NEW_KERNEL = b"Core dump limits"


def reboot_with_a_hang(runner, name, attempts=3):
    """Reboot NAME and make its UML process hang in the reboot, as it very rarely does by itself.

    The UML kernel process is stopped (SIGSTOP) the moment the guest's console says it is rebooting, after its
    file systems are synced and unmounted, and the kernel's own "reboot: Restarting system" is written if
    the stop came before it. Then `lab.py reboot` must find the hang and start the VM again on its disk.
    If the stop came too late (the new kernel was already printing), the VM is let go and that reboot
    counts for nothing. Return the list `lab.py reboot` printed, from the first attempt that stopped it.
    """
    console = console_log(runner, name)
    for _attempt in range(attempts):
        with open(os.path.join(run_dir(runner, name), "state.json"), encoding="utf-8") as fh:
            pid = next(vm["pid"] for vm in json.load(fh)["vms"] if vm["name"] == name)
        offset = os.path.getsize(console)
        stopped = []
        stop = threading.Event()
        watcher = threading.Thread(target=_stop_in_reboot, args=(console, offset, pid, stopped, stop))
        watcher.start()
        try:
            revived = lab_reboot(runner, [name], "--hang", "5")
        finally:
            stop.set()
            watcher.join()
        if stopped:
            return revived
    raise AssertionError(f"could not stop {name} in its reboot in {attempts} attempts")


def _stop_in_reboot(console, offset, pid, stopped, stop):
    seen = b""
    with open(console, "rb") as fh:
        fh.seek(offset)
        while not stop.is_set():
            seen += fh.read()
            if GUEST_DONE in seen:
                # The UML kernel process only: its traced guest processes wait for it, and would take a stop
                # of their own for a fault. lab.py reboot kills the whole group.
                os.kill(pid, signal.SIGSTOP)
                after = (seen + fh.read()).partition(GUEST_DONE)[2]
                if NEW_KERNEL in after:  # too late: the exec had happened
                    os.kill(pid, signal.SIGCONT)
                    return
                if REBOOT_LINE not in after:
                    with open(console, "ab") as out:
                        out.write(REBOOT_LINE + b"\n")
                stopped.append(pid)
                return
            time.sleep(0.001)


def run_playbook(playbook, inventory, *options, timeout=900):
    """Run ansible-playbook as an operator would, with the scenario's ansible.cfg (Molecule's); return the
    finished process (stdout and stderr as text), whatever its exit code."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                           playbook, *options], env=env, capture_output=True, text=True, timeout=timeout, check=False)
