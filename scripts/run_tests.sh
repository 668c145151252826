#!/usr/bin/env bash
# The test command: creates .venv on first use, installs the pinned requirements, runs pytest.
# Usage: bash scripts/run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh requirements-dev.txt
# The server's playground is tested in Debian's chromium through chromedriver; install them
# when missing and we may (the test fails with the command to run if they are absent).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run_tests.sh: installing chromium and chromium-driver for the playground test" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "run_tests.sh: chromium/chromedriver missing: apt-get install chromium chromium-driver" >&2
  fi
fi
export GLM_SHARED="${GLM_SHARED:-$(cd .. && pwd)/shared}"
# loadgroup: the tests of one server (xdist_group) share a worker and its server processes.
exec python -m pytest -n 2 --dist loadgroup "$@"
