# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""traffic.py, the scenarios' traffic generator, against a web server of the test's own on 127.0.0.1."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, LAB_DIR)

import labtest  # noqa: E402  pylint: disable=wrong-import-position

TRAFFIC_PY = os.path.join(LAB_DIR, "traffic.py")


class Server:
    """A keep-alive web server on 127.0.0.1 answering its name. down() closes its listening socket and resets each
    open connection at its next request; up() listens again on the same port; hang() reads requests and never
    answers."""

    def __init__(self, name="web1"):
        self.name = name.encode()
        self.port = 0
        self.mode = "up"
        self.listener = None
        self.requests = {}  # per connection: requests answered on it
        self.lock = threading.Lock()
        self.up()

    def up(self):
        self.mode = "up"
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self.listener = sock
        threading.Thread(target=self.accept, args=(sock,), daemon=True).start()

    def down(self):
        self.mode = "reset"
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); new connections are refused
        self.listener.close()

    def hang(self):
        self.mode = "hang"

    def accept(self, listener):
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        reader = conn.makefile("rb")
        try:
            while True:
                head = [reader.readline()]
                while head[-1] not in (b"\r\n", b""):
                    head.append(reader.readline())
                if head[-1] == b"":
                    return
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if self.mode == "hang":
                    time.sleep(30)
                    return
                keep = head[0].rstrip().endswith(b"HTTP/1.1") and b"connection: close\r\n" not in [h.lower() for h in head]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
                    len(self.name), b"" if keep else b"Connection: close\r\n", self.name))
                with self.lock:
                    self.requests[conn] = self.requests.get(conn, 0) + 1
                if not keep:
                    return
        except OSError:
            return
        finally:
            reader.close()
            conn.close()


@pytest.fixture
def server():
    web = Server()
    yield web
    if web.mode != "reset":
        web.down()


def traffic(server, tmp_path, *options):
    """Start traffic.py against the server; return (process, the summary's path)."""
    out = tmp_path / "summary.json"
    process = subprocess.Popen([sys.executable, TRAFFIC_PY, "--url", f"http://127.0.0.1:{server.port}/",  # pylint: disable=consider-using-with
                                "--started", str(tmp_path / "started"), "--stop-file", str(tmp_path / "stop"),
                                "--out", str(out), *options])
    return process, out


def wait_for(path, seconds=5):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"no {path} in {seconds} s"
        time.sleep(0.02)


def summary_of(process, out):
    assert process.wait(timeout=15) == 0
    with open(out, encoding="utf-8") as fh:
        return json.load(fh)


def test_steady_traffic_is_counted(server, tmp_path):
    process, out = traffic(server, tmp_path, "--duration", "2", "--rate", "10", "--long-lived", "2", "--hold", "0.5",
                           "--heartbeat", "0.1", "--timeout", "1")
    summary = summary_of(process, out)
    assert summary["stopped_by"] == "duration" and 2 <= summary["duration"] < 3.5
    assert 15 <= summary["requests"] <= 21
    assert summary["ok"] == summary["requests"] and summary["failed"] == 0 and summary["failures"] == {}
    assert summary["servers"] == {"web1": summary["requests"]}
    assert summary["longest_gap"] < 1.5 and summary["failed_requests"] == [] and summary["first_failure"] is None
    long_lived = summary["long_lived"]
    assert long_lived["broken"] == 0 and long_lived["open_failed"] == 0 and long_lived["broken_details"] == []
    assert long_lived["opened"] == long_lived["completed"] >= 3
    assert long_lived["servers"] == {"web1": long_lived["opened"]}
    # The server saw each new request on a connection of its own, and each long-lived one's heartbeats on one connection.
    counts = sorted(server.requests.values())
    assert len(counts) == summary["requests"] + long_lived["opened"]
    assert counts.count(1) == summary["requests"] and min(counts[summary["requests"]:]) >= 2
    assert sum(counts) == summary["requests"] + long_lived["heartbeats"]


def test_an_outage_is_counted_with_its_reasons_and_its_gap(server, tmp_path):
    process, out = traffic(server, tmp_path, "--duration", "3.5", "--rate", "10", "--long-lived", "2", "--hold", "0",
                           "--heartbeat", "0.1", "--timeout", "1")
    wait_for(tmp_path / "started")
    time.sleep(1)
    down = time.time()
    server.down()
    time.sleep(1)
    server.up()
    up = time.time()
    summary = summary_of(process, out)
    assert summary["requests"] == summary["ok"] + summary["failed"] and summary["ok"] >= 15
    assert summary["failures"].get("refused", 0) >= 5 and set(summary["failures"]) <= {"refused", "reset"}
    assert summary["servers"] == {"web1": summary["ok"]}
    # The outage is the longest gap: from the last ok reply before it to the first after it.
    assert 0.9 <= summary["longest_gap"] < 3
    assert summary["longest_gap_from"] <= down - summary["start"] + 0.05
    assert summary["longest_gap_to"] >= up - summary["start"] - 0.05
    assert down - summary["start"] - 0.1 <= summary["first_failure"] <= summary["last_failure"] <= up - summary["start"] + 0.1
    long_lived = summary["long_lived"]
    # Both connections open at the outage broke at their next heartbeat; their slots were refused until the server
    # came back, and the connections opened then lived to the end.
    assert long_lived["broken"] == 2
    for broken in long_lived["broken_details"]:
        assert broken["server"] == "web1" and broken["reason"] == "reset" and "ConnectionResetError" in broken["error"]
        assert broken["started"] < 0.5 and abs(broken["ended"] - (down - summary["start"])) < 1 and broken["heartbeats"] >= 2
    assert long_lived["open_failures"].get("refused", 0) >= 2
    assert long_lived["opened"] == 4 and long_lived["completed"] == 2


def test_a_server_that_never_answers_times_out_and_the_run_is_still_bounded(server, tmp_path):
    server.hang()
    begun = time.monotonic()
    process, out = traffic(server, tmp_path, "--duration", "1.5", "--rate", "4", "--long-lived", "1", "--hold", "0",
                           "--timeout", "0.5")
    summary = summary_of(process, out)
    assert time.monotonic() - begun < 1.5 + 0.5 + 1.5
    assert summary["stopped_by"] == "duration" and summary["duration"] < 1.7
    assert summary["ok"] == 0 and summary["failures"] == {"timeout": summary["requests"]} and summary["requests"] >= 5
    assert summary["longest_gap"] == summary["duration"]
    assert all(0.45 < failed["duration"] < 1.2 for failed in summary["failed_requests"])
    broken = summary["long_lived"]["broken_details"]
    assert broken and all(b["reason"] == "timeout" and b["server"] is None and b["heartbeats"] == 0 for b in broken)


def test_the_stop_file_ends_the_run_early(server, tmp_path):
    begun = time.monotonic()
    process, out = traffic(server, tmp_path, "--duration", "30", "--rate", "5")
    wait_for(tmp_path / "started")
    (tmp_path / "stop").touch()
    summary = summary_of(process, out)
    assert summary["stopped_by"] == "stop_file" and summary["duration"] < 1.5 and time.monotonic() - begun < 5
    assert summary["ok"] == summary["requests"] >= 1


def test_a_stop_file_left_from_before_is_refused(server, tmp_path):
    (tmp_path / "stop").touch()
    process, out = traffic(server, tmp_path, "--duration", "1")
    assert process.wait(timeout=10) == 2 and not out.exists()


class LocalHost:
    """What the labtest helpers use of a testinfra host, on this machine."""

    class Result:
        def __init__(self, done):
            self.rc, self.stdout, self.stderr = done.returncode, done.stdout, done.stderr

    def run(self, command):
        return self.Result(subprocess.run(command, shell=True, capture_output=True, text=True, check=False))


def test_the_labtest_helpers_run_it_in_the_background(server, tmp_path):
    with labtest.traffic(LocalHost(), f"http://127.0.0.1:{server.port}/", directory=str(tmp_path), rate=10, long_lived=1,
                         heartbeat=0.1, timeout=1) as summary:
        assert summary == {}
        time.sleep(0.5)
    assert summary["stopped_by"] == "stop_file" and summary["options"]["duration"] == 300
    assert summary["ok"] == summary["requests"] >= 5 and summary["long_lived"]["completed"] == 1
    files = sorted(os.listdir(tmp_path))
    run = os.path.splitext(files[0])[0]
    assert files == [f"{run}.{suffix}" for suffix in ("json", "log", "py", "started", "stop")], files


def test_the_labtest_helpers_show_why_it_did_not_start(tmp_path):
    begun = time.monotonic()
    with pytest.raises(AssertionError, match=r"(?s)traffic.py did not start.*its log:.*not an http:// URL"):
        labtest.start_traffic(LocalHost(), "https://127.0.0.1/", directory=str(tmp_path))
    assert time.monotonic() - begun < 5
