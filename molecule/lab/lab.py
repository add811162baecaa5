# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lvs.ipvs VM lab: User-Mode Linux VMs with a real IPVS kernel on userspace networks.

Commands (run as root):
  lab.py build                       build (or reuse) the UML kernel and the base image
  lab.py up NAME TOPOLOGY.yml        start a lab, wait for ssh, write state and inventory
  lab.py down NAME... [--stale]      stop labs and remove everything they left
  lab.py status [NAME]               show labs and their VMs
  lab.py ssh NAME VM [COMMAND...]    ssh into a VM of a lab
  lab.py reboot NAME VM...           reboot VMs, wait until they are back (and rescue UML's rare reboot hang)
  lab.py inventory NAME              print the Ansible inventory of a lab
  lab.py prune                       remove cached kernels and images nothing uses any more

Everything lives under ${LVS_LAB_CACHE:-$HOME/.cache/lvs-ipvs-lab}:
  kernel/<key>/         the built kernel (linux), its modules and config, shared by every checkout
  image/<key>.img       the base image (read-only backing file of every VM), shared by every checkout
  run/<checkout>/<NAME>/  one directory per running lab of this checkout (<checkout> is a hash of its
                        path): sockets, copy-on-write disks, logs, ssh key
Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import glob
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
FRAGMENT = os.path.join(LAB_DIR, "kernel.config")
IMAGE_FILES = os.path.join(LAB_DIR, "image")
KERNEL_SOURCE_PACKAGE = "linux-source-6.1"
KERNEL_SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz"
# Bump when the build procedure changes in a way that changes the result.
KERNEL_RECIPE = "1"
ROOTFS_RECIPE = "1"
# 2: the image's own depmod indexes the kernel modules.
IMAGE_RECIPE = "2"


Kernel = collections.namedtuple("Kernel", "key binary modules release")


class LabError(Exception):
    """An error with a message a person can act on."""


def cache_dir() -> str:
    return os.environ.get("LVS_LAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lvs-ipvs-lab")


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    check = kw.pop("check", True)
    try:
        return subprocess.run(cmd, check=check, **kw)
    except FileNotFoundError as exc:
        raise LabError(f"{cmd[0]} is not installed; install the host packages listed in requirements/apt.txt") from exc
    except subprocess.CalledProcessError as exc:
        raise LabError(f"command failed with status {exc.returncode}: {shlex.join(cmd)}") from exc


@contextlib.contextmanager
def locked(path: str):
    """Hold an exclusive lock on PATH (created if missing) for the duration of the block."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------- kernel


def parse_fragment(text: str) -> dict[str, str]:
    """Return {OPTION: value} from a kconfig fragment; value 'n' for '# CONFIG_X is not set'."""
    opts: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = re.fullmatch(r"# (CONFIG_\w+) is not set", line)
        if m:
            opts[m.group(1)] = "n"
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(CONFIG_\w+)=(.*)", line)
        if not m:
            raise LabError(f"{FRAGMENT}: cannot parse line {raw!r}")
        opts[m.group(1)] = m.group(2)
    return opts


def source_version() -> str:
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", KERNEL_SOURCE_PACKAGE],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not os.path.exists(KERNEL_SOURCE_TARBALL):
        raise LabError(f"{KERNEL_SOURCE_PACKAGE} is not installed (apt-get install {KERNEL_SOURCE_PACKAGE}); "
                       "it provides the kernel source the lab kernel is built from")
    return res.stdout.strip()


def kernel_key() -> str:
    with open(FRAGMENT, "rb") as fh:
        frag = fh.read()
    return sha("kernel", KERNEL_RECIPE, source_version(), frag)


def kernel_dir(key: str | None = None) -> str:
    return os.path.join(cache_dir(), "kernel", key or kernel_key())


def kernel_ready(kdir: str) -> bool:
    return os.path.exists(os.path.join(kdir, "release"))


def build_kernel(jobs: int) -> str:
    """Build the UML kernel and its modules unless the cache already holds them. Return the cache dir."""
    key = kernel_key()
    kdir = kernel_dir(key)
    if kernel_ready(kdir):
        return kdir
    with locked(os.path.join(cache_dir(), "kernel.lock")):
        if kernel_ready(kdir):
            return kdir
        opts = parse_fragment(open(FRAGMENT).read())
        work = os.path.join(cache_dir(), "build", f"kernel-{key}")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        start = time.monotonic()
        log(f"building the UML kernel {key} from {KERNEL_SOURCE_PACKAGE} {source_version()} (10 to 20 minutes on 2 cores)")
        run(["tar", "-C", work, "-xf", KERNEL_SOURCE_TARBALL])
        src = os.path.join(work, "linux-source-6.1")
        make = ["make", "-C", src, "ARCH=um", "SUBARCH=x86_64"]
        build_log = os.path.join(work, "build.log")
        with open(build_log, "ab") as out:
            quiet = {"stdout": out, "stderr": subprocess.STDOUT}
            try:
                run(make + ["defconfig"], **quiet)
                cfg = [os.path.join(src, "scripts", "config"), "--file", os.path.join(src, ".config")]
                for name, value in opts.items():
                    opt = name[len("CONFIG_"):]
                    if value == "y":
                        cfg += ["--enable", opt]
                    elif value == "m":
                        cfg += ["--module", opt]
                    elif value == "n":
                        cfg += ["--disable", opt]
                    elif value.startswith('"'):
                        cfg += ["--set-str", opt, value.strip('"')]
                    else:
                        cfg += ["--set-val", opt, value]
                run(cfg, **quiet)
                run(make + ["olddefconfig"], **quiet)
                final = {}
                with open(os.path.join(src, ".config")) as fh:
                    for line in fh:
                        m = re.fullmatch(r"(CONFIG_\w+)=(.*)", line.strip())
                        if m:
                            final[m.group(1)] = m.group(2)
                wrong = [f"{k}={v} (got {final.get(k, 'n')})" for k, v in opts.items() if final.get(k, "n") != v]
                if wrong:
                    raise LabError("the kernel configuration lost options of molecule/lab/kernel.config "
                                   "(a dependency is missing): " + ", ".join(wrong))
                run(make + [f"-j{jobs}", "linux", "modules"], **quiet)
            except LabError as exc:
                raise LabError(f"{exc}\nthe end of {build_log}:\n{tail(build_log)}") from exc
        release = subprocess.run(make + ["-s", "kernelrelease"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        tmp = kdir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        run(make + ["modules_install", f"INSTALL_MOD_PATH={tmp}/modroot", "INSTALL_MOD_STRIP=1"],
            stdout=subprocess.DEVNULL)
        shutil.copy2(build_log, os.path.join(tmp, "build.log"))
        for link in ("build", "source"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(tmp, "modroot", "lib", "modules", release, link))
        shutil.copy2(os.path.join(src, "linux"), os.path.join(tmp, "linux"))
        shutil.copy2(os.path.join(src, ".config"), os.path.join(tmp, "config"))
        with open(os.path.join(tmp, "release"), "w") as fh:
            fh.write(release + "\n")
        shutil.rmtree(kdir, ignore_errors=True)
        os.rename(tmp, kdir)
        shutil.rmtree(work, ignore_errors=True)
        log(f"kernel {release} built in {time.monotonic() - start:.0f} s")
        return kdir


def packaged_kernel() -> Kernel:
    """Debian's user-mode-linux package: the fallback (it lacks the nf_tables ip/inet families)."""
    binary = "/usr/bin/linux.uml"
    moddir = "/usr/lib/uml/modules"
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "user-mode-linux"],
                         capture_output=True, text=True, check=False)
    releases = sorted(os.listdir(moddir)) if os.path.isdir(moddir) else []
    if res.returncode != 0 or not os.path.exists(binary) or len(releases) != 1:
        raise LabError("LVS_LAB_KERNEL=debian needs the user-mode-linux package (apt-get install user-mode-linux)")
    return Kernel(sha("debian-uml", res.stdout.strip()), binary, os.path.join(moddir, releases[0]), releases[0])


def lab_kernel(build: bool, jobs: int = 0) -> Kernel:
    """The kernel VMs run: the lab's own build (default) or, with LVS_LAB_KERNEL=debian, the packaged one."""
    if os.environ.get("LVS_LAB_KERNEL", "lab") == "debian":
        return packaged_kernel()
    kdir = build_kernel(jobs or os.cpu_count() or 1) if build else kernel_dir()
    if not kernel_ready(kdir):
        raise LabError("the lab kernel is not built yet: run `python3 molecule/lab/lab.py build`")
    release = open(os.path.join(kdir, "release")).read().strip()
    return Kernel(os.path.basename(kdir), os.path.join(kdir, "linux"),
                  os.path.join(kdir, "modroot", "lib", "modules", release), release)


# ---------------------------------------------------------------------------------------------- image

RELEASE = "bookworm"
# Everything roles and tests use is in the image, so no VM ever needs the network.
PACKAGES = sorted([
    "arping", "conntrack", "curl", "iproute2", "iptables", "iputils-ping", "ipvsadm",
    "keepalived", "kmod", "netbase", "netcat-openbsd", "nftables", "nginx-light", "openssh-server",
    "procps", "python3", "python3-apt", "python3-pyroute2", "sudo", "systemd-sysv", "tcpdump",
])
# No udev and no network manager: lab-setup.service sets the addresses with ip(8) before network.target,
# which is quicker to boot and leaves addresses and routes that roles add alone.
# python3-apt: Ansible's package/apt modules need it, and VMs cannot reach a mirror to fetch it.
# Installed but not started at boot: roles and tests start what they configure.
DISABLED_UNITS = ["ipvsadm.service", "keepalived.service", "nginx.service"]
# Units a throw-away test VM does not need; masking them makes boots (four VMs on two cores) faster.
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "systemd-tmpfiles-clean.timer",
    "getty@.service", "serial-getty@.service", "console-getty.service", "getty-static.service",
    "modprobe@.service", "kmod-static-nodes.service", "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount", "dev-hugepages.mount",
    "dev-mqueue.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount", "systemd-logind.service", "systemd-network-generator.service",
    "systemd-networkd-wait-online.service", "systemd-pstore.service", "systemd-random-seed.service",
    "systemd-journal-flush.service", "systemd-sysusers.service", "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service", "systemd-firstboot.service",
]
IMAGE_SIZE = "2G"


APT_SOURCES = "/etc/apt/sources.list"
APT_SOURCES_DIR = "/etc/apt/sources.list.d"


def apt_source_files() -> list[str]:
    """The files apt reads its sources from, in apt's order: sources.list, then sources.list.d/*.list and
    *.sources (apt ignores other names there, such as *.save or *.disabled)."""
    names = sorted(os.listdir(APT_SOURCES_DIR)) if os.path.isdir(APT_SOURCES_DIR) else []
    return [APT_SOURCES] + [os.path.join(APT_SOURCES_DIR, n) for n in names if n.endswith((".list", ".sources"))]


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a deb822 file as {lower-case field: value}, comments dropped, continuations joined."""
    stanzas: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    field = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                stanzas.append(fields)
            fields, field = {}, None
        elif line[0] in " \t" and field:
            fields[field] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            fields[field] = value.strip()
    return stanzas


def mirror_in(path: str, text: str, release: str = RELEASE) -> str | None:
    """The first mirror in an apt sources file that serves RELEASE itself (not -updates or -security) with
    its main component, or None."""
    if path.endswith(".sources"):
        for stanza in deb822_stanzas(text):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" in stanza.get("types", "").split() and release in stanza.get("suites", "").split() \
                    and "main" in stanza.get("components", "").split():
                uris = [u for u in stanza.get("uris", "").split() if not u.startswith("cdrom:")]
                if uris:
                    return uris[0]
        return None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3 and words[1] == release and "main" in words[2:] and not words[0].startswith("cdrom:"):
            return words[0]
    return None


def apt_mirror() -> str:
    """The Debian mirror: $LVS_LAB_MIRROR, else the host's own bookworm mirror from its apt sources."""
    if os.environ.get("LVS_LAB_MIRROR"):
        return os.environ["LVS_LAB_MIRROR"]
    paths = apt_source_files()
    for path in paths:
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError:
            continue
        mirror = mirror_in(path, text)
        if mirror:
            return mirror
    raise LabError(f"no Debian {RELEASE} mirror (a `deb` source of the suite {RELEASE} with the main component) "
                   f"in the host's apt sources; looked at {', '.join(paths)}. "
                   "Set LVS_LAB_MIRROR to the URL of a Debian mirror")


def tree_hash(path: str) -> str:
    parts: list[str | bytes] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            parts += [os.path.relpath(full, path), oct(st.st_mode & 0o777), open(full, "rb").read()]
    return sha(*parts)


def rootfs_key() -> str:
    return sha("rootfs", ROOTFS_RECIPE, RELEASE, apt_mirror(), ",".join(PACKAGES))


def image_key(kernel: Kernel) -> str:
    return sha("image", IMAGE_RECIPE, rootfs_key(), kernel.key, tree_hash(os.path.join(IMAGE_FILES, "rootfs")),
               ",".join(DISABLED_UNITS), ",".join(MASKED_UNITS), IMAGE_SIZE)


def image_path(kernel: Kernel) -> str:
    return os.path.join(cache_dir(), "image", f"{image_key(kernel)}.img")


def build_rootfs() -> str:
    """debootstrap the release with every package into a cached directory; return it."""
    key = rootfs_key()
    root = os.path.join(cache_dir(), "image", f"rootfs-{key}")
    if os.path.exists(os.path.join(root, ".lab-complete")):
        return root
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    start = time.monotonic()
    mirror = apt_mirror()
    log(f"debootstrap {RELEASE} from {mirror} with {len(PACKAGES)} packages")
    # A private mount namespace: the mounts debootstrap makes in the target vanish with it, even if killed.
    run(["unshare", "--mount", "--propagation", "private", "--",
         "debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), RELEASE, tmp, mirror],
        stdout=subprocess.DEVNULL)
    run(["chroot", tmp, "apt-get", "clean"])
    open(os.path.join(tmp, ".lab-complete"), "w").close()
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    log(f"root file system built in {time.monotonic() - start:.0f} s")
    return root


def build_image(kernel: Kernel) -> str:
    """Make the base image (root file system + kernel modules + lab files) unless cached; return its path."""
    path = image_path(kernel)
    if os.path.exists(path):
        return path
    with locked(os.path.join(cache_dir(), "image.lock")):
        if os.path.exists(path):
            return path
        root = build_rootfs()
        start = time.monotonic()
        stage = os.path.join(cache_dir(), "build", "image-" + os.path.basename(path)[:-4])
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(os.path.dirname(stage), exist_ok=True)
        run(["cp", "-a", root, stage])
        os.unlink(os.path.join(stage, ".lab-complete"))
        moddir = os.path.join(stage, "usr", "lib", "modules")
        os.makedirs(moddir, exist_ok=True)
        run(["cp", "-a", kernel.modules, os.path.join(moddir, kernel.release)])
        # modules.dep and the other indexes modprobe needs, made by the image's own kmod: the kernel's
        # modules_install makes them only when the build host has depmod (kmod), which it need not have.
        run(["chroot", stage, "depmod", "-a", kernel.release])
        run(["cp", "-a", os.path.join(IMAGE_FILES, "rootfs") + "/.", stage])
        with open(os.path.join(stage, "etc", "fstab"), "w") as fh:
            # The kernel mounts the root file system read-write (root=/dev/ubda rw); there is no udev
            # to announce the disk, so it must not be in fstab.
            fh.write("# The root file system is mounted by the kernel (root=/dev/ubda rw).\n")
        with open(os.path.join(stage, "etc", "hostname"), "w") as fh:
            fh.write("lab\n")
        # Unique per VM: the machine id is made at first boot, the ssh host key by lab-setup.
        open(os.path.join(stage, "etc", "machine-id"), "w").close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(stage, "var", "lib", "dbus", "machine-id"))
        for name in os.listdir(os.path.join(stage, "etc", "ssh")):
            if name.startswith("ssh_host_"):
                os.unlink(os.path.join(stage, "etc", "ssh", name))
        systemctl = ["systemctl", f"--root={stage}", "--quiet"]
        run(systemctl + ["enable", "lab-setup.service", "ssh.service"])
        run(systemctl + ["disable"] + DISABLED_UNITS)
        run(systemctl + ["mask"] + MASKED_UNITS)
        tmp = path + ".tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        run(["mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", stage, tmp, IMAGE_SIZE], stdout=subprocess.DEVNULL)
        os.chmod(tmp, 0o444)
        os.rename(tmp, path)
        shutil.rmtree(stage, ignore_errors=True)
        log(f"image {os.path.basename(path)} made in {time.monotonic() - start:.0f} s")
        return path


def cmd_build(args: argparse.Namespace) -> None:
    start = time.monotonic()
    # debootstrap mostly waits for the network and dpkg: run it while the kernel compiles.
    rootfs_error: list[BaseException] = []

    def rootfs() -> None:
        try:
            with locked(os.path.join(cache_dir(), "image.lock")):
                build_rootfs()
        except BaseException as exc:  # reported by the main thread
            rootfs_error.append(exc)

    worker = threading.Thread(target=rootfs, daemon=True)
    worker.start()
    try:
        kernel = lab_kernel(build=True, jobs=args.jobs)
    finally:
        worker.join()
    if rootfs_error:
        raise rootfs_error[0]
    image = build_image(kernel)
    print(f"kernel: {kernel.binary} ({kernel.release})")
    print(f"image:  {image}")
    log(f"build finished in {time.monotonic() - start:.1f} s")


# ------------------------------------------------------------------------------------------- topology

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,23}")
LAB_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
SEGMENT_RE = re.compile(r"[a-z][a-z0-9_-]{0,23}")
MGMT_ADDRESS = "10.0.2.15"
MGMT_PREFIX = 24


def _as_list(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, list):
        return value
    raise LabError(f"{what} must be a list")


def parse_memory(value, what: str) -> int:
    if value is None:
        return 256
    m = re.fullmatch(r"(\d+)\s*([MmGg]?)i?[Bb]?", str(value))
    if not m:
        raise LabError(f"{what}: memory must be a number of MiB or like 512M or 1G, not {value!r}")
    mib = int(m.group(1)) * (1024 if m.group(2).lower() == "g" else 1)
    if not 128 <= mib <= 4096:
        raise LabError(f"{what}: memory must be between 128M and 4G, not {value!r}")
    return mib


def load_topology(path: str) -> list[dict]:
    """Read and validate a topology: a YAML file with `vms:` (or Molecule's `platforms:`)."""
    import yaml  # PyYAML: only needed here

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read topology {path}: {exc}") from exc
    vms = data.get("vms", data.get("platforms")) if isinstance(data, dict) else None
    if not isinstance(vms, list) or not vms:
        raise LabError(f"{path}: no VMs (expected a non-empty `vms:` or `platforms:` list)")
    return normalise_topology(vms, path)


def normalise_topology(vms: list, where: str) -> list[dict]:
    """Validate every VM and return normalised dicts with devices, MACs and parsed addresses."""
    result: list[dict] = []
    seen: set[str] = set()
    addresses: dict[str, str] = {}
    for index, raw in enumerate(vms, start=1):
        if not isinstance(raw, dict) or "name" not in raw:
            raise LabError(f"{where}: VM #{index} needs a name")
        name = str(raw["name"])
        what = f"{where}: VM {name}"
        if not NAME_RE.fullmatch(name):
            raise LabError(f"{what}: names are 1-24 characters, lower case letters, digits and '-', "
                           "starting with a letter")
        if name in seen:
            raise LabError(f"{what}: the name is used twice")
        seen.add(name)
        if index > 250:
            raise LabError(f"{where}: at most 250 VMs")
        interfaces = []
        used_segments: set[str] = set()
        for ifindex, iface in enumerate(_as_list(raw.get("interfaces"), f"{what}: interfaces"), start=1):
            if not isinstance(iface, dict) or not iface.get("segment"):
                raise LabError(f"{what}: every interface needs a segment")
            segment = str(iface["segment"])
            if not SEGMENT_RE.fullmatch(segment):
                raise LabError(f"{what}: segment names are 1-24 characters of a-z, 0-9, '_' and '-', not {segment!r}")
            if segment in used_segments:
                raise LabError(f"{what}: two interfaces on segment {segment}; put the addresses on one interface")
            used_segments.add(segment)
            addrs = []
            for addr in _as_list(iface.get("address", iface.get("addresses")), f"{what}: address"):
                try:
                    parsed = ipaddress.ip_interface(str(addr))
                except ValueError as exc:
                    raise LabError(f"{what}: {exc}") from exc
                if "/" not in str(addr):
                    raise LabError(f"{what}: address {addr} needs a prefix length, for example {addr}/24")
                if str(parsed.ip) in addresses:
                    raise LabError(f"{what}: address {parsed.ip} is also used by {addresses[str(parsed.ip)]}")
                if parsed.version == 4 and parsed.network.overlaps(ipaddress.ip_network("10.0.2.0/24")):
                    raise LabError(f"{what}: {parsed} overlaps 10.0.2.0/24, which is the management network")
                addresses[str(parsed.ip)] = name
                addrs.append(parsed)
            mac = str(iface.get("mac") or f"52:54:00:{index:02x}:{ifindex:02x}:01").lower()
            if not re.fullmatch(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", mac) or int(mac[:2], 16) & 1:
                raise LabError(f"{what}: {mac} is not a unicast MAC address")
            interfaces.append({"device": f"eth{ifindex}", "segment": segment, "mac": mac, "addresses": addrs})
        routes = []
        for key, family in (("gateway", 4), ("gateway6", 6)):
            if raw.get(key):
                routes.append({"to": "default", "via": raw[key], "family": family})
        for route in _as_list(raw.get("routes"), f"{what}: routes"):
            if not isinstance(route, dict) or "to" not in route or "via" not in route:
                raise LabError(f"{what}: a route needs `to` and `via`")
            try:
                dest = ipaddress.ip_network(str(route["to"]), strict=True)
            except ValueError as exc:
                raise LabError(f"{what}: route {route['to']}: {exc}") from exc
            routes.append({"to": str(dest), "via": route["via"], "family": dest.version})
        for route in routes:
            try:
                via = ipaddress.ip_address(str(route["via"]))
            except ValueError as exc:
                raise LabError(f"{what}: gateway {route['via']}: {exc}") from exc
            if via.version != route["family"]:
                raise LabError(f"{what}: gateway {via} is not an IPv{route['family']} address")
            dev = next((i["device"] for i in interfaces for a in i["addresses"] if via in a.network), None)
            if dev is None:
                raise LabError(f"{what}: gateway {via} is on none of the VM's data segments")
            route.update(via=str(via), device=dev)
        hostvars = raw.get("hostvars") or {}
        if not isinstance(hostvars, dict):
            raise LabError(f"{what}: hostvars must be a mapping")
        groups = [str(g) for g in _as_list(raw.get("groups"), f"{what}: groups")]
        for group in groups:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", group):
                raise LabError(f"{what}: {group!r} is not a valid Ansible group name")
        result.append({
            "name": name,
            "index": index,
            "memory": parse_memory(raw.get("memory"), what),
            "groups": groups,
            "interfaces": interfaces,
            "routes": routes,
            "hostvars": hostvars,
        })
    return result


# ------------------------------------------------------------------------------------------ processes


def checkout_dir() -> str:
    """The checkout (work tree) this lab tool belongs to."""
    return os.path.realpath(os.path.join(LAB_DIR, "..", ".."))


def checkout_key() -> str:
    """A short name for this checkout: labs of two checkouts never share a run directory, even of one name."""
    return sha("checkout", checkout_dir())[:12]


def runs_root() -> str:
    """The run directories of every checkout, one directory per checkout (the ports they hold are global)."""
    return os.path.join(cache_dir(), "run")


def runs_dir() -> str:
    """The run directories of this checkout's labs."""
    return os.path.join(runs_root(), checkout_key())


def lab_names() -> list[str]:
    """The names of this checkout's labs (running, or left by a killed run)."""
    top = runs_dir()
    names = os.listdir(top) if os.path.isdir(top) else []
    return sorted(n for n in names if LAB_NAME_RE.fullmatch(n) and os.path.isdir(os.path.join(top, n)))


def all_run_dirs() -> list[str]:
    """The run directory of every lab of every checkout that has a state file (including labs of the old
    layout, run/<name>/, whose ports may still be in use)."""
    found = []
    for pattern in ("*/*/state.json", "*/state.json"):
        found += [os.path.dirname(p) for p in glob.glob(os.path.join(glob.escape(runs_root()), pattern))]
    return sorted(found)


def run_dir(name: str) -> str:
    if not LAB_NAME_RE.fullmatch(name):
        raise LabError(f"{name!r} is not a lab name: 1-32 characters, lower case letters, digits, '_' and '-', "
                       "starting with a letter")
    return os.path.join(runs_dir(), name)


def slirp_marker(name: str) -> str:
    """A word in every management forwarder's command line that names its lab (and checkout)."""
    return f"/hostname=lvslab.{checkout_key()}.{name}/"


LAB_PROGRAMS = {"linux", "linux.uml", "vde_switch", "vde_plug"}


def lab_processes(name: str) -> list[int]:
    """PIDs of every process of lab NAME, found from /proc, so a lab whose state was lost is still found.

    A process belongs to the lab when it runs a program the lab starts (a UML kernel, vde_switch, vde_plug)
    and its command line names the lab's run directory (VMs, switches) or carries the lab's slirp marker
    (the management forwarders UML starts), or when it is in the process group of such a process (UML's
    helper processes). Other programs that merely name the run directory (an editor, `tail -f`) are left alone.
    """
    rdir = run_dir(name) + "/"
    marker = slirp_marker(name)
    me = os.getpid()
    procs: dict[int, int] = {}
    matched: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[pid] = int(fields[2])  # process group
        if rdir in cmdline or marker in cmdline:
            try:
                program = os.path.basename(os.readlink(f"/proc/{pid}/exe")).split(" ")[0]
            except OSError:
                program = ""
            if program in LAB_PROGRAMS:
                matched.add(pid)
    groups = {procs[p] for p in matched if procs[p] > 1}
    return sorted(matched | {p for p, g in procs.items() if g in groups})


def kill_lab_processes(name: str, timeout: float = 10.0) -> int:
    """SIGKILL every process of the lab and wait until they are gone; return how many there were."""
    pids = lab_processes(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = lab_processes(name)
        if not left:
            return len(pids)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    raise LabError(f"processes of lab {name} would not die: {lab_processes(name)}")


# ------------------------------------------------------------------------------------------------ ports

PORT_BASE = int(os.environ.get("LVS_LAB_PORT_BASE", "22200"))
PORT_LIMIT = PORT_BASE + 2000


def ports_in_use_by_labs(exclude: str) -> set[int]:
    """The ports the labs of every checkout hold, but the lab in run directory EXCLUDE."""
    used: set[int] = set()
    for rdir in all_run_dirs():
        if rdir == exclude:
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(rdir, "state.json")) as fh:
                used.update(vm["port"] for vm in json.load(fh)["vms"])
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


# -------------------------------------------------------------------------------------------------- up


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
        cmd.append(f"eth{iface['device'][3:]}=vde,{rdir}/sw-{iface['segment']},{iface['mac']}")
    cmd += [
        f"systemd.hostname={vm['name']}", f"lab.name={vm['name']}", f"lab.key={pubkey}",
        f"lab.if=eth0,{MGMT_ADDRESS}/{MGMT_PREFIX}",
    ]
    for iface in vm["interfaces"]:
        cmd.append("lab.if=" + ",".join([iface["device"]] + [str(a) for a in iface["addresses"]]))
    for route in vm["routes"]:
        cmd.append(f"lab.route={route['device']},{route['to']},{route['via']}")
    return cmd


def console_log(rdir: str, vm: str) -> str:
    """Where a VM of the lab in run directory RDIR writes its console."""
    return os.path.join(rdir, f"{vm}.console.log")


def tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no console log)"


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


def process_groups() -> dict[int, int]:
    groups = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
                groups[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[2])
    return groups


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
                with locked(os.path.join(cache_dir(), "ports.lock")):
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


def start_lab(state: dict, vms: list[dict], kernel: Kernel, image: str) -> list[VM]:
    """Make the lab's ssh key, start its switches and its VMs; return the VMs."""
    rdir = state["dir"]
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lvslab-{state['name']}", "-f", state["key"]],
        stdout=subprocess.DEVNULL)
    with open(state["key"] + ".pub") as fh:
        pubkey = fh.read().split()[1]
    for segment in state["segments"]:
        sock = os.path.join(rdir, f"sw-{segment}")
        run(["vde_switch", "-d", "-s", sock, "-m", "0600", "--dirmode", "0700",
             "-p", os.path.join(rdir, f"sw-{segment}.pid")])
        if not os.path.exists(os.path.join(sock, "ctl")):
            raise LabError(f"vde_switch for segment {segment} did not create {sock}/ctl")
    for vm, entry in zip(vms, state["vms"]):
        # Kept in the state, for `reboot` to start a VM again exactly as it was started.
        entry["command"] = vm_command(kernel, image, rdir, state["name"], vm, entry["port"], pubkey)
    machines = [VM(state, entry, entry["command"]) for entry in state["vms"]]
    for machine in machines:
        machine.start()
    write_state(state)
    return machines


# The longest path a UNIX socket can have (sun_path, less its NUL).
SOCKET_PATH_MAX = 107


def check_socket_paths(rdir: str, vms: list[dict]) -> None:
    """Fail before anything starts when a socket of the lab would not fit in a UNIX socket address."""
    paths = [f"{rdir}/sw-{i['segment']}/.{0:07d}-{0:05d}" for vm in vms for i in vm["interfaces"]]
    paths += [f"{rdir}/uml/{vm['name']}/mconsole" for vm in vms]
    longest = max(paths, key=len)
    if len(longest) > SOCKET_PATH_MAX:
        raise LabError(f"the lab's sockets would be too long for UNIX sockets ({longest}, {len(longest)} > "
                       f"{SOCKET_PATH_MAX} characters): use a shorter lab or segment name, or a shorter LVS_LAB_CACHE")


def check_files_unclaimed(rdir: str, files: list[str]) -> None:
    """Refuse to write FILES (inventory, instance config) when another lab, of this checkout or another,
    wrote them: two Molecule runs that share an ephemeral directory would otherwise test each other's VMs."""
    for other in all_run_dirs():
        if other == rdir:
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(other, "state.json")) as fh:
                state = json.load(fh)
            shared = sorted(set(files) & set(state["files"]))
            if shared:
                raise LabError(f"{', '.join(shared)} belongs to the lab {state['name']} in {other}: two Molecule "
                               "runs share an ephemeral directory (Molecule names it after the checkout's "
                               "directory name and the scenario only). Set MOLECULE_EPHEMERAL_DIRECTORY for one "
                               f"of them, or remove that lab first (`lab.py down {state['name']}` in its checkout)")


def cmd_up(args: argparse.Namespace) -> None:
    start = time.monotonic()
    name = args.name
    rdir = run_dir(name)
    vms = load_topology(args.topology)
    check_socket_paths(rdir, vms)
    kernel = lab_kernel(build=not args.no_build)
    image = build_image(kernel) if not args.no_build else image_path(kernel)
    if not os.path.exists(image):
        raise LabError("the lab image is not built yet: run `python3 molecule/lab/lab.py build`")
    # Under the lock until the VMs run and their PIDs are in state.json: another lab's `up` does not
    # take these ports, and `down --stale` does not take this lab for a dead one.
    with locked(os.path.join(cache_dir(), "ports.lock")):
        # Files written outside the run directory, listed before they exist so that down removes them.
        files = [os.path.abspath(p) for p in (args.inventory, args.instance_config) if p]
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
            "release": kernel.release, "image": image, "created": time.time(),
            "files": files,
            "segments": sorted({i["segment"] for vm in vms for i in vm["interfaces"]}),
            "vms": [{"name": vm["name"], "port": port} for vm, port in zip(vms, ports)],
        }
        write_state(state)
        try:
            machines = start_lab(state, vms, kernel, image)
        except BaseException:
            if not args.keep:
                down(name)
            raise
    try:
        wait_for_ssh(state, machines, args.timeout)
        inventory = make_inventory(state, vms)
        write_file(os.path.join(rdir, "inventory.yml"), inventory)
        write_file(os.path.join(rdir, "ansible.cfg"), ANSIBLE_CFG.format(dir=rdir))
        if args.inventory:
            write_file(args.inventory, inventory)
        if args.instance_config:
            write_file(args.instance_config, make_instance_config(state))
    except BaseException:
        if not args.keep:
            down(name)
        raise
    log(f"lab {name}: {len(vms)} VMs answer ssh after {time.monotonic() - start:.1f} s; "
        f"try: ANSIBLE_CONFIG={rdir}/ansible.cfg ansible lab -m ping")
    print(os.path.join(rdir, "inventory.yml"))


# For Ansible outside Molecule: `ANSIBLE_CONFIG=<run dir>/ansible.cfg ansible lab -m ping`.
ANSIBLE_CFG = """\
# Written by molecule/lab/lab.py; removed by `lab.py down`.
[defaults]
inventory = {dir}/inventory.yml
host_key_checking = False
interpreter_python = /usr/bin/python3
forks = 20

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=300s -o ServerAliveInterval=15
control_path_dir = {dir}/cp
"""


def write_state(state: dict) -> None:
    write_file(os.path.join(state["dir"], "state.json"), json.dumps(state, indent=2) + "\n")


def write_file(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)


def read_state(name: str) -> dict:
    try:
        with open(os.path.join(run_dir(name), "state.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise LabError(f"lab {name} is not running (no {run_dir(name)}/state.json)") from exc


# ------------------------------------------------------------------------------------------ inventory


def host_vars(state: dict, vm: dict, port: int) -> dict:
    interfaces = []
    for iface in vm["interfaces"]:
        head = iface["addresses"][0] if iface["addresses"] else None
        interfaces.append({
            "device": iface["device"],
            "segment": iface["segment"],
            "mac": iface["mac"],
            "addresses": [str(a) for a in iface["addresses"]],
            "address": str(head.ip) if head else None,
            "prefix": head.network.prefixlen if head else None,
            "network": str(head.network) if head else None,
        })
    first = next((i for i in interfaces if i["address"]), None)
    hv = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_user": "root",
        "ansible_private_key_file": state["key"],
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                                   "-o IdentitiesOnly=yes -o LogLevel=ERROR",
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_name": state["name"],
        "lab_management_address": MGMT_ADDRESS,
        "lab_interfaces": interfaces,
        "lab_segments": {i["segment"]: i for i in interfaces},
        "lvs_address": first["address"] if first else None,
    }
    hv.update(vm["hostvars"])
    return hv


def make_inventory(state: dict, vms: list[dict]) -> str:
    import yaml

    ports = {vm["name"]: vm["port"] for vm in state["vms"]}
    hosts = {vm["name"]: host_vars(state, vm, ports[vm["name"]]) for vm in vms}
    groups: dict[str, dict] = {}
    for vm in vms:
        for group in vm["groups"]:
            groups.setdefault(group, {"hosts": {}})["hosts"][vm["name"]] = None
    inv = {"all": {"hosts": hosts, "children": {"lab": {"hosts": {n: None for n in hosts}}, **groups}}}

    class NoAliases(yaml.SafeDumper):
        """lab_segments holds the same dicts as lab_interfaces: write both out in full, no &anchors."""

        def ignore_aliases(self, data):
            return True

    header = f"# Written by molecule/lab/lab.py for lab {state['name']}; removed by `lab.py down {state['name']}`.\n"
    return header + yaml.dump(inv, Dumper=NoAliases, default_flow_style=False, sort_keys=False)


def make_instance_config(state: dict) -> str:
    import yaml

    return yaml.safe_dump([{
        "instance": vm["name"], "address": "127.0.0.1", "port": vm["port"], "user": "root",
        "identity_file": state["key"],
    } for vm in state["vms"]], default_flow_style=False, sort_keys=False)


# ------------------------------------------------------------------------------------------------ down


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


def cmd_down(args: argparse.Namespace) -> None:
    if not args.names and not args.stale:
        raise LabError("name a lab (or use --stale)")
    with locked(os.path.join(cache_dir(), "ports.lock")):
        names = list(args.names)
        if args.stale:
            # Only labs none of whose VMs runs any more: never someone else's live lab. Decided under
            # the lock, which `up` holds from making a run directory until its VMs' PIDs are in
            # state.json, so a lab being started is never taken for a dead one.
            names += [n for n in lab_names() if n not in names and not lab_vm_running(n)]
        for name in names:
            down(name)


# ---------------------------------------------------------------------------------------------- reboot

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


def vm_entry(state: dict, name: str) -> dict:
    entry = next((v for v in state["vms"] if v["name"] == name), None)
    if entry is None:
        raise LabError(f"lab {state['name']} has no VM {name} (it has {', '.join(v['name'] for v in state['vms'])})")
    return entry


def ssh_run(state: dict, entry: dict, command: str, timeout: float = 30) -> tuple[int, str]:
    """Run COMMAND on a VM; return its status (255 when ssh failed, -1 on timeout) and its output: stdout
    when it succeeded, else what it said on stderr (or stdout)."""
    try:
        res = subprocess.run(ssh_base(state, entry) + [command], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return -1, f"no answer within {timeout:.0f} s"
    return res.returncode, (res.stdout if res.returncode == 0 else res.stderr or res.stdout).strip()


BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


# A VM started again after a hang boots from the start: it gets at least this long to answer ssh.
REVIVE_BOOT_SECONDS = 120


def revive(state: dict, name: str) -> VM:
    """Kill VM NAME, hung in UML's reboot, and start it again with its own command and disk; return it."""
    # Under the lock, and on the state as it is now: `down --stale` must not see the lab between the kill
    # and the new PID, and a lab taken down or started again meanwhile is left alone.
    with locked(os.path.join(cache_dir(), "ports.lock")):
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


def cmd_reboot(args: argparse.Namespace) -> None:
    state = read_state(args.name)
    entries = {name: vm_entry(state, name) for name in dict.fromkeys(args.vms)}
    missing = [name for name, entry in entries.items() if "command" not in entry]
    if missing:
        raise LabError(f"lab {args.name} was started by an older lab.py; start it again to reboot {', '.join(missing)}")
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
    deadline = start + args.timeout
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
            if vm is None and hung_in_reboot(console, args.hang):
                log(f"NOTE: VM {name} hung in UML's reboot after the guest had shut down (its console ends with "
                    f"{REBOOT_LINE!r} and nothing for {args.hang:.0f} s); starting it again on the same disk")
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
    for name in revived:
        print(f"revived {name}")


# ---------------------------------------------------------------------------------------------- status


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
            print(f"  {vm['name']:<24} 127.0.0.1:{vm['port']:<6} {'running' if alive else 'stopped':<8} {ssh}")


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
    kernel = lab_kernel(build=False)
    keep = {kernel_dir(), os.path.join(cache_dir(), "image", f"rootfs-{rootfs_key()}"), image_path(kernel)}
    # The cache is shared: what a lab of any checkout runs on stays.
    for rdir in all_run_dirs():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(rdir, "state.json")) as fh:
                state = json.load(fh)
            keep.add(state["image"])
            keep.add(os.path.dirname(state["kernel"]))
    removed = 0
    # Holding both build locks: no build is writing into the cache meanwhile.
    with locked(os.path.join(cache_dir(), "kernel.lock")), locked(os.path.join(cache_dir(), "image.lock")):
        removed = prune_entries(keep)
    log(f"pruned {removed} cache entries")


def prune_entries(keep: set[str]) -> int:
    removed = 0
    for sub in ("kernel", "image", "build"):
        top = os.path.join(cache_dir(), sub)
        if not os.path.isdir(top):
            continue
        for entry in sorted(os.listdir(top)):
            path = os.path.join(top, entry)
            if path in keep or entry.endswith(".lock"):
                continue
            log(f"removing {path}")
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed += 1
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="build (or reuse) the kernel and the base image")
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
