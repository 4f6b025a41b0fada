#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter (the Lambda runtime's version), or explains how to get one.
set -euo pipefail
candidates=()
[ -n "${PYTHON313:-}" ] && candidates+=("$PYTHON313")
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
if command -v pyenv >/dev/null 2>&1; then
  while read -r v; do
    candidates+=("$(pyenv root)/versions/$v/bin/python3.13")
  done < <(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$)' | sort -rV)
fi
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*; do
  [ -x "$dir/bin/python3.13" ] && candidates+=("$dir/bin/python3.13")
done
for py in "${candidates[@]}"; do
  if [ -x "$py" ] && "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' 2>/dev/null; then
    echo "$py"
    exit 0
  fi
done
echo "error: Python 3.13 not found (the Lambda runtime is python3.13)." >&2
echo "       Install it (for example 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13." >&2
exit 1
