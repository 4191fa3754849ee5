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
step "pytest $*"
exec .venv/bin/python -m pytest "$@"
