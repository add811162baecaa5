#!/usr/bin/env bash
# The demo: boots a lab named `demo` from the DR scenario (client, director, rs1, rs2 on one segment),
# deploys the cluster with playbooks/site.yml, and shows how requests from the client spread over the
# real servers. Run through `make demo`, which puts the pinned tools on PATH first.
# The lab and Molecule's working files are the demo's own (lab `demo`, and an ephemeral directory
# named by this checkout's path), so `molecule test -s dr` runs beside it without the two touching.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=dr
lab=demo
vip=10.20.0.10
requests=40
export LVS_LAB_NAME=$lab
checkout=$(sha256sum <<<"$(pwd -P)" | cut -c1-8)
export MOLECULE_EPHEMERAL_DIRECTORY=${ANSIBLE_HOME:-$HOME/.ansible}/tmp/molecule.$checkout.$lab
env="LVS_LAB_NAME=$LVS_LAB_NAME MOLECULE_EPHEMERAL_DIRECTORY=$MOLECULE_EPHEMERAL_DIRECTORY"

echo "== Booting the lab $lab and deploying the cluster (molecule converge -s $scenario)"
molecule converge -s "$scenario"

echo
echo "== $requests requests from the client to http://$vip/ (weights rs1:rs2 = 1:3)"
python3 molecule/lab/lab.py ssh "$lab" client \
  "for i in \$(seq $requests); do curl -sS --max-time 5 http://$vip/; echo; done | sort | uniq -c"

echo
echo "== The director's table"
python3 molecule/lab/lab.py ssh "$lab" director "ipvsadm -Ln --stats"

cat <<EOT

The lab $lab is still running. To look around:
  .venv/bin/python molecule/lab/lab.py ssh $lab director      (or rs1, rs2, client)
  $env .venv/bin/molecule login -s $scenario -h director
  .venv/bin/python molecule/lab/lab.py status $lab
To tear it down and leave nothing behind:
  $env .venv/bin/molecule destroy -s $scenario
EOT
