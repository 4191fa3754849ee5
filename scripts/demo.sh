#!/usr/bin/env bash
# One command: set up .venv, then run the main job on the bundled example rules (no network, no API key).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
step() { printf '\n==> %s\n' "$*"; }
step "ruleengine validate rules/"
.venv/bin/ruleengine validate rules/
step "ruleengine explain rules/golden_cross.yaml"
.venv/bin/ruleengine explain rules/golden_cross.yaml
# no data path and no FMP_API_KEY: the synthetic sample provider answers, and says so
step "ruleengine backtest rules/golden_cross.yaml --symbols SPY   (synthetic sample data)"
.venv/bin/ruleengine backtest rules/golden_cross.yaml --symbols SPY
step "done. Next: source .venv/bin/activate, then ruleengine --help (or call .venv/bin/ruleengine directly)"
