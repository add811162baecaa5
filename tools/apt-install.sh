#!/usr/bin/env bash
# Install the Debian packages listed in the given files that are not installed yet.
# Lines hold one package name each; '#' starts a comment. Nothing is reinstalled,
# and 'apt-get update' runs only when something is missing.
set -euo pipefail

missing=()
while read -r pkg; do
  [ -n "$pkg" ] || continue
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@" | sort -u)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "apt: every listed package is installed"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "apt: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
