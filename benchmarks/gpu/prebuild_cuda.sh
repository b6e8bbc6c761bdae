#!/usr/bin/env bash
# Build llama.cpp with CUDA for the benchmark machine on a machine without a GPU, so a device session does not
# spend its first ~4 minutes compiling (run.sh's `_build` unpacks CARRY/llama-build.tar.xz instead, and compiles
# only if the carried programs do not see the GPU there).
#
#   bash benchmarks/gpu/prebuild_cuda.sh SDIST_TAR_GZ WORK [LLAMA_PATCH]
#
# The CUDA 13.0 compiler, headers and libraries come from NVIDIA's wheels on PyPI (the benchmark machine's image
# has CUDA 13.0). They hold no libcuda, which the driver provides at run time: a stub with the few driver calls
# ggml-cuda makes lets the programs link. The sources are patched as run.sh's setup patches them (LLAMA_PATCH,
# default all), so the carried build is the one the device would have compiled. Writes WORK/llama-build.tar.xz
# and WORK/<sdist name>-slim.tar.gz, which replace the sdist in CARRY (docs/benchmarks.md, "Commands").
# Took about 45 minutes on 2 cores.
set -euo pipefail
sdist_tgz=$(realpath "$1"); work=$2; patch=${3:-all}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"; work=$(realpath "$work")
cuda="$work/cuda/nvidia/cu13"

if [ ! -x "$cuda/bin/nvcc" ]; then
    mkdir -p "$work/wheels"
    python3 -m pip download -q --no-deps -d "$work/wheels" "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" \
        "nvidia-cuda-crt==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cublas==13.0.*" "nvidia-cuda-cccl==13.0.*"
    for w in "$work"/wheels/*.whl; do python3 -m zipfile -e "$w" "$work/cuda"; done
    chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*
    # the names CMake's FindCUDAToolkit and nvcc's profile look for
    ln -sfn lib "$cuda/lib64"
    for l in cudart cublas cublasLt; do ln -sf "lib$l.so.13" "$cuda/lib/lib$l.so"; done
fi

sdist="$work/sdist"
top=$(basename "$sdist_tgz" .tar.gz)  # the sdist's folder is named as its file
# the sources are unpacked and patched again only when the sdist, LLAMA_PATCH or a patch script changed: fresh
# files would make make recompile all of it (45 minutes) where a rerun needs only the steps that failed
stamp=$({ echo "$top $patch"; cat "$here"/packaging/patch_*.py "$here/packaging/sdist_patch.py"; } | sha256sum)
if [ ! -f "$sdist/.stamp" ] || [ "$(cat "$sdist/.stamp")" != "$stamp" ]; then
    rm -rf "$sdist"; mkdir -p "$sdist"
    tar xzf "$sdist_tgz" -C "$sdist" --strip-components=1
    # beside the build, the sdist run.sh needs then: the Python package and the unpatched files its setup patches
    # (1.4 MB instead of 48, so the build, the wheels and the sources go over in one transfer)
    tar czf "$work/$top-slim.tar.gz" -C "$work" --transform "s|^sdist|$top|" sdist/llama_cpp sdist/pyproject.toml \
        sdist/vendor/llama.cpp/ggml/src/ggml-cuda/ggml-cuda.cu sdist/vendor/llama.cpp/src/llama-graph.cpp \
        sdist/vendor/llama.cpp/src/llama-context.cpp sdist/vendor/llama.cpp/src/models/dflash.cpp
    bash "$here/benchmarks/gpu/patch_sdist.sh" "$sdist" "$patch"
    echo "$stamp" > "$sdist/.stamp"
fi
# libcuda stub: every driver call ggml-cuda names, under the symbol cuda.h maps it to
mkdir -p "$cuda/lib/stubs"
calls=$(grep -rhoE "\bcu[A-Z][A-Za-z0-9_]+\(" "$sdist/vendor/llama.cpp/ggml/src/ggml-cuda" | grep -v "^cuBLAS" \
        | tr -d "(" | sort -u | tr "\n" " ")
symbols=$(printf '#include <cuda.h>\n%s\n' "$calls" | gcc -E -P -I"$cuda/include" - | tail -n 1)
for s in $symbols; do echo "int $s(void) { return 999; }"; done > "$work/libcuda-stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda/lib/stubs/libcuda.so" "$work/libcuda-stub.c"
ln -sf stubs/libcuda.so "$cuda/lib/libcuda.so.1"  # the name the programs' link step resolves through rpath-link

build="$work/build"
cd "$sdist/vendor/llama.cpp"
# the CPU part without -march=native: the benchmark machine's CPU is not this one; $ORIGIN: the programs find
# the libraries wherever the build is unpacked
PATH="$cuda/bin:$PATH" cmake -S . -B "$build" -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DBUILD_SHARED_LIBS=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON -DCUDAToolkit_ROOT="$cuda" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$cuda/lib"
PATH="$cuda/bin:$PATH" cmake --build "$build" -j"$(nproc)" --target llama llama-speculative-simple llama-bench
# the libraries and programs only, symbolic links kept (libllama.so -> libllama.so.0 ...)
tar cJf "$work/llama-build.tar.xz" -C "$build" bin
ls -la "$work/llama-build.tar.xz" "$work/$top-slim.tar.gz"
