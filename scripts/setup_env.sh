# Sourced by the top-level commands: make .venv (once) and install the pinned requirements file
# given as $1. torch is installed first and alone so that no other package can pull a different
# build of it.
set -euo pipefail
req="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
source .venv/bin/activate
stamp=".venv/.installed-$(cat requirements.txt "$req" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet "$(grep -E '^torch==' requirements.txt)"
  python -m pip install --quiet -r "$req"
  touch "$stamp"
fi
