# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run Molecule scenarios side by side and print one summary.

    python tools/run_scenarios.py [--jobs N] [--logs DIR] SCENARIO...

Each scenario runs ``molecule test -s SCENARIO`` with its output in DIR/SCENARIO.log; each has
a lab of its own (own run directory, switches and ports), so they do not collide. The VMs'
console logs are kept in DIR/consoles/LAB/ (LVS_LAB_LOG_DIR, unless already set), so a VM that
hung or did not come back can be looked at after its lab is gone. Molecule's working files of each
scenario go to ~/.ansible/tmp/molecule.CHECKOUT.SCENARIO (MOLECULE_EPHEMERAL_DIRECTORY), CHECKOUT
a hash of this checkout's path: Molecule's default name holds only the checkout's directory name,
so two clones of the same name would share it. A failed scenario's log tail is printed. The last
line reads "N passed, N failed".
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

TAIL_LINES = 60
CHECKOUT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
RUNNING: set[subprocess.Popen] = set()
LOCK = threading.Lock()


def ephemeral_directory(scenario: str) -> str:
    """Molecule's working directory for SCENARIO of this checkout: where Molecule keeps its own, but named
    by the checkout's whole path, and short (ssh's control sockets live in it)."""
    key = hashlib.sha256(CHECKOUT.encode()).hexdigest()[:8]
    home = os.path.expanduser(os.environ.get('ANSIBLE_HOME', '~/.ansible'))
    return os.path.join(home, 'tmp', f'molecule.{key}.{scenario}')


def run(scenario: str, logs: str) -> tuple[str, int, float]:
    """Run one scenario; return its name, exit code and duration in seconds."""
    path = os.path.join(logs, scenario + '.log')
    env = dict(os.environ, MOLECULE_EPHEMERAL_DIRECTORY=ephemeral_directory(scenario))
    started = time.monotonic()
    with open(path, 'wb') as log:
        with subprocess.Popen(['molecule', 'test', '-s', scenario], stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True, env=env) as process:
            with LOCK:
                RUNNING.add(process)
            code = process.wait()
            with LOCK:
                RUNNING.discard(process)
    duration = time.monotonic() - started
    print(f'{scenario}: {"passed" if code == 0 else "FAILED"} in {duration:.0f} s', flush=True)
    return scenario, code, duration


def stop_all(signum, _frame) -> None:
    """Pass an interrupt on to every running scenario (each in a session of its own)."""
    with LOCK:
        for process in RUNNING:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                pass
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=3, help='scenarios run at once')
    parser.add_argument('--logs', default='.build/molecule-logs', help='directory for the logs')
    parser.add_argument('scenarios', nargs='+')
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    os.environ.setdefault('LVS_LAB_LOG_DIR', os.path.abspath(os.path.join(args.logs, 'consoles')))
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)

    print(f'molecule: {len(args.scenarios)} scenarios, {args.jobs} at a time, logs in {args.logs}/, '
          f'VM consoles in {os.environ["LVS_LAB_LOG_DIR"]}/', flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda scenario: run(scenario, args.logs), args.scenarios))

    failed = [result[0] for result in results if result[1] != 0]
    for scenario in failed:
        with open(os.path.join(args.logs, scenario + '.log'), encoding='utf-8', errors='replace') as log:
            tail = log.read().splitlines()[-TAIL_LINES:]
        print(f'\n===== {scenario}: last {len(tail)} lines of its log =====')
        print('\n'.join(tail))
    print()
    for scenario, code, duration in results:
        print(f'  {scenario:<16} {"passed" if code == 0 else "FAILED":<7} {duration:6.0f} s')
    print(f'molecule: {len(results) - len(failed)} passed, {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
