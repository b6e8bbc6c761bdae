#!/usr/bin/env bash
# Install dspark-chat with its test dependencies into ./.venv and run the whole test suite (what CI runs).
# Builds llama-cpp-python (CPU) from source where no wheel exists: about 3 minutes on 2 cores, once; pip keeps the
# wheel in its cache, so later runs and fresh clones on the same machine reuse it.
# Arguments go to pytest (e.g. `bash .ci/run tests/test_cli_help.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the end-to-end tests drive (a real terminal via tmux). Installed only when missing.
if ! command -v tmux >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null && apt-get install -y -qq tmux >/dev/null
    elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq tmux >/dev/null
    else
        echo "dev-test: tmux is missing and cannot be installed here; install it (brew/apt) and rerun" >&2
        exit 1
    fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# The llama.cpp patches install.sh applies to GPU builds are tested against a CPU build of the patched source (built
# once into .venv, about 2-4 minutes on 2 cores; see packaging/patched_cpu_lib.sh). A folder already named in one of
# the variables is used as it is.
if [ -z "${DSPARK_TEST_PATCHED_LIB:-}${DSPARK_TEST_SWITCH_LIB:-}${DSPARK_TEST_ROWS_LIB:-}" ]; then
    # cmake and ninja from PyPI where the machine lacks them (pip fetched them the same way to build llama-cpp-python)
    command -v cmake >/dev/null 2>&1 || [ -x .venv/bin/cmake ] || .venv/bin/python -m pip install -q cmake ninja
    patched=$(PATH="$PWD/.venv/bin:$PATH" bash packaging/patched_cpu_lib.sh .venv/patched-llama .venv/bin/python)
    export DSPARK_TEST_PATCHED_LIB=$patched DSPARK_TEST_SWITCH_LIB=$patched DSPARK_TEST_ROWS_LIB=$patched
fi

# pytest's exit code 5 means it collected no test: a green run that tested nothing must not pass.
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "dev-test: pytest collected no tests; failing the run" >&2
    exit 1
fi
exit "$status"
