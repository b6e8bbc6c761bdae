#!/usr/bin/env bash
# Offline installs for air-gapped machines: build a folder of wheels (dspark-chat, llama-cpp-python built for a
# backend, every dependency, the weights of the embedded models) on a connected machine, carry it over, install
# from it with no index.
#
#   packaging/wheelhouse.sh build   --dir wheelhouse [--backend cuda --cuda-arch 121]   # on a connected machine
#   packaging/wheelhouse.sh install --dir wheelhouse [--venv ~/.dspark-chat]          # on the air-gapped one
#
# Wheels are for one OS, CPU architecture and Python version: build on a machine like the target (same Python
# minor version; aarch64 for a DGX Spark). Both steps take --dry-run (print every command, run none).
set -euo pipefail
SCRIPT_NAME=wheelhouse.sh
# shellcheck source=packaging/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
options:
  --dir DIR          the wheelhouse (default ./wheelhouse)
  --backend B        build: cpu, cuda, metal, vulkan or auto (default cpu: the portable choice)
  --cuda-arch N      build: CMAKE_CUDA_ARCHITECTURES for the target's GPU (121 for GB10)
  --find-links DIR   build: take an already built llama-cpp-python wheel from DIR instead of building one
  --python PY        the Python to use (default python3)
  --venv DIR         install: the virtual environment to create (default ./.venv)
  --from SPEC        build: what to package (default this repository)
  --dry-run          print the commands, run nothing
EOF
}

ACTION=${1:-}
[ $# -gt 0 ] && shift
case $ACTION in
    build|install) ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "say what to do: build or install" ;;
esac

ROOT=$(repo_root)
DIR="$PWD/wheelhouse"
BACKEND=cpu
CUDA_ARCH=""
FIND_LINKS=""
PY=python3
VENV="$PWD/.venv"
SOURCE="$ROOT"
while [ $# -gt 0 ]; do
    case $1 in
        --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
        --backend) BACKEND=${2:?--backend needs a value}; shift 2 ;;
        --cuda-arch) CUDA_ARCH=${2:?--cuda-arch needs a value}; shift 2 ;;
        --find-links) FIND_LINKS=${2:?--find-links needs a value}; shift 2 ;;
        --python) PY=${2:?--python needs a value}; shift 2 ;;
        --venv) VENV=${2:?--venv needs a value}; shift 2 ;;
        --from) SOURCE=${2:?--from needs a value}; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
check_python "$PY"

build() {
    [ "$BACKEND" = auto ] && BACKEND=$(detect_backend)
    cmake_args_for "$BACKEND" >/dev/null
    if [ -z "$FIND_LINKS" ]; then
        check_backend_prerequisites "$BACKEND"
    fi
    local args no_cache=() links=()
    args=$(cmake_args_for "$BACKEND" "$CUDA_ARCH")
    [ "$BACKEND" != cpu ] && no_cache=(--no-cache-dir)  # never a cached CPU build in a GPU wheelhouse
    [ -n "$FIND_LINKS" ] && links=(--find-links "$FIND_LINKS")
    say "building a $BACKEND wheelhouse in $DIR${args:+ (CMAKE_ARGS=$args)}"
    run mkdir -p "$DIR"
    # llama-cpp-python alone first, so it is built with our CMAKE_ARGS (or taken from --find-links) ...
    run env CMAKE_ARGS="$args" "$PY" -m pip wheel ${no_cache[@]+"${no_cache[@]}"} ${links[@]+"${links[@]}"} \
        --no-deps --wheel-dir "$DIR" "$LLAMA_SPEC"
    # ... then dspark-chat and every dependency; pip finds llama-cpp-python's wheel in the wheelhouse itself
    run "$PY" -m pip wheel --find-links "$DIR" --wheel-dir "$DIR" "$SOURCE"
    if [ "$DRY_RUN" != 1 ]; then
        printf 'backend=%s\ncmake_args=%s\npython=%s\nplatform=%s\n' "$BACKEND" "$args" \
            "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "$(uname -sm)" >"$DIR/BUILD-INFO"
        say "$(find "$DIR" -name '*.whl' | wc -l | tr -d ' ') wheels, $(du -sh "$DIR" | cut -f1): copy $DIR to the" \
            "target and run: packaging/wheelhouse.sh install --dir <its path>"
    fi
}

install() {
    [ "$DRY_RUN" = 1 ] || [ -d "$DIR" ] || die "no wheelhouse at $DIR (build one with: $0 build --dir $DIR)"
    run "$PY" -m venv "$VENV"
    # --no-index: nothing from the network, only the wheelhouse
    run "$VENV/bin/python" -m pip install --no-index --find-links "$DIR" dspark-chat
    run "$VENV/bin/dspark-chat" doctor --no-load
    say "done: start the chat with $VENV/bin/dspark-chat"
}

"$ACTION"
