#!/usr/bin/env bash
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs benchmarks/ipvs_table_speed.py in a lab VM of its own and prints its table (see README.md).
#   benchmarks/run_ipvs_table_speed.sh [--services N] [--real-servers M] [--repeat R]
# Needs root, the lab (python3 molecule/lab/lab.py build) and ansible on PATH (make setup).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lab_name=${LVS_BENCH_LAB:-bench}
lab=(python3 molecule/lab/lab.py)
work=$(mktemp -d)
cleanup() { "${lab[@]}" down "$lab_name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"${lab[@]}" build >/dev/null
"${lab[@]}" up "$lab_name" benchmarks/lab.yml >/dev/null
"${lab[@]}" inventory "$lab_name" > "$work/inventory.yml"
tools/collection-tree.sh "$work" >/dev/null

# Ship ipvs_table to the VM the way Ansible does and keep the payload: its exploded form is what
# the benchmark runs, so the module is timed as the process Ansible starts on a director.
ANSIBLE_COLLECTIONS_PATH="$work" ANSIBLE_KEEP_REMOTE_FILES=1 ANSIBLE_PIPELINING=False ANSIBLE_HOST_KEY_CHECKING=False \
  ansible -i "$work/inventory.yml" director -m lvs.ipvs.ipvs_table -a '{"services": []}' >/dev/null
# shellcheck disable=SC2016  # expanded on the VM, not here
"${lab[@]}" ssh "$lab_name" director \
  'set -e; f=$(ls ~/.ansible/tmp/*/AnsiballZ_ipvs_table.py | head -n 1); cd "$(dirname "$f")"; python3 "$f" explode >/dev/null; ln -sfn "$PWD/debug_dir" /root/payload'
"${lab[@]}" ssh "$lab_name" director 'cat > /root/ipvs_table_speed.py' < benchmarks/ipvs_table_speed.py
"${lab[@]}" ssh "$lab_name" director "PYTHONPATH=/root/payload python3 /root/ipvs_table_speed.py --python /usr/bin/python3 $*"
