# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the scenarios' testinfra tests share about the lab.

A test puts this directory on sys.path (from MOLECULE_PROJECT_DIRECTORY) and imports it.
"""

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
    """A run of traffic.py in the background on a VM, as start_traffic started it."""

    def __init__(self, host, base):
        self.host = host
        self.base = base  # its files: BASE.started, .stop, .json, .log

    def wait_for(self, suffixes, seconds):
        """Whether one of the run's files BASE<suffix> exists within SECONDS (one command on the VM)."""
        exists = " || ".join(f"test -e {shlex.quote(self.base + suffix)}" for suffix in suffixes)
        return self.host.run(f"for i in $(seq {int(seconds * 10)}); do {exists} && exit 0; sleep 0.1; done; exit 1").rc == 0

    def read(self, suffix):
        return self.host.run(f"cat {shlex.quote(self.base + suffix)}").stdout


def start_traffic(host, url, directory="/tmp", wait=60, **options):
    """Start traffic.py on a testinfra HOST against URL, in the background; return a TrafficRun once traffic flows.

    OPTIONS are traffic.py's, underscores for dashes: rate=20, long_lived=4, hold=8, heartbeat=0.1, timeout=2;
    duration defaults to 300 s here, a bound for a run that stop_traffic never ends. The script is copied to
    DIRECTORY/lvs-traffic.py, and the run's files are DIRECTORY/lvs-traffic.<run id>.*.
    """
    options.setdefault("duration", 300)
    run = TrafficRun(host, f"{directory}/lvs-traffic.{uuid.uuid4().hex[:12]}")
    tool = f"{directory}/lvs-traffic.py"
    host.ansible("copy", f"src={TRAFFIC_PY} dest={tool} mode=0644", check=False)
    args = ["python3", tool, "--url", url, "--stop-file", f"{run.base}.stop", "--started", f"{run.base}.started",
            "--out", f"{run.base}.json"]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    command = " ".join(shlex.quote(arg) for arg in args)
    log = shlex.quote(f"{run.base}.log")
    # Its own session, every descriptor redirected: the ssh command returns at once and its end stops nothing.
    started = host.run(f"setsid nohup {command} >{log} 2>&1 </dev/null &")
    assert started.rc == 0, f"could not start traffic.py: {started.stderr}"
    assert run.wait_for([".started", ".json"], wait), f"traffic.py did not start in {wait} s:\n{run.read('.log')}"
    return run


def stop_traffic(run, wait=60):
    """End a run of start_traffic (by its stop file) and return traffic.py's summary (a dict)."""
    run.host.run(f"touch {shlex.quote(run.base + '.stop')}")
    if not run.wait_for([".json"], wait):
        log = run.read(".log")
        with contextlib.suppress(ValueError, KeyError):
            run.host.run(f"kill {int(json.loads(run.read('.started'))['pid'])}")
        raise AssertionError(f"traffic.py wrote no summary in {wait} s after its stop file:\n{log}")
    return json.loads(run.read(".json"))


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
