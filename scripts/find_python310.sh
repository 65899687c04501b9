#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter, or explains how to get one.
# TFX 1.16 supports Python 3.9-3.10 only, so the project pins 3.10.
set -u
want="3.10"
candidates=("${PYTHON:-}" python3.10)
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  if p=$(PYENV_VERSION="${PYENV_VERSION:-$want}" command -v "$c" 2>/dev/null) &&
     v=$(PYENV_VERSION="${PYENV_VERSION:-$want}" "$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) &&
     [ "$v" = "$want" ]; then
    # Resolve pyenv shims to the real interpreter so the venv does not depend on PYENV_VERSION.
    PYENV_VERSION="${PYENV_VERSION:-$want}" "$p" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  p=$(pyenv root)/versions/$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | tail -1)/bin/python3.10
  if [ -x "$p" ]; then echo "$p"; exit 0; fi
fi
cat >&2 <<MSG
error: no Python $want interpreter found (TFX 1.16 supports Python 3.9-3.10 only).
Install one and retry, for example:
  pyenv install 3.10 && pyenv local 3.10       # with pyenv (this repo's .python-version says 3.10)
  sudo apt-get install python3.10 python3.10-venv   # Debian/Ubuntu (deadsnakes PPA on older releases)
or point PYTHON at an existing interpreter: make test PYTHON=/path/to/python3.10
MSG
exit 1
