#!/usr/bin/env bash
# Install dspark-chat with llama-cpp-python built for this machine's backend, then check it with `doctor`.
#
#   packaging/install.sh                         # auto: Metal on Apple Silicon, CUDA with an NVIDIA GPU, else CPU
#   packaging/install.sh --backend cuda          # NVIDIA (RTX, H100, DGX Spark GB10: compute capability found)
#   packaging/install.sh --backend cuda --cuda-arch 121   # DGX Spark / GB10 when nvidia-smi cannot say
#   packaging/install.sh --backend vulkan        # AMD / Intel / other GPUs through Vulkan
#   packaging/install.sh --pipx                  # into pipx (dspark-chat on PATH) instead of a venv
#   packaging/install.sh --dry-run ...           # print every command, run none
#
# CUDA builds (into a venv, or pipx 1.5 and later) compile llama.cpp with the DSpark patches applied
# (packaging/patched_sdist.py): patch_llama.py (one CUDA graph per batch shape, so verify batches of changing size
# replay instead of re-capturing: DSpark at alpha 0.6 0.96x -> 1.11x plain on an H200, docs/benchmarks.md run S;
# GGML_CUDA_GRAPH_PER_SHAPE=0 gives the stock cache back), patch_markov_head.py (DSpark's Markov head as a batched
# product: a block position 0.24 -> 0.09 ms on an H100, run L), patch_feature_switch.py (switching the target's
# feature copy rebuilds one graph instead of re-planning all graph memory: 17.4 -> 2.2 ms, run N) and
# patch_rows_argmax.py (the target's greedy tokens from one argmax op on the GPU, no logits copied, and a model
# drafter's tokens with their probabilities; the engine uses it on GPU builds since runs U and V,
# DSPARK_DEVICE_ARGMAX=0 turns it off); --stock-llama builds the stock source.
#
# GPU builds bypass pip's wheel cache (--no-cache-dir): the cache keys wheels by source, not by CMAKE_ARGS, and
# would hand back a CPU build. So the cache only ever holds CPU builds. docs/install.md explains each path.
set -euo pipefail
SCRIPT_NAME=install.sh
# shellcheck source=packaging/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
options:
  --backend B      cpu, cuda, metal, vulkan or auto (default auto)
  --cuda-arch N    CMAKE_CUDA_ARCHITECTURES (121 for GB10, 90 for H100, 89 for RTX 40, native); default: found
                   with nvidia-smi, else llama.cpp's native detection
  --venv DIR       the virtual environment to create or update (default .venv in the repository)
  --pipx           install with pipx instead of into a venv
  --python PY      the Python to use (default python3)
  --from SPEC      what to install: a path, a wheel or a requirement (default this repository)
  --no-verify      skip the `dspark-chat doctor` check at the end
  --stock-llama    CUDA: build llama.cpp's stock source (default: with the four DSpark patches, see above);
                   --no-markov-patch is its older name
  --dry-run        print the commands, run nothing
EOF
}

BACKEND=auto
CUDA_ARCH=""
ROOT=$(repo_root)
VENV="$ROOT/.venv"
PIPX=0
PY=python3
SOURCE="$ROOT"
VERIFY=1
LLAMA_PATCHES=1
while [ $# -gt 0 ]; do
    case $1 in
        --backend) BACKEND=${2:?--backend needs a value}; shift 2 ;;
        --cuda-arch) CUDA_ARCH=${2:?--cuda-arch needs a value}; shift 2 ;;
        --venv) VENV=${2:?--venv needs a value}; shift 2 ;;
        --pipx) PIPX=1; shift ;;
        --python) PY=${2:?--python needs a value}; shift 2 ;;
        --from) SOURCE=${2:?--from needs a value}; shift 2 ;;
        --no-verify) VERIFY=0; shift ;;
        --stock-llama|--no-markov-patch) LLAMA_PATCHES=0; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

[ "$BACKEND" = auto ] && BACKEND=$(detect_backend)
[ -n "$CUDA_ARCH" ] && [ "$BACKEND" != cuda ] && die "--cuda-arch only applies to --backend cuda"
cmake_args_for "$BACKEND" >/dev/null  # refuses unknown backends
check_python "$PY"
check_backend_prerequisites "$BACKEND"
CMAKE_ARGS_VALUE=$(cmake_args_for "$BACKEND" "$CUDA_ARCH")
say "backend $BACKEND${CMAKE_ARGS_VALUE:+ (CMAKE_ARGS=$CMAKE_ARGS_VALUE)}"

# CPU builds may come from pip's cache; GPU builds never do (see the top of this file).
NO_CACHE=()
[ "$BACKEND" != cpu ] && NO_CACHE=(--no-cache-dir)

# the llama-cpp-python sdist, unpacked and patched into $SDIST_DIR/llama-cpp-python (packaging/patched_sdist.py
# warns and leaves a patch out if the vendored llama.cpp changed upstream); $1 is a python with pip
fetch_patched_source() {
    run rm -rf "$SDIST_DIR"
    run "$1" -m pip download --no-binary :all: --no-deps --no-cache-dir -d "$SDIST_DIR" "$LLAMA_SPEC"
    run "$1" "$ROOT/packaging/patched_sdist.py" "$SDIST_DIR"
}
SDIST_DIR=${TMPDIR:-/tmp}/dspark-chat-llama-sdist

if [ "$PIPX" = 1 ]; then
    command -v pipx >/dev/null 2>&1 || need "pipx not found: python3 -m pip install --user pipx (or apt/brew install pipx)"
    PREINSTALL=()
    if [ "$BACKEND" = cuda ] && [ "$LLAMA_PATCHES" = 1 ]; then
        # pipx builds the patched source first (--preinstall, pipx 1.5 and later); the project's install then finds
        # llama-cpp-python there and keeps it. A throwaway venv's pip downloads the sdist: pipx's python may have none.
        if ! command -v pipx >/dev/null 2>&1 || pipx install --help 2>/dev/null | grep -q -- --preinstall; then
            run "$PY" -m venv "$SDIST_DIR.venv"
            fetch_patched_source "$SDIST_DIR.venv/bin/python"
            PREINSTALL=(--preinstall "$SDIST_DIR/llama-cpp-python")
        else
            say "this pipx has no --preinstall (pipx 1.5 and later have it):" \
                "it builds llama.cpp's stock source, without the DSpark patches"
        fi
    fi
    run env CMAKE_ARGS="$CMAKE_ARGS_VALUE" pipx install --force --python "$PY" ${PREINSTALL[@]+"${PREINSTALL[@]}"} \
        ${NO_CACHE[@]+"--pip-args=${NO_CACHE[*]}"} "$SOURCE"
    DSPARK=(dspark-chat)  # pipx puts it on PATH (`pipx ensurepath` once if it is not)
else
    run "$PY" -m venv "$VENV"
    run "$VENV/bin/python" -m pip install --upgrade pip
    LLAMA_FROM=$LLAMA_SPEC
    if [ "$BACKEND" = cuda ] && [ "$LLAMA_PATCHES" = 1 ]; then
        fetch_patched_source "$VENV/bin/python"
        LLAMA_FROM=$SDIST_DIR/llama-cpp-python
    fi
    # llama-cpp-python first, alone, so its build gets our CMAKE_ARGS and the project's install keeps it
    run env CMAKE_ARGS="$CMAKE_ARGS_VALUE" "$VENV/bin/python" -m pip install ${NO_CACHE[@]+"${NO_CACHE[@]}"} \
        --force-reinstall --no-deps "$LLAMA_FROM"
    run "$VENV/bin/python" -m pip install "$SOURCE"
    DSPARK=("$VENV/bin/dspark-chat")
fi

if [ "$VERIFY" = 1 ]; then
    run "${DSPARK[@]}" doctor --expect-backend "$(doctor_name "$BACKEND")"
fi
say "done: start the chat with ${DSPARK[*]}"
