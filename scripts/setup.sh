#!/usr/bin/env bash
# Create .venv (if needed) and install ruleengine with the given extras. Used by README's commands and CI.
# Prints a line per step and pip's own progress: installing numpy, pandas, numba and the rest takes a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
step() { printf '==> %s\n' "$*"; }
if [ ! -x .venv/bin/python ]; then
  step "creating the virtual environment .venv (with $PY)"
  "$PY" -m venv .venv
else
  step "using the existing virtual environment .venv"
fi
step "upgrading pip"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
target="."
[ -n "$extras" ] && target=".[${extras}]"
step "installing ruleengine${extras:+ with the extras [$extras]} and its dependencies (numpy, pandas, numba, ...): about a minute on a fresh machine"
# --progress-bar on: pip shows its bars even when the output is not a terminal
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -e "$target"
step "installed: $(.venv/bin/ruleengine --version)"
step "run the CLI with .venv/bin/ruleengine, or activate the environment first: source .venv/bin/activate"
