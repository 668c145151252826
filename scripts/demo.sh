#!/usr/bin/env bash
# The main job: set up .venv, pretrain a tiny GLM on CPU from offline text, fill blanks with it.
# Usage: bash scripts/demo.sh [--corpus FILES...] [--train-iters N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh requirements.txt
exec python scripts/demo.py "$@"
