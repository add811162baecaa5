#!/usr/bin/env bash
# Install a built collection tarball apart, as a user would, and check it with the ansible-core of
# one virtual environment (for `make build`):
#   - ansible-doc lists every module of plugins/modules, renders each page, with no (!UNKNOWN) author;
#   - the roles' argument specs render (ansible-doc -t role);
#   - the playbook is callable by its FQCN: ansible-playbook lvs.ipvs.site --syntax-check;
#   - the action groups of meta/runtime.yml reach their modules (installed_collection/action_groups.yml).
# Usage: tools/check_installed_collection.sh VENV_BIN TARBALL DEST
set -euo pipefail

bin=$1 tarball=$2 dest=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$("$bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))')
echo "== the installed collection under ansible-core $version"

rm -rf "$dest"
mkdir -p "$dest"
"$bin/ansible-galaxy" collection install --offline --force -p "$dest" "$tarball" >"$dest/install.log" 2>&1 \
  || { cat "$dest/install.log"; exit 1; }
export ANSIBLE_COLLECTIONS_PATH="$dest" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_DEPRECATION_WARNINGS=0
fail() { echo "check_installed_collection (ansible-core $version): $*"; exit 1; }

"$bin/ansible-doc" -l lvs.ipvs >"$dest/modules.txt"
for path in "$here"/../plugins/modules/*.py; do
  module=$(basename "$path" .py)
  grep -q "^lvs\.ipvs\.$module " "$dest/modules.txt" || fail "lvs.ipvs.$module is missing from ansible-doc -l"
  "$bin/ansible-doc" "lvs.ipvs.$module" >"$dest/$module.txt" 2>&1 || { cat "$dest/$module.txt"; fail "ansible-doc lvs.ipvs.$module failed"; }
  if grep -q '!UNKNOWN' "$dest/$module.txt"; then fail "ansible-doc lvs.ipvs.$module shows an (!UNKNOWN) author"; fi
done
echo "ansible-doc: $(wc -l <"$dest/modules.txt") modules listed and rendered"

roles=()
for path in "$here"/../roles/*/; do
  role=$(basename "$path")
  roles+=("$role")
  "$bin/ansible-doc" -t role "lvs.ipvs.$role" >"$dest/role-$role.txt" 2>&1 \
    || { cat "$dest/role-$role.txt"; fail "ansible-doc -t role lvs.ipvs.$role failed"; }
done
echo "ansible-doc -t role: ${roles[*]} rendered"

"$bin/ansible-playbook" lvs.ipvs.site --syntax-check -i localhost, >"$dest/site.txt" 2>&1 \
  || { cat "$dest/site.txt"; fail "ansible-playbook lvs.ipvs.site --syntax-check failed"; }
echo "ansible-playbook lvs.ipvs.site --syntax-check: $(tail -1 "$dest/site.txt")"

"$bin/ansible-playbook" -i localhost, "$here/installed_collection/action_groups.yml" >"$dest/action_groups.txt" 2>&1 \
  || { cat "$dest/action_groups.txt"; fail "the action groups do not reach their modules"; }
echo "action groups: $(grep -A1 '^PLAY RECAP' "$dest/action_groups.txt" | tail -1 | tr -s ' ')"
