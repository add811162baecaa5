# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the lab tool's decisions that need no VM (`make unit` runs them)."""

import argparse
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lab  # noqa: E402  pylint: disable=wrong-import-position
from lvslab import reboot  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.common import LabError  # noqa: E402  pylint: disable=wrong-import-position
from lvslab.vm import VM  # noqa: E402  pylint: disable=wrong-import-position

SHUTDOWN = (
    "systemd-shutdown[1]: Syncing filesystems and block devices.\n"
    "systemd-shutdown[1]: Rebooting.\n"
    "reboot: Restarting system\n"
)
CLOSED = "vde backend - closing connection\n" * 3
NEW_BOOT = "\nCore dump limits :\n\tsoft - 0\nChecking that ptrace can change system call numbers...OK\n"


class FakeProcess:
    """A started VM's process that keeps running."""

    returncode = None

    def poll(self):
        return None


def console(tmp_path, text, age):
    path = tmp_path / "vm.console.log"
    path.write_text("[  OK  ] Reached target multi-user.target\n" + text)
    past = time.time() - age
    os.utime(path, (past, past))
    return str(path)


def one_vm_lab(monkeypatch, tmp_path, console_text, answers, then=(255, "Connection refused")):
    """A lab of one VM `a` whose console log holds CONSOLE_TEXT (written a minute ago) and whose ssh gives
    ANSWERS in turn, then THEN for ever; waiting takes no time. Return its state."""
    os.rename(console(tmp_path, console_text, age=60), tmp_path / "a.console.log")
    state = {"name": "demo", "dir": str(tmp_path), "key": "/nonexistent/key",
             "vms": [{"name": "a", "port": 1, "command": ["linux"]}]}
    answers = iter(answers)
    monkeypatch.setattr(reboot, "read_state", lambda name: state)
    monkeypatch.setattr(reboot, "ssh_run", lambda *a, **k: next(answers, then))
    monkeypatch.setattr(reboot.time, "sleep", lambda seconds: None)
    return state


def reboot_a(timeout):
    lab.cmd_reboot(argparse.Namespace(name="demo", vms=["a"], timeout=timeout, hang=45))


@pytest.mark.parametrize("text", [SHUTDOWN, SHUTDOWN + CLOSED, SHUTDOWN + CLOSED + "\n"])
def test_a_console_that_stops_in_the_reboot_is_a_hang(tmp_path, text):
    assert reboot.hung_in_reboot(console(tmp_path, text, age=60), quiet=45)


@pytest.mark.parametrize("text", [
    "",  # never rebooted: a VM that is slow or broken, not one hung in UML's reboot
    SHUTDOWN + CLOSED + NEW_BOOT,  # the exec happened: the new kernel is booting
    SHUTDOWN + CLOSED + NEW_BOOT + SHUTDOWN.replace("reboot: Restarting system\n", ""),  # shutting down again
    SHUTDOWN + CLOSED + "\n===== lab.py: vm hung in UML's reboot; killed it and started it again\n",  # revived
])
def test_a_console_that_went_on_is_not_a_hang(tmp_path, text):
    assert not reboot.hung_in_reboot(console(tmp_path, text, age=60), quiet=45)


def test_a_reboot_still_in_progress_is_not_a_hang(tmp_path):
    assert not reboot.hung_in_reboot(console(tmp_path, SHUTDOWN + CLOSED, age=5), quiet=45)


def test_the_last_reboot_counts(tmp_path):
    """An earlier reboot that went well does not hide a later one that hung."""
    text = SHUTDOWN + CLOSED + NEW_BOOT + "[  OK  ] Started ssh.service\n" + SHUTDOWN + CLOSED
    assert reboot.hung_in_reboot(console(tmp_path, text, age=60), quiet=45)


def test_a_missing_console_is_not_a_hang(tmp_path):
    assert not reboot.hung_in_reboot(str(tmp_path / "absent.console.log"), quiet=0)


def test_reboot_refuses_an_unknown_vm_before_touching_any(monkeypatch):
    state = {"name": "demo", "dir": "/nonexistent", "key": "/nonexistent/key",
             "vms": [{"name": "a", "port": 1, "command": ["linux"]}]}
    monkeypatch.setattr(reboot, "read_state", lambda name: state)
    monkeypatch.setattr(reboot, "ssh_run", lambda *a, **k: pytest.fail("no VM may be contacted"))
    with pytest.raises(LabError, match="lab demo has no VM b .it has a."):
        lab.cmd_reboot(argparse.Namespace(name="demo", vms=["a", "b"], timeout=1, hang=1))


def test_reboot_refuses_a_lab_started_without_the_vm_commands(monkeypatch):
    state = {"name": "demo", "dir": "/nonexistent", "key": "/nonexistent/key", "vms": [{"name": "a", "port": 1}]}
    monkeypatch.setattr(reboot, "read_state", lambda name: state)
    monkeypatch.setattr(reboot, "ssh_run", lambda *a, **k: pytest.fail("no VM may be contacted"))
    with pytest.raises(LabError, match="older lab.py"):
        lab.cmd_reboot(argparse.Namespace(name="demo", vms=["a"], timeout=1, hang=1))


def test_reboot_times_out_with_the_console_tail(monkeypatch, tmp_path):
    """A VM that never comes back: the error names it, the last ssh answer and the end of its console."""
    one_vm_lab(monkeypatch, tmp_path, "Booting\nkernel panic - not syncing: imitation\n", [(0, "boot-1"), (0, "")])
    monkeypatch.setattr(reboot, "revive", lambda *a: pytest.fail("nothing hung in UML's reboot"))
    with pytest.raises(LabError, match=r"(?s)VM a did not come back .*Connection refused.*imitation"):
        reboot_a(timeout=0)


def test_reboot_starts_a_hung_vm_again_once_and_says_so(monkeypatch, tmp_path, capsys):
    state = one_vm_lab(monkeypatch, tmp_path, SHUTDOWN + CLOSED,
                       [(0, "boot-1"), (0, ""), (255, "Connection refused"), (255, "Connection refused"), (0, "boot-2")])
    revived = []

    def revive(_state, name):
        revived.append(name)
        vm = VM(state, state["vms"][0], ["linux"])
        vm.proc = FakeProcess()
        return vm

    monkeypatch.setattr(reboot, "revive", revive)
    reboot_a(timeout=60)
    assert revived == ["a"]
    out, err = capsys.readouterr()
    assert out == "revived a\n"
    assert "NOTE: VM a hung in UML's reboot" in err


def test_reboot_says_when_a_vm_never_went_down(monkeypatch, tmp_path):
    one_vm_lab(monkeypatch, tmp_path, "", [(0, "boot-1"), (0, "")], then=(0, "boot-1"))
    with pytest.raises(LabError, match="VM a never went down: .* still answers ssh with its old boot id"):
        reboot_a(timeout=0)


@pytest.mark.parametrize("now, message", [
    (None, "lab demo was taken down while VM a was rebooting"),
    ({"created": 2.0, "pid": 4242}, "lab demo was started again while VM a was rebooting"),
    ({"created": 1.0, "pid": 5151}, "lab demo was started again while VM a was rebooting"),
])
def test_revive_leaves_a_lab_alone_that_changed_meanwhile(monkeypatch, tmp_path, now, message):
    """No VM is killed or started when the lab on disk is no longer the one the reboot began with."""
    monkeypatch.setenv("LVS_LAB_CACHE", str(tmp_path))
    state = {"name": "demo", "dir": str(tmp_path), "created": 1.0,
             "vms": [{"name": "a", "port": 1, "pid": 4242, "command": ["linux"]}]}

    def read_state(name):
        if now is None:
            raise LabError(f"lab {name} is not running")
        return {"name": "demo", "dir": str(tmp_path), "created": now["created"],
                "vms": [{"name": "a", "port": 1, "pid": now["pid"], "command": ["linux"]}]}

    monkeypatch.setattr(reboot, "read_state", read_state)
    monkeypatch.setattr(VM, "kill", lambda self: pytest.fail("nothing may be killed"))
    monkeypatch.setattr(VM, "start", lambda self: pytest.fail("nothing may be started"))
    with pytest.raises(LabError, match=message):
        reboot.revive(state, "a")


def test_reboot_fails_at_once_when_a_revived_vm_stops(monkeypatch, tmp_path):
    state = one_vm_lab(monkeypatch, tmp_path, SHUTDOWN + CLOSED, [(0, "boot-1"), (0, "")])

    class Stopped(FakeProcess):
        returncode = 1

        def poll(self):
            return 1

    def revive(_state, _name):
        vm = VM(state, state["vms"][0], ["linux"])
        vm.proc = Stopped()
        return vm

    monkeypatch.setattr(reboot, "revive", revive)
    with pytest.raises(LabError, match=r"(?s)VM a stopped \(status 1\) after it was started again.*Restarting"):
        reboot_a(timeout=5)


def test_the_scenarios_find_what_they_use_in_lab_py():
    """labtest (the scenarios' helper) takes the script's path and the reboot constants from lab.py."""
    import labtest  # pylint: disable=import-outside-toplevel

    assert labtest.LAB_PY == lab.__file__ and os.path.basename(labtest.LAB_PY) == "lab.py"
    assert labtest.BOOT_ID == reboot.BOOT_ID
    assert labtest.REBOOT_LINE == reboot.REBOOT_LINE.encode()
    assert lab.console_log("/run/x", "rs1") == "/run/x/rs1.console.log"
