# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VMs' base image: a debootstrapped Debian with the lab kernel's modules, cached by what goes into it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time

from .common import LAB_DIR, LabError, cache_dir, locked, log, run, sha
from .kernel import Kernel, lab_kernel
from .mirror import apt_mirror


IMAGE_FILES = os.path.join(LAB_DIR, "image")
# Bump when the build procedure changes in a way that changes the result.
ROOTFS_RECIPE = "1"
# 2: the image's own depmod indexes the kernel modules.
IMAGE_RECIPE = "2"

# The Debian releases the lab makes images of, by suite name. A VM runs the default (the first) unless its
# topology entry names another with `image:`. Each release has a root file system and an image of its own,
# from the same package list and image files, and the same kernel.
RELEASES = ("bookworm", "trixie")
DEFAULT_RELEASE = RELEASES[0]
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


def tree_hash(path: str) -> str:
    parts: list[str | bytes] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            parts += [os.path.relpath(full, path), oct(st.st_mode & 0o777), open(full, "rb").read()]
    return sha(*parts)


def check_release(release: str) -> str:
    """RELEASE, if the lab makes images of it; else a LabError that names the releases it makes."""
    if release not in RELEASES:
        names = [f"{DEFAULT_RELEASE} (the default)"] + list(RELEASES[1:])
        raise LabError(f"{release!r} is not a Debian release the lab makes images of; it makes those of "
                       f"{', '.join(names[:-1])} and {names[-1]}")
    return release


def release_mirror(release: str) -> str:
    """The Debian mirror of RELEASE. A host's apt sources usually list its own release only, and the mirror
    of any release serves the others too."""
    return apt_mirror(check_release(release), others=RELEASES)


def rootfs_key(release: str = DEFAULT_RELEASE) -> str:
    return sha("rootfs", ROOTFS_RECIPE, release, release_mirror(release), ",".join(PACKAGES))


def rootfs_path(release: str = DEFAULT_RELEASE) -> str:
    return os.path.join(cache_dir(), "image", f"rootfs-{rootfs_key(release)}")


def image_key(kernel: Kernel, release: str = DEFAULT_RELEASE) -> str:
    return sha("image", IMAGE_RECIPE, rootfs_key(release), kernel.key, tree_hash(os.path.join(IMAGE_FILES, "rootfs")),
               ",".join(DISABLED_UNITS), ",".join(MASKED_UNITS), IMAGE_SIZE)


def image_path(kernel: Kernel, release: str = DEFAULT_RELEASE) -> str:
    return os.path.join(cache_dir(), "image", f"{image_key(kernel, release)}.img")


def image_lock(release: str) -> str:
    """The lock under which RELEASE's root file system and image are built: one per release, so that releases
    build side by side. The default release keeps the lock the lab had before it made other releases."""
    name = "image.lock" if check_release(release) == DEFAULT_RELEASE else f"image-{release}.lock"
    return os.path.join(cache_dir(), name)


def build_rootfs(release: str = DEFAULT_RELEASE) -> str:
    """debootstrap RELEASE with every package into a cached directory; return it."""
    root = rootfs_path(release)
    if os.path.exists(os.path.join(root, ".lab-complete")):
        return root
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    start = time.monotonic()
    mirror = release_mirror(release)
    log(f"debootstrap {release} from {mirror} with {len(PACKAGES)} packages")
    # A private mount namespace: the mounts debootstrap makes in the target vanish with it, even if killed.
    run(["unshare", "--mount", "--propagation", "private", "--",
         "debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), release, tmp, mirror],
        stdout=subprocess.DEVNULL)
    run(["chroot", tmp, "apt-get", "clean"])
    open(os.path.join(tmp, ".lab-complete"), "w").close()
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    log(f"root file system of {release} built in {time.monotonic() - start:.0f} s")
    return root


def build_image(kernel: Kernel, release: str = DEFAULT_RELEASE) -> str:
    """Make RELEASE's base image (root file system + kernel modules + lab files) unless cached; return its path."""
    path = image_path(kernel, release)
    if os.path.exists(path):
        return path
    with locked(image_lock(release)):
        if os.path.exists(path):
            return path
        root = build_rootfs(release)
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
        log(f"image {os.path.basename(path)} of {release} made in {time.monotonic() - start:.0f} s")
        return path


def build(jobs: int, releases: tuple[str, ...] = RELEASES) -> tuple[Kernel, dict[str, str]]:
    """Build (or reuse) the kernel and the base image of every release in RELEASES; return the kernel and
    {release: the path of its image}."""
    start = time.monotonic()
    for release in releases:
        check_release(release)
    # debootstrap mostly waits for the network and dpkg: every release's runs while the kernel compiles, each
    # under its own lock, so that no release waits for another's.
    rootfs_errors: list[BaseException] = []

    def rootfs(release: str) -> None:
        try:
            with locked(image_lock(release)):
                build_rootfs(release)
        except BaseException as exc:  # reported by the main thread
            rootfs_errors.append(exc)

    workers = [threading.Thread(target=rootfs, args=(release,), daemon=True) for release in releases]
    for worker in workers:
        worker.start()
    try:
        kernel = lab_kernel(build=True, jobs=jobs)
    finally:
        for worker in workers:
            worker.join()
    if rootfs_errors:
        raise rootfs_errors[0]
    images = {release: build_image(kernel, release) for release in releases}
    log(f"build finished in {time.monotonic() - start:.1f} s")
    return kernel, images
