# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounded HTTP traffic to one URL, counting what failed: the lab's client while a cluster changes.

Python 3 standard library only; it runs on a lab VM (Debian 12, python3.11) or on the controller.

  python3 traffic.py --url http://10.20.0.10:80/ --duration 60 --rate 20 --long-lived 4 --hold 8 \\
      --heartbeat 0.1 --timeout 2 --stop-file /tmp/t.stop --started /tmp/t.started --out /tmp/t.json

New requests: --rate per second, started on a fixed schedule, each in a thread of its own on a new TCP
connection: an HTTP/1.0 GET, the whole reply read until the server closes, then closed. --timeout bounds
connect and reply together. A request is ok when the status is 200; the body, stripped, is the name of
the server that answered (the lab's web servers answer with their host name).

Long-lived connections: --long-lived N HTTP/1.1 keep-alive connections are open at all times. Each sends a
GET every --heartbeat seconds on the same connection (each reply within --timeout), for --hold seconds
(0: the whole run), then closes cleanly and a new one takes its place. A connection is broken when one
of its requests fails (reset, timeout, closed by the peer, a status other than 200, or a reply saying
`Connection: close`, as nginx does after `keepalive_requests`, 1000 by default); its slot then opens a
new one. A connect that fails counts in open_failed, and the slot tries again a heartbeat later.

The run ends after --duration seconds, when --stop-file exists (checked every 0.1 s), or on SIGTERM or
SIGINT. Requests in flight then finish (within --timeout) and the long-lived connections close cleanly,
so the process exits at most --timeout and a little more after the end. Nothing is sent to anything
but --url.

--started FILE is written (JSON: pid, start) once the first request or heartbeat has finished, whatever
its outcome, or after --timeout if none has: from then on traffic is flowing. --out FILE receives the
summary at the end, written whole (a temporary file renamed), so a caller can wait for it to exist;
without --out it is printed. Both files, if left from an earlier run, are removed at the start; a
--stop-file that already exists is an error. Started in the background over ssh:

  setsid nohup python3 traffic.py ... --started S --out O >LOG 2>&1 </dev/null &

The summary (times: seconds since `start`, which is a Unix time like `end`):

  start, end, duration     the run, from its start to the moment it was told to end
  stopped_by               "duration", "stop_file" or "signal"
  url, options             what ran
  requests, ok, failed     new requests started, and how they ended
  failures                 failed new requests by kind: timeout, refused, reset, closed (by the peer
                           before a whole reply), unreachable, http_<status>, other, unfinished
  servers                  ok new requests by the server that answered
  longest_gap              the longest time without an ok new request, counted between the moments ok
                           replies arrived, and from the start to the first and from the last to the end;
  longest_gap_from, _to    where it was
  first_failure, last_failure   when the first and the last failed new request started (null if none)
  failed_requests          the first 200 failed new requests: started, duration, kind, error
  schedule_lag_max         how late the most delayed new request started (a client starved of CPU
                           shows here, not as a gap of the cluster)
  long_lived               opened, completed, broken, open_failed, open_failures (by kind), heartbeats
                           (ok replies on all of them), servers (connections by the server they were on),
                           broken_details: server, reason (a kind as above), error, started, ended,
                           heartbeats (ok replies on it before it broke)
"""

import argparse
import collections
import errno
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

FAILED_KEPT = 200
UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


class Closed(Exception):
    """The peer closed the connection before a whole reply."""


def error_kind(exc):
    """The kind of a failed request, from its exception."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (Closed, http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return "closed"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in UNREACHABLE:
        return "unreachable"
    return "other"


class HTTPStatus(Exception):
    """A whole reply with a status other than 200."""

    def __init__(self, status):
        super().__init__(f"status {status}")
        self.kind = f"http_{status}"


class Target:
    """Where the traffic goes: http://host[:port]/path only."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// URL with a host: {url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.once = f"GET {self.path} HTTP/1.0\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()

    def get_once(self, timeout):
        """One GET on a new connection; return the reply body. Raise on anything but a whole 200 reply."""
        deadline = time.monotonic() + timeout
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.settimeout(_left(deadline))
            sock.sendall(self.once)
            data = b""
            while True:
                sock.settimeout(_left(deadline))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > 1 << 20:
                    raise ValueError("a reply of more than 1 MiB")
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            raise Closed(f"connection closed after {len(data)} bytes, before a whole reply")
        status = head.split(b"\r\n", 1)[0].split()
        if len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
            raise ValueError(f"not an HTTP reply: {head[:80]!r}")
        if status[1] != b"200":
            raise HTTPStatus(int(status[1]))
        return body

    def keep_alive(self, timeout):
        """An open HTTP/1.1 connection that never reconnects by itself."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.connect()
        conn.auto_open = 0
        return conn


def _left(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no whole reply in time")
    return left


def kind_of(exc):
    return exc.kind if isinstance(exc, HTTPStatus) else error_kind(exc)


def server_name(body):
    return body.decode("utf-8", "replace").strip()[:100]


class Traffic:
    """One run: the new requests' schedule, the long-lived connections' slots, and what they recorded."""

    def __init__(self, target, args):
        self.target = target
        self.args = args
        self.stop = threading.Event()
        self.first = threading.Event()  # something has finished: traffic flows
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.requests = []  # started, duration, kind (None: ok), server or error
        self.request_threads = []
        self.in_flight = 0
        self.schedule_lag = 0.0
        self.conns = []  # finished long-lived connections
        self.opened = 0
        self.open_failures = {}

    def now(self):
        return time.monotonic() - self.t0

    def schedule(self):
        """Start new requests at --rate per second until the end, each in a thread, never in a burst of catch-up
        beyond what is due."""
        i = 0
        while True:
            due = i / self.args.rate
            wait = due - self.now()
            if (wait > 0 and self.stop.wait(wait)) or self.stop.is_set():
                return
            self.schedule_lag = max(self.schedule_lag, self.now() - due)
            with self.lock:
                self.in_flight += 1
            thread = threading.Thread(target=self.request, daemon=True)
            thread.start()
            self.request_threads.append(thread)
            i += 1

    def request(self):
        started = self.now()
        record = {"started": started, "kind": None}
        try:
            record["server"] = server_name(self.target.get_once(self.args.timeout))
        except Exception as exc:  # pylint: disable=broad-except  # every failure is counted, none ends the run
            record.update(kind=kind_of(exc), error=f"{type(exc).__name__}: {exc}")
        record["duration"] = self.now() - started
        with self.lock:
            self.requests.append(record)
            self.in_flight -= 1
        self.first.set()

    def hold(self):
        """One long-lived slot: a keep-alive connection at a time, until the end."""
        while not self.stop.is_set():
            try:
                conn = self.target.keep_alive(self.args.timeout)
            except OSError as exc:
                self.first.set()
                with self.lock:
                    kind = error_kind(exc)
                    self.open_failures[kind] = self.open_failures.get(kind, 0) + 1
                self.stop.wait(max(self.args.heartbeat, 0.1))
                continue
            with self.lock:
                self.opened += 1
            record = {"server": None, "reason": None, "error": None, "started": self.now(), "heartbeats": 0}
            try:
                self.heartbeats(conn, record)
            except Exception as exc:  # pylint: disable=broad-except  # a broken connection is a result
                record.update(reason=kind_of(exc), error=f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()
            self.first.set()
            record["ended"] = self.now()
            with self.lock:
                self.conns.append(record)

    def heartbeats(self, conn, record):
        end = record["started"] + self.args.hold if self.args.hold else float("inf")
        beat = record["started"]
        while True:
            conn.request("GET", self.target.path)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 200:
                raise HTTPStatus(reply.status)
            if record["server"] is None:
                record["server"] = server_name(body)
            record["heartbeats"] += 1
            if reply.will_close:
                raise Closed("the server ended the keep-alive connection (Connection: close)")
            beat += self.args.heartbeat
            if self.stop.wait(max(min(beat, end) - self.now(), 0)) or beat >= end:
                return

    def summary(self, end, stopped_by, start_time):
        def r(value):
            return None if value is None else round(value, 3)

        unfinished = self.in_flight
        ok = [req for req in self.requests if req["kind"] is None]
        failed = sorted((req for req in self.requests if req["kind"] is not None), key=lambda req: req["started"])
        points = [0.0] + sorted(min(req["started"] + req["duration"], end) for req in ok) + [end]
        gap, gap_from = max((b - a, a) for a, b in zip(points, points[1:]))
        failures = collections.Counter(req["kind"] for req in failed)
        if unfinished:
            failures["unfinished"] = unfinished
        broken = sorted((conn for conn in self.conns if conn["reason"]), key=lambda conn: conn["started"])
        args = self.args
        return {
            "url": args.url,
            "options": {"duration": args.duration, "rate": args.rate, "timeout": args.timeout,
                        "long_lived": args.long_lived, "hold": args.hold, "heartbeat": args.heartbeat},
            "start": round(start_time, 3),
            "end": round(start_time + end, 3),
            "duration": r(end),
            "stopped_by": stopped_by,
            "requests": len(self.requests) + unfinished,
            "ok": len(ok),
            "failed": len(failed) + unfinished,
            "failures": dict(failures),
            "servers": dict(collections.Counter(req["server"] for req in ok)),
            "longest_gap": r(gap),
            "longest_gap_from": r(gap_from),
            "longest_gap_to": r(gap_from + gap),
            "first_failure": r(failed[0]["started"]) if failed else None,
            "last_failure": r(failed[-1]["started"]) if failed else None,
            "failed_requests": [{"started": r(req["started"]), "duration": r(req["duration"]), "kind": req["kind"], "error": req["error"]}
                                for req in failed[:FAILED_KEPT]],
            "schedule_lag_max": r(self.schedule_lag),
            "long_lived": {
                "opened": self.opened,
                "completed": len(self.conns) - len(broken),
                "broken": len(broken),
                "open_failed": sum(self.open_failures.values()),
                "open_failures": self.open_failures,
                "heartbeats": sum(c["heartbeats"] for c in self.conns),
                "servers": dict(collections.Counter(conn["server"] for conn in self.conns if conn["server"] is not None)),
                "broken_details": [{"server": conn["server"], "reason": conn["reason"], "error": conn["error"],
                                    "started": r(conn["started"]), "ended": r(conn["ended"]), "heartbeats": conn["heartbeats"]}
                                   for conn in broken],
            },
        }


def write_json(path, data):
    """Write PATH whole: a reader that sees it sees all of it."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def remove(path):
    if path and os.path.lexists(path):
        os.unlink(path)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True, help="http://host[:port]/path, the only place traffic goes")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the run lasts at most (default 60)")
    parser.add_argument("--rate", type=float, default=10.0, help="new requests per second (default 10; 0: none)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds for connect and reply (default 2)")
    parser.add_argument("--long-lived", type=int, default=0, help="keep-alive connections open at all times (default 0)")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds each long-lived connection lives (default 10; 0: the whole run)")
    parser.add_argument("--heartbeat", type=float, default=0.2, help="seconds between the requests of a long-lived connection (default 0.2)")
    parser.add_argument("--stop-file", help="end the run early once this file exists")
    parser.add_argument("--started", help="write this file once traffic flows")
    parser.add_argument("--out", help="write the JSON summary here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        Target(args.url)
    except ValueError as exc:
        parser.error(str(exc))
    if args.duration <= 0 or args.timeout <= 0 or args.rate < 0 or args.long_lived < 0 or args.hold < 0:
        parser.error("--duration and --timeout must be positive; --rate, --long-lived and --hold not negative")
    if args.long_lived and args.heartbeat <= 0:
        parser.error("--heartbeat must be positive")
    if not args.rate and not args.long_lived:
        parser.error("nothing to send: --rate and --long-lived are both 0")
    if args.stop_file and os.path.lexists(args.stop_file):
        parser.error(f"the stop file {args.stop_file} exists already; remove it first")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    remove(args.out)
    remove(args.started)
    stopped_by = []

    def on_signal(_signum, _frame):
        stopped_by.append("signal")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.stack_size(512 * 1024)  # a thread per request in flight, on a VM of 256 MiB
    start_time = time.time()
    traffic = Traffic(Target(args.url), args)
    threads = [threading.Thread(target=traffic.hold, daemon=True) for slot in range(args.long_lived)]
    if args.rate:
        threads.append(threading.Thread(target=traffic.schedule, daemon=True))
    for thread in threads:
        thread.start()
    started = False
    while not stopped_by:
        if args.stop_file and os.path.exists(args.stop_file):
            stopped_by.append("stop_file")
        elif traffic.now() >= args.duration:
            stopped_by.append("duration")
        elif not started and (traffic.first.is_set() or traffic.now() >= args.timeout):
            if args.started:
                write_json(args.started, {"pid": os.getpid(), "start": round(start_time, 3)})
            started = True
        else:
            time.sleep(min(0.1, max(args.duration - traffic.now(), 0)))
    end = traffic.now()
    traffic.stop.set()
    # Requests in flight finish within --timeout, and so does the last heartbeat of each connection.
    deadline = time.monotonic() + args.timeout + 1
    for thread in threads:  # the scheduler among them: after it, no request thread starts
        thread.join(max(deadline - time.monotonic(), 0))
    for thread in traffic.request_threads:
        thread.join(max(deadline - time.monotonic(), 0))
    with traffic.lock:
        summary = traffic.summary(end, stopped_by[0], start_time)
    if args.out:
        write_json(args.out, summary)
    else:
        json.dump(summary, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
