# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How fast lvs.ipvs.ipvs_table is, next to ``ipvsadm -R``, on one director.

Run as root on a machine with IPVS (a lab VM: see benchmarks/README.md), with
PYTHONPATH giving ``ansible.module_utils`` and ``ansible_collections.lvs.ipvs``
(for example an exploded AnsiballZ payload of the module).  It changes the
IPVS table of that machine: it is cleared at the start and at the end.

Measured, each as the wall time of one process, as Ansible would start it:
  1. ``ipvsadm -R`` loading N services x M real servers into an empty table;
  2. ipvs_table building the same table from empty;
  3. ipvs_table run again with nothing to change;
  4. ipvs_table changing the weight of one real server (and how many netlink
     change requests that sent).
The table each run leaves is compared with the rules (``ipvsadm -Sn``), so a
fast but wrong run cannot pass.  The addresses are from 198.18.0.0/15 (RFC
2544, for benchmarks); no packet is sent to them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def addresses(services, real_servers):
    """VIP and real server addresses in 198.18.0.0/15, all distinct."""
    table = []
    for index in range(services):
        vip = '198.18.%d.%d' % (index // 250, index % 250 + 1)
        reals = ['198.19.%d.%d' % ((index * real_servers + j) // 250, (index * real_servers + j) % 250 + 1)
                 for j in range(real_servers)]
        table.append((vip, reals))
    return table


def ipvsadm_rules(table):
    lines = []
    for vip, reals in table:
        lines.append('-A -t %s:80 -s wrr' % vip)
        for number, real in enumerate(reals):
            lines.append('-a -t %s:80 -r %s:80 -g -w %d' % (vip, real, number % 5 + 1))
    return '\n'.join(lines) + '\n'


def module_args(table, changed_weight=False):
    services = []
    for vip, reals in table:
        services.append({
            'vip': vip, 'port': 80, 'scheduler': 'wrr', 'forwarding': 'dr',
            'real_servers': [{'address': real, 'weight': number % 5 + 1} for number, real in enumerate(reals)],
        })
    if changed_weight:
        services[len(services) // 2]['real_servers'][3]['weight'] = 50
    return {'ANSIBLE_MODULE_ARGS': {'services': services, 'purge': True}}


def saved_table():
    out = subprocess.run(['ipvsadm', '-Sn'], check=True, capture_output=True, text=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def clear():
    subprocess.run(['ipvsadm', '-C'], check=True)


def timed(command, stdin=None):
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit('%s failed (%d): %s %s' % (' '.join(command), done.returncode, done.stdout[-2000:], done.stderr[-2000:]))
    return elapsed, done.stdout


@contextlib.contextmanager
def args_file(args):
    """The module's arguments in a temporary JSON file, as Ansible hands them over; removed afterwards."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump(args, handle)
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


def run_module(python, args):
    with args_file(args) as path:
        elapsed, out = timed([python, '-m', 'ansible_collections.lvs.ipvs.plugins.modules.ipvs_table', path])
    result = json.loads(out[out.index('{'):])
    if result.get('failed'):
        sys.exit('ipvs_table failed: %s' % result.get('msg'))
    return elapsed, result


def inner(path):
    """In this process: Ansible's handling of the arguments, then the module's
    own work (ipvs_table's flow: read the table, validate, plan, apply), each
    timed apart; prints them as JSON.  Run as a child with the module's
    arguments file, like the module itself."""
    start = time.perf_counter()
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import argspec, engine, table
    imported = time.perf_counter()
    sys.argv = [sys.argv[0], path]
    module = AnsibleModule(**argspec.ipvs_table_spec())
    validated = time.perf_counter()
    session = engine.Session(module)
    try:
        result = table.table_flow(module, session)
    finally:
        session.close()
    done = time.perf_counter()
    print(json.dumps(dict(imports=imported - start, arguments=validated - imported, work=done - validated,
                          changed=result['changed'], requests=result['netlink_requests'])))


def run_inner(python, args):
    with args_file(args) as path:
        _elapsed, out = timed([python, os.path.abspath(__file__), '--inner', path])
    return json.loads(out.strip().splitlines()[-1])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--inner':
        inner(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--services', type=int, default=1000)
    parser.add_argument('--real-servers', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=3, help='runs of each measurement; the median is reported')
    parser.add_argument('--python', default=sys.executable, help='the interpreter Ansible uses on this host')
    options = parser.parse_args()

    table = addresses(options.services, options.real_servers)
    rules = ipvsadm_rules(table)
    expected = sorted(rules.splitlines())
    full = module_args(table)
    one_weight = module_args(table, changed_weight=True)
    objects = options.services * (1 + options.real_servers)
    subprocess.run(['modprobe', 'ip_vs'], check=True)
    subprocess.run(['modprobe', 'ip_vs_wrr'], check=True)

    restore, build, noop, weight = [], [], [], []
    empty, imports, arguments, work = [], [], [], []
    requests = set()
    for _round in range(options.repeat):
        clear()
        restore.append(timed(['ipvsadm', '-R'], stdin=rules)[0])
        if saved_table() != expected:
            sys.exit('ipvsadm -R did not load the rules as written')
        clear()
        elapsed, result = run_module(options.python, full)
        build.append(elapsed)
        if not result['changed'] or result['netlink_requests'] != objects or saved_table() != expected:
            sys.exit('ipvs_table did not build the table: %s requests' % result['netlink_requests'])
        elapsed, result = run_module(options.python, full)
        noop.append(elapsed)
        if result['changed'] or result['netlink_requests'] != 0:
            sys.exit('ipvs_table changed something on a second run: %s' % result['operations'][:5])
        parts = run_inner(options.python, full)
        if parts['changed'] or parts['requests'] != 0:
            sys.exit('ipvs_table changed something on a run in-process')
        imports.append(parts['imports'])
        arguments.append(parts['arguments'])
        work.append(parts['work'])
        elapsed, result = run_module(options.python, {'ANSIBLE_MODULE_ARGS': {'services': []}})
        empty.append(elapsed)
        elapsed, result = run_module(options.python, one_weight)
        weight.append(elapsed)
        requests.add(result['netlink_requests'])
        if len(result['operations']) != 1 or saved_table() == expected:
            sys.exit('changing one weight did not make exactly one change: %s' % result['operations'][:5])
    clear()

    ipvsadm_time = statistics.median(restore)
    build_time = statistics.median(build)
    noop_time = statistics.median(noop)
    weight_time = statistics.median(weight)
    empty_time, imports_time = statistics.median(empty), statistics.median(imports)
    arguments_time, work_time = statistics.median(arguments), statistics.median(work)
    print('IPVS table of %d services x %d real servers (%d objects), kernel %s, median of %d runs'
          % (options.services, options.real_servers, objects, os.uname().release, options.repeat))
    print('%-46s %8s %10s' % ('', 'seconds', 'ratio'))
    print('%-46s %8.2f %10s' % ('ipvsadm -R, empty table', ipvsadm_time, '1.00'))
    print('%-46s %8.2f %10.2f' % ('ipvs_table, empty table (vs ipvsadm -R)', build_time, build_time / ipvsadm_time))
    print('%-46s %8.2f %10.2f' % ('ipvs_table, nothing to change (vs ipvsadm -R)', noop_time, noop_time / ipvsadm_time))
    print('%-46s %8s %10.2f' % ('ipvs_table, nothing to change (vs its build)', '', noop_time / build_time))
    print('%-46s %8.2f %10s' % ('ipvs_table, one weight changed', weight_time, ''))
    print('nothing to change, piece by piece (in one process, after the interpreter started):')
    print('%-46s %8.2f %10.2f' % ('  importing Ansible basic, the module_utils', imports_time, imports_time / ipvsadm_time))
    print('%-46s %8.2f %10.2f' % ('  Ansible checking the %d arguments' % objects, arguments_time,
                                  arguments_time / ipvsadm_time))
    print('%-46s %8.2f %10.2f' % ('  the module\'s work: read, validate, plan', work_time, work_time / ipvsadm_time))
    print('%-46s %8.2f %10.2f' % ('ipvs_table with no services (fixed cost)', empty_time, empty_time / ipvsadm_time))
    print('netlink change requests for one weight: %s' % ', '.join(str(count) for count in sorted(requests)))
    print('all runs: ipvsadm -R %s; build %s; no change %s (its work %s); one weight %s' % tuple(
        ' '.join('%.2f' % value for value in values) for values in (restore, build, noop, work, weight)))


if __name__ == '__main__':
    main()
