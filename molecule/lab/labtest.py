# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the scenarios' testinfra tests share about the lab.

A test puts this directory on sys.path (from MOLECULE_PROJECT_DIRECTORY) and imports it.
"""

import base64
import contextlib
import difflib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings

import lab

LAB_PY = lab.__file__
BOOT_ID = lab.BOOT_ID
TRAFFIC_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traffic.py")


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


class TrafficRun:
    """A run of traffic.py in the background on a VM, as start_traffic started it: its files are BASE.py (the
    script), BASE.started, .stop, .json (the summary) and .log."""

    def __init__(self, host, base):
        self.host = host
        self.base = base

    def path(self, suffix):
        return shlex.quote(self.base + suffix)

    def wait_for(self, suffix, seconds):
        """Shell: wait up to SECONDS for BASE<suffix> (or the summary) and print it; print the log and fail if
        traffic.py wrote one (it writes nothing there unless it failed) or the time is up."""
        return (f"for i in $(seq {int(seconds * 10)}); do for f in {self.path(suffix)} {self.path('.json')}; do "
                f"test -e $f && exec cat $f; done; test -s {self.path('.log')} && break; sleep 0.1; done; "
                f"echo 'traffic.py wrote no {suffix} in {seconds} s; its log:'; cat {self.path('.log')}; exit 1")


def start_traffic(host, url, directory="/tmp", wait=60, **options):
    """Start traffic.py on a testinfra HOST against URL, in the background; return a TrafficRun once traffic flows.

    OPTIONS are traffic.py's, underscores for dashes: rate=20, long_lived=4, hold=8, heartbeat=0.1, timeout=2;
    duration defaults to 300 s here, a bound for a run that stop_traffic never ends. The files of the run are
    DIRECTORY/lvs-traffic.<run id>.*. One ssh command does it all: `ansible -m copy` would take seconds more.
    """
    options.setdefault("duration", 300)
    run = TrafficRun(host, f"{directory}/lvs-traffic.{uuid.uuid4().hex[:12]}")
    with open(TRAFFIC_PY, "rb") as fh:
        script = base64.b64encode(fh.read()).decode()
    args = [f"{run.base}.py", "--url", url, "--stop-file", f"{run.base}.stop", "--started", f"{run.base}.started",
            "--out", f"{run.base}.json"]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    # The script travels in the command (one argument of `sh -c` on the VM: at most 128 KiB), and runs in a
    # session of its own with every descriptor redirected: the ssh command ends and stops nothing.
    started = host.run(f"echo {script} | base64 -d >{run.path('.py')} && "
                       f"{{ setsid nohup python3 {' '.join(shlex.quote(arg) for arg in args)} >{run.path('.log')} 2>&1 </dev/null & }} && "
                       + run.wait_for(".started", wait))
    assert started.rc == 0, f"traffic.py did not start on the VM:\n{started.stdout}{started.stderr}"
    return run


def stop_traffic(run, wait=60):
    """End a run of start_traffic (by its stop file) and return traffic.py's summary (a dict)."""
    done = run.host.run(f"touch {run.path('.stop')} && {run.wait_for('.json', wait)}")
    if done.rc != 0:
        run.host.run(f"kill $(sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p' {run.path('.started')})")
        raise AssertionError(f"traffic.py ended with no summary:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout)


@contextlib.contextmanager
def traffic(host, url, **options):
    """Traffic while the block runs: `with labtest.traffic(host, url, rate=20) as summary:`; the dict
    summary is traffic.py's summary once the block has ended."""
    run = start_traffic(host, url, **options)
    summary = {}
    try:
        yield summary
    finally:
        summary.update(stop_traffic(run))
