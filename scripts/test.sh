#!/usr/bin/env bash
# One command: set up .venv with the test extras, then lint (ruff), type-check (mypy) and run the test suite.
# Lint and types run first and stop the script on the first failure: they take seconds, the suite minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
step() { printf '==> %s\n' "$*"; }
step "ruff check src tests benchmarks (rules: pyproject.toml [tool.ruff])"
.venv/bin/ruff check src tests benchmarks
step "mypy src (strict on lang/, schema/, compile/: pyproject.toml [tool.mypy])"
.venv/bin/mypy src
# The suite runs on PYTEST_WORKERS processes (default 2, files kept together so module fixtures load once),
# then the modules that measure wall time or race signals run alone (marker `serial`, tests/conftest.py).
# PYTEST_WORKERS=0 runs everything in one process, in one pass.
workers="${PYTEST_WORKERS:-2}"
if [ "$workers" = "0" ]; then
  step "pytest $*"
  exec .venv/bin/python -m pytest "$@"
fi
# pytest's exit 5 = no test selected: fine for one pass when the other ran tests (e.g. one file given), a
# failure when neither did
step "pytest on $workers workers, all but the timing-sensitive tests $*"
first=0
.venv/bin/python -m pytest -n "$workers" --dist loadfile -m "not serial" "$@" || first=$?
step "pytest, the timing-sensitive tests alone $*"
second=0
.venv/bin/python -m pytest -m serial "$@" || second=$?
if [ "$first" = "5" ] && [ "$second" = "5" ]; then exit 5; fi
for rc in "$first" "$second"; do
  if [ "$rc" != "0" ] && [ "$rc" != "5" ]; then exit "$rc"; fi
done
exit 0
