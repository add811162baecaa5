# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One base image per Debian release: which one a VM runs, how each is keyed, and what gets built."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lab  # noqa: E402  pylint: disable=wrong-import-position
from lvslab import image, inventory, lifecycle, topology, vm  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.common import LabError, sha  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.kernel import Kernel  # noqa: E402  pylint: disable=wrong-import-position

MIRROR = "http://mirror.example/debian"
KERNEL = Kernel("k" * 16, "/k/linux", "/k/modules", "6.1.0-lvslab")


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    """A cache and a mirror of the test's own."""
    monkeypatch.setenv("LVS_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LVS_LAB_MIRROR", MIRROR)
    return tmp_path / "cache"


def vms(*images):
    """A topology of one VM per entry of IMAGES, with `image:` when the entry is not None."""
    raw = [{"name": f"vm{i}", **({} if img is None else {"image": img})} for i, img in enumerate(images)]
    return topology.normalise_topology(raw, "test.yml")


def test_a_vm_runs_bookworm_unless_it_names_another_release():
    assert image.DEFAULT_RELEASE == "bookworm" and image.RELEASES == ("bookworm", "trixie")
    assert [v["image"] for v in vms(None, "trixie", "bookworm")] == ["bookworm", "trixie", "bookworm"]


@pytest.mark.parametrize("wrong", ["bullseye", "Trixie", "debian13", 13, ""])
def test_a_release_the_lab_does_not_make_is_refused_with_the_ones_it_makes(wrong):
    with pytest.raises(LabError) as error:
        vms(None, wrong)
    assert str(error.value) == (f"test.yml: VM vm1: image: {str(wrong)!r} is not a Debian release the lab makes "
                                "images of; it makes those of bookworm (the default) and trixie")


def test_a_wrong_release_is_refused_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(image, "lab_kernel", lambda **_: pytest.fail("the kernel was built"))
    with pytest.raises(LabError, match="'sid' is not a Debian release"):
        image.build(1, ("bookworm", "sid"))


def test_lab_build_refuses_a_wrong_release(capsys):
    assert lab.main(["build", "bookwrom"]) == 1
    assert "lab: error: 'bookwrom' is not a Debian release the lab makes images of" in capsys.readouterr().err


def test_the_bookworm_key_is_the_one_the_lab_had_before_it_made_trixie():
    """Adding a release leaves the bookworm root file system and image where every cache has them."""
    assert image.rootfs_key() == image.rootfs_key("bookworm") == sha(
        "rootfs", image.ROOTFS_RECIPE, "bookworm", MIRROR, ",".join(image.PACKAGES))
    assert image.image_lock("bookworm").endswith("/cache/image.lock")


def test_each_release_has_its_own_root_file_system_image_and_lock(cache):
    paths = {release: (image.rootfs_path(release), image.image_path(KERNEL, release), image.image_lock(release))
             for release in image.RELEASES}
    assert paths["trixie"] == (
        str(cache / "image" / f"rootfs-{image.rootfs_key('trixie')}"),
        str(cache / "image" / f"{image.image_key(KERNEL, 'trixie')}.img"),
        str(cache / "image-trixie.lock"))
    for bookworm, trixie in zip(paths["bookworm"], paths["trixie"]):
        assert bookworm != trixie


def test_an_image_is_keyed_by_its_release_the_mirror_and_the_kernel(monkeypatch):
    keys = {image.image_key(KERNEL, release) for release in image.RELEASES}
    keys.add(image.image_key(KERNEL._replace(key="other-kernel"), "trixie"))
    monkeypatch.setenv("LVS_LAB_MIRROR", MIRROR + "2")
    keys.add(image.image_key(KERNEL, "trixie"))
    assert len(keys) == 4


def test_build_makes_every_release_s_image_with_the_kernel(monkeypatch):
    made = []
    monkeypatch.setattr(image, "build_rootfs", lambda release: made.append(("rootfs", release)))
    monkeypatch.setattr(image, "lab_kernel", lambda **_: KERNEL)
    monkeypatch.setattr(image, "build_image", lambda kernel, release: made.append(("image", release)) or release)
    assert image.build(1) == (KERNEL, {"bookworm": "bookworm", "trixie": "trixie"})
    assert sorted(made) == [("image", "bookworm"), ("image", "trixie"), ("rootfs", "bookworm"), ("rootfs", "trixie")]
    made.clear()
    assert image.build(1, ("trixie",)) == (KERNEL, {"trixie": "trixie"})
    assert sorted(made) == [("image", "trixie"), ("rootfs", "trixie")]


def test_a_failed_debootstrap_fails_the_build(monkeypatch):
    def rootfs(release):
        if release == "trixie":
            raise LabError("debootstrap failed")

    monkeypatch.setattr(image, "build_rootfs", rootfs)
    monkeypatch.setattr(image, "lab_kernel", lambda **_: KERNEL)
    monkeypatch.setattr(image, "build_image", lambda kernel, release: pytest.fail("an image was made"))
    with pytest.raises(LabError, match="debootstrap failed"):
        image.build(1)


class Started(Exception):
    """Raised where `up` would start to change things: the images are chosen by then."""


@pytest.mark.parametrize(("images", "built"), [
    ((None, None), ["bookworm"]),
    (("trixie", "trixie"), ["trixie"]),
    (("trixie", None, "bookworm"), ["bookworm", "trixie"]),
])
def test_up_builds_the_images_its_vms_run_and_no_other(monkeypatch, tmp_path, images, built):
    made = []
    monkeypatch.setattr(lifecycle, "load_topology", lambda path: vms(*images))
    monkeypatch.setattr(lifecycle, "check_socket_paths", lambda rdir, vms: None)
    monkeypatch.setattr(lifecycle, "lab_kernel", lambda **_: KERNEL)
    monkeypatch.setattr(lifecycle, "build_image", lambda kernel, release: made.append(release) or __file__)

    def stop():
        raise Started

    monkeypatch.setattr(lifecycle, "ports_lock", stop)
    with pytest.raises(Started):
        lifecycle.up("imgtest", str(tmp_path / "topology.yml"))
    assert made == built


def test_up_without_build_names_the_missing_release(monkeypatch, tmp_path):
    monkeypatch.setattr(lifecycle, "load_topology", lambda path: vms(None, "trixie"))
    monkeypatch.setattr(lifecycle, "check_socket_paths", lambda rdir, vms: None)
    monkeypatch.setattr(lifecycle, "lab_kernel", lambda **_: KERNEL)
    monkeypatch.setattr(lifecycle, "image_path", lambda kernel, release: __file__ if release == "bookworm" else "/no")
    with pytest.raises(LabError, match=r"the lab image of trixie is not built yet: run `python3 molecule/lab/lab.py build`"):
        lifecycle.up("imgtest", str(tmp_path / "topology.yml"), no_build=True)


def test_each_vm_boots_the_image_of_its_release_and_the_inventory_says_which(monkeypatch, tmp_path):
    topo = vms(None, "trixie")
    state = {"name": "imgtest", "dir": str(tmp_path), "key": str(tmp_path / "id_ed25519"),
             "vms": [{"name": v["name"], "port": 22201 + i, "image": v["image"]} for i, v in enumerate(topo)]}
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAAkey lab\n")
    monkeypatch.setattr(vm, "run", lambda *a, **k: None)
    monkeypatch.setattr(vm, "start_switches", lambda state: None)
    monkeypatch.setattr(vm.VM, "start", lambda self: None)
    images = {"bookworm": "/cache/image/b.img", "trixie": "/cache/image/t.img"}
    vm.start_lab(state, topo, KERNEL, images)
    disks = [next(w for w in entry["command"] if w.startswith("ubd0=")) for entry in state["vms"]]
    assert disks == [f"ubd0={tmp_path}/vm0.cow,/cache/image/b.img", f"ubd0={tmp_path}/vm1.cow,/cache/image/t.img"]
    hostvars = [inventory.host_vars(state, v, 22201) for v in topo]
    assert [h["lab_image"] for h in hostvars] == ["bookworm", "trixie"]
