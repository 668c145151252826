#!/usr/bin/env bash
# The test command: creates .venv on first use, installs the pinned requirements, runs pytest.
# Usage: bash scripts/run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh requirements-dev.txt
export GLM_SHARED="${GLM_SHARED:-$(cd .. && pwd)/shared}"
exec python -m pytest -n 2 "$@"
