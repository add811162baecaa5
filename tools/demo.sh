#!/usr/bin/env bash
# The demo: boots the DR scenario's lab (client, director, rs1, rs2 on one segment), deploys the
# cluster with playbooks/site.yml, and shows how requests from the client spread over the real
# servers. Run through `make demo`, which puts the pinned tools on PATH first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=dr
vip=10.20.0.10
requests=40

echo "== Booting the lab and deploying the cluster (molecule converge -s $scenario)"
molecule converge -s "$scenario"

echo
echo "== $requests requests from the client to http://$vip/ (weights rs1:rs2 = 1:3)"
python3 molecule/lab/lab.py ssh "$scenario" client \
  "for i in \$(seq $requests); do curl -sS --max-time 5 http://$vip/; echo; done | sort | uniq -c"

echo
echo "== The director's table"
python3 molecule/lab/lab.py ssh "$scenario" director "ipvsadm -Ln --stats"

cat <<EOT

The lab is still running. To look around:
  .venv/bin/molecule login -s $scenario -h director      (or -h rs1, -h rs2, -h client)
  .venv/bin/python molecule/lab/lab.py status
To tear it down and leave nothing behind:
  .venv/bin/molecule destroy -s $scenario
EOT
