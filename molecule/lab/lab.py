# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lvs.ipvs VM lab: User-Mode Linux VMs with a real IPVS kernel on userspace networks.

Commands (run as root):
  lab.py build [RELEASE...]          build (or reuse) the UML kernel and the base images (of every release)
  lab.py up NAME TOPOLOGY.yml        start a lab, wait for ssh, write state and inventory
  lab.py down NAME... [--stale]      stop labs and remove everything they left
  lab.py status [NAME]               show labs and their VMs
  lab.py ssh NAME VM [COMMAND...]    ssh into a VM of a lab
  lab.py reboot NAME VM...           reboot VMs, wait until they are back (and rescue UML's rare reboot hang)
  lab.py inventory NAME              print the Ansible inventory of a lab
  lab.py prune                       remove cached kernels and images nothing uses any more

Everything lives under ${LVS_LAB_CACHE:-$HOME/.cache/lvs-ipvs-lab}:
  kernel/<key>/         the built kernel (linux), its modules and config, shared by every checkout
  image/<key>.img       a base image (read-only backing file of every VM), one per Debian release
                        (bookworm, the default, and trixie: a VM's `image:`), shared by every checkout
  run/<checkout>/<NAME>/  one directory per running lab of this checkout (<checkout> is a hash of its
                        path): sockets, copy-on-write disks, logs, ssh key
The code is the package lvslab next to this file, one module per concern; this file is its command line.
Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import os
import sys

from lvslab import image, lifecycle, prune, reboot
from lvslab.common import LabError
from lvslab.image import DEFAULT_RELEASE
from lvslab.processes import lab_processes
from lvslab.reboot import BOOT_ID, REBOOT_HANG_SECONDS, REBOOT_LINE
from lvslab.ssh import ssh_banner, ssh_base
from lvslab.state import console_log, lab_names, read_state, run_dir
from lvslab.vm import vm_entry

# What the scenarios' tests take from here (molecule/lab/labtest.py).
__all__ = ["BOOT_ID", "REBOOT_LINE", "LabError", "console_log", "main"]


def cmd_build(args: argparse.Namespace) -> None:
    kernel, images = image.build(args.jobs, tuple(args.releases) or image.RELEASES)
    print(f"kernel: {kernel.binary} ({kernel.release})")
    for release, path in images.items():
        print(f"image:  {path} ({release})")


def cmd_up(args: argparse.Namespace) -> None:
    print(lifecycle.up(args.name, args.topology, inventory=args.inventory, instance_config=args.instance_config,
                       timeout=args.timeout, no_build=args.no_build, keep=args.keep))


def cmd_down(args: argparse.Namespace) -> None:
    lifecycle.down_labs(args.names, stale=args.stale)


def cmd_reboot(args: argparse.Namespace) -> None:
    for name in reboot.reboot_vms(args.name, args.vms, args.timeout, args.hang):
        print(f"revived {name}")


def cmd_status(args: argparse.Namespace) -> None:
    names = args.names or lab_names()
    if not names:
        print("no labs")
        return
    for name in names:
        try:
            state = read_state(name)
        except LabError:
            print(f"{name}: no state (left by a killed run? `lab.py down {name}` removes it)")
            continue
        procs = lab_processes(name)
        print(f"{name}: {len(state['vms'])} VMs, segments {', '.join(state['segments']) or '-'}, "
              f"{len(procs)} processes, kernel {state['release']}, dir {state['dir']}")
        for vm in state["vms"]:
            alive = vm.get("pid") in procs
            ssh = "ssh ok" if alive and ssh_banner(vm["port"]) else "no ssh"
            print(f"  {vm['name']:<24} 127.0.0.1:{vm['port']:<6} {vm.get('image', DEFAULT_RELEASE):<9} "
                  f"{'running' if alive else 'stopped':<8} {ssh}")


def cmd_ssh(args: argparse.Namespace) -> None:
    state = read_state(args.name)
    cmd = ssh_base(state, vm_entry(state, args.vm))
    if not args.command:
        cmd.insert(1, "-t")
    os.execvp("ssh", cmd + args.command)


def cmd_inventory(args: argparse.Namespace) -> None:
    read_state(args.name)
    sys.stdout.write(open(os.path.join(run_dir(args.name), "inventory.yml")).read())


def cmd_prune(args: argparse.Namespace) -> None:
    """Remove cached kernels, root file systems and images that neither the current build nor a running lab uses."""
    prune.prune()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="build (or reuse) the kernel and the base images")
    p.add_argument("releases", nargs="*", metavar="release",
                   help=f"only the images of these Debian releases (default: all, {', '.join(image.RELEASES)})")
    p.add_argument("-j", "--jobs", type=int, default=0, help="parallel compile jobs (default: CPU count)")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("up", help="start a lab from a topology file")
    p.add_argument("name", help="lab name (own run directory, ports and VMs)")
    p.add_argument("topology", help="YAML file with `vms:` or Molecule's `platforms:`")
    p.add_argument("--inventory", help="also write the Ansible inventory to this path (removed by down)")
    p.add_argument("--instance-config", help="also write Molecule's instance config to this path (removed by down)")
    p.add_argument("--timeout", type=float, default=float(os.environ.get("LVS_LAB_BOOT_TIMEOUT", "240")),
                   help="seconds to wait for ssh on every VM (default 240)")
    p.add_argument("--no-build", action="store_true", help="fail instead of building a missing kernel or image")
    p.add_argument("--keep", action="store_true", help="keep the VMs when start-up fails (for debugging)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop labs and remove everything they left")
    p.add_argument("names", nargs="*")
    p.add_argument("--stale", action="store_true",
                   help="also every lab whose VMs have all stopped (left by a killed run)")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="show labs and their VMs")
    p.add_argument("names", nargs="*")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("ssh", help="log in to (or run a command on) a VM")
    p.add_argument("name")
    p.add_argument("vm")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ssh)
    p = sub.add_parser("reboot", help="reboot VMs and wait until they are back")
    p.add_argument("name")
    p.add_argument("vms", nargs="+", metavar="vm")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds to wait for every VM to answer ssh with a new boot id (default 300)")
    p.add_argument("--hang", type=float, default=REBOOT_HANG_SECONDS,
                   help="seconds of silence after UML's 'Restarting system' before the VM is started again "
                        "(default 45, or LVS_LAB_REBOOT_HANG)")
    p.set_defaults(func=cmd_reboot)
    p = sub.add_parser("prune", help="remove cached kernels and images that are no longer used")
    p.set_defaults(func=cmd_prune)
    p = sub.add_parser("inventory", help="print the Ansible inventory of a lab")
    p.add_argument("name")
    p.set_defaults(func=cmd_inventory)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
