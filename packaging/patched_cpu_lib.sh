#!/usr/bin/env bash
# Build llama.cpp for the CPU from the patched source install.sh builds GPU installs from (packaging/patched_sdist.py),
# for the tests of those patches (tests/test_markov_patch.py, tests/test_feature_switch_patch.py and the one-op test
# of tests/test_device_argmax.py), and print the folder that holds its libllama.
# Built once into DEST (about 4 minutes on 2 cores); a later call prints the folder at once while the patches and
# the installed llama-cpp-python are the ones it was built from. Progress goes to stderr, the folder to stdout.
#
#   bash packaging/patched_cpu_lib.sh DEST [PYTHON]      # PYTHON: the one whose llama-cpp-python version to patch
set -euo pipefail
dest=$1
py=${2:-python3}
here=$(cd "$(dirname "$0")" && pwd)
SCRIPT_NAME=patched_cpu_lib
# shellcheck source=packaging/lib.sh
. "$here/lib.sh"

version=$("$py" -c "from importlib.metadata import version; print(version('llama-cpp-python'))") ||
    die "llama-cpp-python is not installed for $py"
# what the build depends on: the sdist's version and every patch script
stamp=$({ echo "$version"; cat "$here"/patch_*.py "$here/sdist_patch.py" "$here/patched_sdist.py"; } |
    sha256sum | cut -c1-16)
bin="$dest/build/bin"
if [ -f "$dest/stamp" ] && [ "$(cat "$dest/stamp")" = "$stamp" ] && compgen -G "$bin/libllama.*" > /dev/null; then
    echo "$bin"
    exit 0
fi

command -v cmake > /dev/null || die "cmake is missing (pip install cmake, or your system's package)"
gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
rm -rf "$dest"
mkdir -p "$dest/sdist"
say "building the patched llama.cpp $version for the CPU into $dest (once, about 4 minutes on 2 cores)"
"$py" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$dest/sdist" >&2
source=$("$py" "$here/patched_sdist.py" "$dest/sdist")
{
    cmake -S "$source/vendor/llama.cpp" -B "$dest/build" "${gen[@]}" -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
    cmake --build "$dest/build" --target llama -j "$(nproc 2> /dev/null || echo 2)"
} > "$dest/build.log" 2>&1 || { tail -20 "$dest/build.log" >&2; die "the build failed (log: $dest/build.log)"; }
compgen -G "$bin/libllama.*" > /dev/null || die "the build left no libllama in $bin (log: $dest/build.log)"
rm -rf "$dest/sdist"  # 300 MB of source; the stamp says what was built
echo "$stamp" > "$dest/stamp"
echo "$bin"
