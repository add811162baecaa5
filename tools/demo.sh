#!/usr/bin/env bash
# The demo: `tools/demo.sh up` boots the lab `demo` from the Molecule scenario molecule/demo (client,
# director, rs1, rs2 on one segment), deploys the cluster with playbooks/site.yml, and shows how
# requests from the client spread over the real servers; `tools/demo.sh down` removes it all.
# Run through `make demo` and `make demo-stop`, which put the pinned tools on PATH first.
# Molecule's working files go to a directory named by this checkout's path, so two clones each
# have their own demo; no test scenario shares the demo's name, lab or Molecule state.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=demo
requests=40
checkout=$(sha256sum <<<"$(pwd -P)" | cut -c1-8)
export MOLECULE_EPHEMERAL_DIRECTORY=${ANSIBLE_HOME:-$HOME/.ansible}/tmp/molecule.$checkout.$scenario

case "${1:-up}" in
  down)
    molecule destroy -s "$scenario"
    exit 0
    ;;
  up) ;;
  *)
    echo "usage: $0 [up|down]" >&2
    exit 2
    ;;
esac

# The first service of the demo's model: its VIP, port and weights, as the heading shows them.
read -r vip port weights < <(python3 - <<'PY'
import yaml
with open("molecule/demo/molecule.yml", encoding="utf-8") as handle:
    service = yaml.safe_load(handle)["provisioner"]["inventory"]["group_vars"]["all"]["lvs_virtual_services"][0]
names = [real_server["host"] for real_server in service["real_servers"]]
print(service["vip"], service["port"], "%s = %s" % (":".join(names), ":".join(
    str(real_server.get("weight", 1)) for real_server in service["real_servers"])))
PY
)

echo "== Booting the lab $scenario and deploying the cluster (molecule converge -s $scenario)"
molecule converge -s "$scenario"

echo
echo "== $requests requests from the client to http://$vip:$port/ (weights $weights)"
python3 molecule/lab/lab.py ssh "$scenario" client \
  "for i in \$(seq $requests); do curl -sS --max-time 5 http://$vip:$port/; echo; done | sort | uniq -c"

echo
echo "== The director's table"
python3 molecule/lab/lab.py ssh "$scenario" director "ipvsadm -Ln --stats"

cat <<EOT

The lab $scenario is still running. To look around, from this directory:
  .venv/bin/python molecule/lab/lab.py ssh $scenario director      (or rs1, rs2, client)
  .venv/bin/python molecule/lab/lab.py status $scenario
To change the cluster, edit molecule/demo/molecule.yml and run make demo again.
To tear it down and leave nothing behind:
  make demo-stop
EOT
