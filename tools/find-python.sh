#!/usr/bin/env bash
# Print the newest Python interpreter from version $1 to version $2 (for example 3.12 3.14) that can
# make virtual environments: python3.N on PATH, or one of pyenv's installed versions (PYENV_ROOT, or
# what `pyenv root` says). Prints nothing when there is none.
set -uo pipefail

low=$1 high=$2
candidates=()
for minor in $(seq "${low#3.}" "${high#3.}"); do
  candidates+=("python3.$minor")
done
root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || true)}
if [ -n "$root" ]; then
  for python in "$root"/versions/3.*/bin/python3; do
    [ -x "$python" ] && candidates+=("$python")
  done
fi

found=()
for python in "${candidates[@]}"; do
  # A pyenv shim of a version that is not selected fails here, as does anything outside the range.
  version=$("$python" - "$low" "$high" 2>/dev/null <<'PY'
import ensurepip, sys, venv  # noqa: F401  what a virtual environment with pip needs
low, high = (tuple(int(part) for part in arg.split('.')) for arg in sys.argv[1:])
if not low <= sys.version_info[:2] <= high:
    sys.exit(1)
print('%d.%d' % sys.version_info[:2])
PY
) || continue
  found+=("$version $(command -v "$python")")
done
[ ${#found[@]} -gt 0 ] && printf '%s\n' "${found[@]}" | sort -V | tail -1 | cut -d' ' -f2-
exit 0
