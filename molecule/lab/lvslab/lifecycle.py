# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Starting a lab (up) and removing it and everything it left (down)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from .common import LabError, log, write_file
from .image import RELEASES, build_image, image_path
from .inventory import ANSIBLE_CFG, make_instance_config, make_inventory
from .kernel import lab_kernel
from .ports import allocate_ports, ports_lock
from .processes import kill_lab_processes, lab_processes
from .segments import check_socket_paths
from .state import all_lab_states, checkout_dir, lab_names, read_state, run_dir, runs_dir, write_state
from .topology import load_topology
from .vm import start_lab, wait_for_ssh


def check_files_unclaimed(rdir: str, files: list[str]) -> None:
    """Refuse to write FILES (inventory, instance config) when another lab, of this checkout or another,
    wrote them: two Molecule runs that share an ephemeral directory would otherwise test each other's VMs."""
    for other, state in all_lab_states():
        if other == rdir:
            continue
        with contextlib.suppress(KeyError, TypeError):
            shared = sorted(set(files) & set(state["files"]))
            if shared:
                raise LabError(f"{', '.join(shared)} belongs to the lab {state['name']} in {other}: two Molecule "
                               "runs share an ephemeral directory (Molecule names it after the checkout's "
                               "directory name and the scenario only). Set MOLECULE_EPHEMERAL_DIRECTORY for one "
                               f"of them, or remove that lab first (`lab.py down {state['name']}` in its checkout)")


def up(name: str, topology: str, *, inventory: str | None = None, instance_config: str | None = None,
       timeout: float = 240, no_build: bool = False, keep: bool = False) -> str:
    """Start lab NAME from the TOPOLOGY file and wait until every VM answers ssh; write its state, inventory and
    ansible.cfg into its run directory and the inventory and Molecule's INSTANCE_CONFIG where asked. Return
    the path of the inventory in the run directory."""
    start = time.monotonic()
    rdir = run_dir(name)
    vms = load_topology(topology)
    check_socket_paths(rdir, vms)
    kernel = lab_kernel(build=not no_build)
    # Only the images of the releases the VMs run: a lab of the default release never waits for another's.
    images = {}
    for release in (r for r in RELEASES if any(vm["image"] == r for vm in vms)):
        images[release] = build_image(kernel, release) if not no_build else image_path(kernel, release)
        if not os.path.exists(images[release]):
            raise LabError(f"the lab image of {release} is not built yet: run `python3 molecule/lab/lab.py build`")
    # Under the lock until the VMs run and their PIDs are in state.json: another lab's `up` does not
    # take these ports, and `down --stale` does not take this lab for a dead one.
    with ports_lock():
        # Files written outside the run directory, listed before they exist so that down removes them.
        files = [os.path.abspath(p) for p in (inventory, instance_config) if p]
        check_files_unclaimed(rdir, files)
        # A lab of the same name, running or left by a killed run, goes first.
        if os.path.exists(rdir) or lab_processes(name):
            log(f"removing the previous lab {name}")
            down(name)
        os.makedirs(os.path.join(rdir, "uml"))
        write_file(os.path.join(runs_dir(), "checkout"), checkout_dir() + "\n")
        ports = allocate_ports(rdir, len(vms))
        state = {
            "name": name, "dir": rdir, "key": os.path.join(rdir, "id_ed25519"), "kernel": kernel.binary,
            "release": kernel.release, "images": images, "created": time.time(),
            "files": files,
            "segments": sorted({i["segment"] for vm in vms for i in vm["interfaces"]}),
            "vms": [{"name": vm["name"], "port": port, "image": vm["image"]} for vm, port in zip(vms, ports)],
        }
        write_state(state)
        try:
            machines = start_lab(state, vms, kernel, images)
        except BaseException:
            if not keep:
                down(name)
            raise
    try:
        wait_for_ssh(state, machines, timeout)
        text = make_inventory(state, vms)
        write_file(os.path.join(rdir, "inventory.yml"), text)
        write_file(os.path.join(rdir, "ansible.cfg"), ANSIBLE_CFG.format(dir=rdir))
        if inventory:
            write_file(inventory, text)
        if instance_config:
            write_file(instance_config, make_instance_config(state))
    except BaseException:
        if not keep:
            down(name)
        raise
    log(f"lab {name}: {len(vms)} VMs answer ssh after {time.monotonic() - start:.1f} s; "
        f"try: ANSIBLE_CONFIG={rdir}/ansible.cfg ansible lab -m ping")
    return os.path.join(rdir, "inventory.yml")


def down(name: str) -> None:
    """Stop lab NAME and remove its processes, run directory and the files it wrote elsewhere."""
    rdir = run_dir(name)
    files = []
    with contextlib.suppress(LabError):
        files = read_state(name).get("files", [])
    killed = kill_lab_processes(name)
    keep_logs = os.environ.get("LVS_LAB_LOG_DIR")
    if keep_logs and os.path.isdir(rdir):
        # Opt-in, for CI: the console logs outlive the lab (everything else goes).
        dest = os.path.join(keep_logs, name)
        os.makedirs(dest, exist_ok=True)
        for entry in os.listdir(rdir):
            if entry.endswith(".console.log"):
                shutil.copy2(os.path.join(rdir, entry), os.path.join(dest, entry))
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    shutil.rmtree(rdir, ignore_errors=True)
    if os.path.exists(rdir):
        raise LabError(f"could not remove {rdir}")
    if killed:
        log(f"lab {name}: stopped {killed} processes")


def lab_vm_running(name: str) -> bool:
    """True while some VM of lab NAME still runs."""
    try:
        pids = {vm.get("pid") for vm in read_state(name)["vms"]}
    except (LabError, KeyError):
        pids = set()
    return bool(pids & set(lab_processes(name)))


def down_labs(names: list[str], stale: bool = False) -> None:
    """Take the labs NAMES down and, with STALE, every lab of this checkout none of whose VMs still runs."""
    if not names and not stale:
        raise LabError("name a lab (or use --stale)")
    with ports_lock():
        names = list(names)
        if stale:
            # Only labs none of whose VMs runs any more: never someone else's live lab. Decided under
            # the lock, which `up` holds from making a run directory until its VMs' PIDs are in
            # state.json, so a lab being started is never taken for a dead one.
            names += [n for n in lab_names() if n not in names and not lab_vm_running(n)]
        for name in names:
            down(name)
