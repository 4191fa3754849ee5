#!/usr/bin/env bash
# Create .venv (if needed) and install ruleengine with the given extras. Used by README's commands and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi
