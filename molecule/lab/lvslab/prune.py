# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Removing cached kernels, root file systems and images that nothing uses any more."""

from __future__ import annotations

import contextlib
import os
import shutil

from .common import cache_dir, locked, log
from .image import RELEASES, image_lock, image_path, rootfs_path
from .kernel import kernel_dir, lab_kernel
from .state import all_lab_states


def prune() -> None:
    """Remove cached kernels, root file systems and images that neither the current build nor a running lab uses."""
    kernel = lab_kernel(build=False)
    keep = {kernel_dir()}
    for release in RELEASES:
        keep |= {rootfs_path(release), image_path(kernel, release)}
    # The cache is shared: what a lab of any checkout runs on stays.
    for _rdir, state in all_lab_states():
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            keep.add(os.path.dirname(state["kernel"]))
            # "image": a lab started before the lab made more than one release.
            keep |= set(state.get("images", {}).values()) | {state.get("image")}
    removed = 0
    # Holding every build lock: no build is writing into the cache meanwhile.
    with contextlib.ExitStack() as locks:
        for path in [os.path.join(cache_dir(), "kernel.lock")] + [image_lock(r) for r in RELEASES]:
            locks.enter_context(locked(path))
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
