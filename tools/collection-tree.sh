#!/usr/bin/env bash
# Lay the working tree out as ansible_collections/lvs/ipvs under the given directory,
# the layout that ansible-test and imports of ansible_collections.lvs.ipvs need.
# Only files git knows of (tracked, or new and not ignored) are copied.
set -euo pipefail

dest="$1/ansible_collections/lvs/ipvs"
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard \
  | tar --null --files-from=- --ignore-failed-read --warning=no-failed-read -cf - \
  | tar -xf - -C "$dest"
# ansible-test lists a collection's files with git when it sits in a work tree; give the
# copy a repository of its own, or it would find this one, where .build is ignored.
git -C "$dest" init -q
echo "$dest"
