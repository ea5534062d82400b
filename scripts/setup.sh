#!/usr/bin/env bash
# Set up newsdesk in ./.venv: the CPU build of torch first (so no CUDA packages are pulled),
# then the project and its test tools, pinned by requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -c requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test,dev]"
echo "newsdesk is set up in .venv (run .venv/bin/newsdesk --help)" >&2
