# shellcheck shell=bash
# Shared by the packaging scripts (sourced, not run): messages, a runner that honours --dry-run, and the
# knowledge of which CMAKE_ARGS build llama-cpp-python for which backend. `dspark-chat doctor` recommends the same
# arguments (app/diagnose.py: cmake_args); tests/test_packaging.py checks that the two agree.

# shellcheck disable=SC2034  # used by the scripts that source this file
LLAMA_SPEC='llama-cpp-python>=0.3.36,<0.4'
DRY_RUN=${DRY_RUN:-0}
SCRIPT_NAME=${SCRIPT_NAME:-packaging}

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# A missing prerequisite stops a real run; a dry run only says so and goes on printing the plan.
need() {
    if [ "$DRY_RUN" = 1 ]; then
        say "warning (dry run goes on): $*"
    else
        die "$*"
    fi
}

# Print the command as a shell would read it back, then run it (unless this is a dry run).
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" != 1 ]; then
        "$@"
    fi
}

repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# cpu, cuda or metal: what this machine visibly has. Vulkan is never guessed: ask for it.
detect_backend() {
    if [ "$(uname -s)" = Darwin ] && [ "$(uname -m)" = arm64 ]; then
        echo metal
    elif command -v nvidia-smi >/dev/null 2>&1 || [ -e /proc/driver/nvidia/version ]; then
        echo cuda
    else
        echo cpu
    fi
}

# The first GPU's compute capability without the dot (GB10 in a DGX Spark: 121, H100: 90), or nothing.
detect_cuda_arch() {
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. \r'
}

# CMAKE_ARGS for llama-cpp-python's build (llama.cpp's own CMake options, passed through by scikit-build-core).
cmake_args_for() {
    local backend=$1 arch=${2:-}
    case $backend in
        cpu) echo "" ;;
        cuda) echo "-DGGML_CUDA=on${arch:+ -DCMAKE_CUDA_ARCHITECTURES=$arch}" ;;
        metal) echo "-DGGML_METAL=on" ;;
        vulkan) echo "-DGGML_VULKAN=on" ;;
        *) die "unknown backend '$backend' (cpu, cuda, metal, vulkan or auto)" ;;
    esac
}

# The backend's name as `dspark-chat doctor --expect-backend` takes it.
doctor_name() {
    case $1 in cpu) echo CPU ;; cuda) echo CUDA ;; metal) echo Metal ;; vulkan) echo Vulkan ;; esac
}

# Make sure a backend can be built here; fills CUDA_ARCH for cuda.
check_backend_prerequisites() {
    local backend=$1
    command -v c++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
        || need "no C++ compiler: install build-essential (Debian/Ubuntu) or the Xcode command line tools (macOS)"
    case $backend in
        cuda)
            if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
                export PATH="/usr/local/cuda/bin:$PATH"  # the toolkit's usual home, often not on PATH
            fi
            command -v nvcc >/dev/null 2>&1 \
                || need "nvcc not found: install the CUDA toolkit (12.x or 13.x) and put its bin/ on PATH"
            if [ -z "${CUDA_ARCH:-}" ]; then
                CUDA_ARCH=$(detect_cuda_arch)
            fi
            if [ "${CUDA_ARCH:-}" = native ]; then
                CUDA_ARCH=""  # llama.cpp's default: the GPUs present at build time
            fi
            case ${CUDA_ARCH:-} in
                12[0-9]*)  # Blackwell (RTX 50, GB10): llama.cpp builds 12Xa, which needs CUDA 12.8 / 12.9
                    if command -v nvcc >/dev/null 2>&1; then
                        local release
                        release=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1\2/p')
                        if [ -n "$release" ] && [ "$release" -lt 129 ]; then
                            need "compute capability ${CUDA_ARCH} needs CUDA 12.9 or newer (nvcc is release ${release})"
                        fi
                    fi ;;
            esac ;;
        metal)
            [ "$(uname -s)" = Darwin ] || need "Metal builds need macOS on Apple Silicon"
            xcode-select -p >/dev/null 2>&1 || need "run: xcode-select --install" ;;
        vulkan)
            command -v glslc >/dev/null 2>&1 \
                || need "glslc not found: apt-get install libvulkan-dev glslc spirv-headers (or the LunarG Vulkan SDK)"
            if [ "$(uname -s)" = Linux ] && [ ! -e /usr/include/vulkan/vulkan.h ] && [ -z "${VULKAN_SDK:-}" ]; then
                need "Vulkan headers not found: apt-get install libvulkan-dev spirv-headers (or source the SDK's setup-env.sh)"
            fi ;;
    esac
}

check_python() {
    local py=$1
    command -v "$py" >/dev/null 2>&1 || need "python '$py' not found (pass --python PATH)"
    if command -v "$py" >/dev/null 2>&1; then
        "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
            || need "dspark-chat needs Python 3.10 or newer ($("$py" -V 2>&1))"
    fi
}
