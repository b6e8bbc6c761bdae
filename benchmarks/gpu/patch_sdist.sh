#!/usr/bin/env bash
# Apply the llama.cpp patches named by LLAMA_PATCH to an unpacked llama-cpp-python sdist (run.sh's setup, and
# prebuild_cuda.sh, which must build what setup would have compiled).
#
#   bash benchmarks/gpu/patch_sdist.sh SDIST_DIR LLAMA_PATCH
#
# LLAMA_PATCH=1: llama.cpp with one CUDA graph per batch shape (packaging/patch_llama.py); =markov: DSpark's
# Markov bias as a batched product (packaging/patch_markov_head.py); =switch: a cheap switch of the target's
# feature copy (packaging/patch_feature_switch.py); =rows: one argmax op for a greedy sampler's rows
# (packaging/patch_rows_argmax.py); =dspark: markov, switch and rows (what install.sh built before run S);
# =all: every patch (what install.sh builds since run S); 0: none
set -euo pipefail
sdist=$1; patch=$2
packaging="$(cd "$(dirname "$0")/../.." && pwd)/packaging"
case "$patch" in
    1|all) python3 "$packaging/patch_llama.py" "$sdist" ;;
esac
case "$patch" in
    rows|dspark|all) python3 "$packaging/patch_rows_argmax.py" "$sdist" ;;
esac
case "$patch" in
    markov|dspark|all) python3 "$packaging/patch_markov_head.py" "$sdist" ;;
esac
case "$patch" in
    switch|dspark|all) python3 "$packaging/patch_feature_switch.py" "$sdist" ;;
esac
