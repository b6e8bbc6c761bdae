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

# pytest's exit code 5 means it collected no test: a green run that tested nothing must not pass.
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "dev-test: pytest collected no tests; failing the run" >&2
    exit 1
fi
exit "$status"
