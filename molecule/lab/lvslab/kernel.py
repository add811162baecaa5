# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The UML kernel the VMs run: built from Debian's kernel source and cached by what goes into it."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import subprocess
import time

from .common import LAB_DIR, LabError, cache_dir, locked, log, run, sha, tail


FRAGMENT = os.path.join(LAB_DIR, "kernel.config")
KERNEL_SOURCE_PACKAGE = "linux-source-6.1"
KERNEL_SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz"
# Bump when the build procedure changes in a way that changes the result.
KERNEL_RECIPE = "1"


Kernel = collections.namedtuple("Kernel", "key binary modules release")


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
