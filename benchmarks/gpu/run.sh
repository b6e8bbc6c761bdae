#!/usr/bin/env bash
# Device driver for the GPU benchmark (docs/benchmarks.md, "GPU"). Runs on a bare CUDA machine without network.
#
#   benchmarks/gpu/run.sh setup  CARRY WORK   unpack the llama-cpp-python sdist, wheels and sources from CARRY;
#                                             in the background, build llama.cpp with CUDA (WORK/build.log) and
#                                             write the F16 synthetic files (WORK/files.log)
#   benchmarks/gpu/run.sh env    CARRY WORK   print the exports that make `python3 -m benchmarks.gpu_bench` run
#   benchmarks/gpu/run.sh bench  CARRY WORK OUTDIR [gpu_bench args...]
#                                             wait for the build, then build the synthetic files and measure
#                                             (log: WORK/bench.log; results in OUTDIR)
#   benchmarks/gpu/run.sh all    CARRY WORK OUTDIR SMOLLM_GGUF
#                                             bench (model, n-gram), overlap, tests, bench (DSpark), in turn
#   benchmarks/gpu/run.sh full   CARRY WORK OUTDIR SMOLLM_GGUF
#                                             the lossless tests (while the files are quantized), then every row
#                                             of every drafter kind with llama.cpp's in one invocation, then
#                                             where the host's time goes (host), and DSpark rows with CUDA
#                                             graphs off and on, alternating (OUTDIR/graphs-{off,on}-N)
#   benchmarks/gpu/run.sh repeat CARRY WORK OUTDIR SMOLLM_GGUF
#                                             the tests while the files are quantized, every row beside llama.cpp's
#                                             defaults, then REPEATS more processes of the rows at alpha 0.8
#                                             (each row sequential, then pipelined),
#                                             DSpark at 0 and 0.6 once more, the host's cost per drafted token
#                                             (OUTDIR/main, OUTDIR/repeat-N, OUTDIR/r0, OUTDIR/peak_cost.txt)
#   benchmarks/gpu/run.sh steady CARRY WORK OUTDIR SMOLLM_GGUF
#                                             the tests while the files are quantized, then DSpark rows in
#                                             processes alternating CUDA graphs on and off (REPEATS, default 3),
#                                             each with its own plain decoding (OUTDIR/steady-{on,off}-N)
#   benchmarks/gpu/run.sh parts  CARRY WORK OUTDIR
#                                             what each part of a DSpark block costs per position, with CUDA
#                                             graphs and without (gpu_block_parts.py; setup with SKIP_FILES=1)
#   benchmarks/gpu/run.sh quick  CARRY WORK OUTDIR SMOLLM_GGUF
#                                             dspark-chat rows only (ALPHAS="0 0.8" limits the files too), then tests
#   benchmarks/gpu/run.sh overlap CARRY WORK OUTDIR
#                                             can the drafter run while the target verifies? (gpu_overlap.py)
#   benchmarks/gpu/run.sh shape  CARRY WORK OUTDIR
#                                             does a change of batch size cost? (gpu_shape_change.py)
#   benchmarks/gpu/run.sh drafters CARRY WORK OUTDIR
#                                             where a drafting round's time goes (gpu_drafter_costs.py)
#   benchmarks/gpu/run.sh probe CARRY WORK OUTDIR [SMOLLM_GGUF]
#                                             the DSpark pair at alpha 0 traced round by round, then REPS
#                                             processes of rows of KINDS (default dspark); tests with SMOLLM_GGUF;
#                                             STOCK_TOKEN_REPS="2" runs process 2 with DSPARK_GRAPH_TOKENS=0,
#                                             STOCK_SWITCH_REPS likewise DSPARK_CHEAP_FEATURE_SWITCH=0,
#                                             DEVICE_ARGMAX_REPS DSPARK_DEVICE_ARGMAX=1; a build
#                                             with the feature-switch patch first times a switch both ways
#   benchmarks/gpu/run.sh markov CARRY WORK OUTDIR SMOLLM_GGUF
#                                             a build with LLAMA_PATCH=markov against its stock Markov product
#                                             (DSPARK_MARKOV_PAD=0): the drafter's block by size both ways
#                                             (OUTDIR/parts-{pad,stock}.json), then alternating processes of
#                                             DSpark rows beside llama.cpp's (OUTDIR/markov-{pad,stock}-N)
#   benchmarks/gpu/run.sh argmax CARRY WORK OUTDIR SMOLLM_GGUF
#                                             the device argmax's CUDA fault (runs O, P): the failing tests with it
#                                             on, CUDA graphs on once, then off REPEATS times; with the files, DSpark
#                                             rows with graphs off, the argmax on host and device alternating
#   benchmarks/gpu/run.sh host   CARRY WORK OUTDIR
#                                             where the host's share of a round goes (gpu_host_profile.py,
#                                             gpu_host_segments.py); the cost cache of OUTDIR/main, or CACHE
#   benchmarks/gpu/run.sh pershape CARRY WORK OUTDIR
#                                             a build with LLAMA_PATCH=1 (or =all: with the dspark patches) against
#                                             itself without the patch's key (GGML_CUDA_GRAPH_PER_SHAPE=0),
#                                             alternating REPEATS (default 2) processes each: rows of KINDS (default
#                                             model dspark) at ALPHAS (default 0.6 0.8), llama.cpp's defaults
#                                             beside them, after quantizing the files (OUTDIR/pershape-{1,0}-N)
#   benchmarks/gpu/run.sh shapeargmax CARRY WORK OUTDIR SMOLLM_GGUF
#                                             the build install.sh makes (LLAMA_PATCH=all): the lossless tests while
#                                             the files are quantized, the device argmax's tests with one CUDA graph
#                                             per shape (graphs on), then REPS (default 4) processes of DSpark rows
#                                             at ALPHAS beside llama.cpp, the target's argmax on the host (odd) and
#                                             on the device (even), then where the host's time goes (device argmax)
#   benchmarks/gpu/run.sh hostshare CARRY WORK OUTDIR SMOLLM_GGUF
#                                             run U: the build install.sh makes; REPS (default 4) processes of rows
#                                             of KINDS (default dspark) at ALPHAS, the target's argmax on the host
#                                             (odd) and on the device (even), the host's steps both ways, model
#                                             drafter rows both ways, a device process with the rows' logits copied
#                                             as stock llama.cpp does (DSPARK_ROWS_LOGITS=1), then the GPU tests
#                                             with the device argmax forced on if SMOLLM_GGUF has arrived
#   benchmarks/gpu/run.sh peaks  CARRY WORK OUTDIR SMOLLM_GGUF
#                                             runs V, W: the build install.sh makes; the GPU tests while the files
#                                             are quantized, then REPS (default 4) processes of model drafter rows at
#                                             PEAK_ALPHAS (0.8), its steps' tokens and confidences on the host (odd)
#                                             and on the device (even), with FULL_ALPHAS one process of every row
#                                             beside llama.cpp, the DSpark pair's time to first token by prompt
#                                             length with the target's argmax on the host and on the device
#                                             (gpu_ttft.py), then the host's steps both ways
#   benchmarks/gpu/run.sh ttft   CARRY WORK OUTDIR SMOLLM_GGUF
#                                             after run W: the GPU tests while the files are quantized, the DSpark
#                                             pair's time to first token both ways (gpu_ttft.py), then REPS
#                                             (default 3) processes of DSpark and model rows at ROW_ALPHAS
#                                             (default "0 0.8") beside llama.cpp (OUTDIR/rows-N)
#   benchmarks/gpu/run.sh final  CARRY WORK OUTDIR SMOLLM_GGUF
#                                             after run X, the issue's whole table on one build: the GPU tests while
#                                             the files are quantized, every kind at every alpha with llama.cpp's
#                                             defaults and sweep and the verify cost curve in one invocation
#                                             (OUTDIR/main), the n-gram round's host steps (OUTDIR/segments-*.json),
#                                             the DSpark pair's time to first token both ways (gpu_ttft.py),
#                                             then REPS (default 1) processes of DSpark and model rows at
#                                             ROW_ALPHAS (default "0 0.8") beside llama.cpp (OUTDIR/rows-N)
#   benchmarks/gpu/run.sh tests  CARRY WORK SMOLLM_GGUF [pytest args...]
#                                             the lossless tests on the CUDA build, every pair on the GPU
#
# CARRY holds llama_cpp_python-0.3.36*.tar.gz (the sdist, vendored llama.cpp inside), the wheels the app needs
# that the machine lacks (gguf, diskcache, platformdirs), and src.tar (`git archive HEAD` of this repository).
# It may also hold llama-build.tar.xz (prebuild_cuda.sh): llama.cpp compiled elsewhere, used if it sees the GPU.
# The python package is not pip-installed: its llama_cpp/ folder goes on PYTHONPATH with lib/ pointing at the
# CMake build, so one CUDA build serves both llama.cpp's tools and the app.
# shellcheck disable=SC2086  # ALPHAS, KINDS, TEST_WRAPPER and the like are lists or command lines, split on purpose
set -euo pipefail
what=$1; carry=$(realpath "$2"); work=$3
mkdir -p "$work"; work=$(realpath "$work")
sdist_dir="$work/sdist"
build="$work/build"

exports() {
    echo "export PYTHONPATH=$work/src:$work/pkg:$sdist_dir:$work/site"
    echo "export PYTHONUNBUFFERED=1"
    # a carried build (below) names the folder of the image's CUDA libraries, which its RUNPATH cannot know
    [ -s "$work/cuda-lib-dir" ] &&
        echo "export LD_LIBRARY_PATH=$(cat "$work/cuda-lib-dir")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
    return 0
}

# returns once llama.cpp is built (ends the mode if the build failed)
wait_for_build() {
    while ! grep -q "BUILD-OK" "$work/build.log"; do
        if grep -q "Error\|error:" "$work/build.log"; then echo "build failed"; tail -30 "$work/build.log"; exit 1; fi
        sleep 5
    done
}

# once llama.cpp is built: the lossless tests on the GPU (WORK/tests.log) while the CPU quantizes the files;
# returns when both are done (nothing else may use the GPU while rows are timed)
tests_while_quantizing() {
    wait_for_build
    (
        for _ in $(seq 60); do [ -s "$1" ] && break; sleep 5; done
        timeout "${TESTS_TIMEOUT:-400}" "$0" tests "$carry" "$work" "$1" -q -rf --tb=line --maxfail=10 \
            tests/test_lossless.py tests/test_sampling.py tests/test_dspark.py tests/test_markov_patch.py \
            tests/test_feature_switch_patch.py -k "not gemma and not without_layer_inputs" > "$work/tests.log" 2>&1 || true
        # the device argmax on its own (it aborted run O's pytest with a CUDA fault: the rest keeps its summary)
        timeout 200 "$0" tests "$carry" "$work" "$1" -q -rf --tb=line tests/test_device_argmax.py \
            > "$work/tests-argmax.log" 2>&1 || true
        echo TESTS-DONE >> "$work/tests.log"
    ) &
    quantize_files
    wait
}

# alternating VAR PREFIX KINDS ALPHAS: REPS (default 4) processes of rows without llama.cpp's, VAR=0 in the odd
# ones (OUT/PREFIX-host-N) and VAR=1 in the even ones (OUT/PREFIX-device-N); VAR names a DSPARK_* switch
alternating() {
    for rep in $(seq "${REPS:-4}"); do
        local on=$(( rep % 2 == 0 )) where=host
        [ $on = 1 ] && where=device
        env "$1=$on" timeout 400 "$0" bench "$carry" "$work" "$out/$2-$where-$rep" --kinds $3 --alphas $4 \
            --no-curve --no-llamacpp --budget-s 0 || true
    done
}

# segments_both VAR KIND: the host's steps of KIND's rounds at alpha 0.8 with VAR=0 and =1 (OUT/segments-*.json)
segments_both() {
    ( eval "$(exports)"; cd "$work/src"
      for on in 0 1; do
          env "$1=$on" timeout 150 python3 -m benchmarks.gpu_host_segments --folder "$work/files" \
              --kind "$2" --alpha-tag a080 --out "$out/segments-$2-$1-$on.json"
      done ) >> "$out/segments.log" 2>&1 || true
}

# the time to the first token of fresh 256- to 4096-token prompts for the DSpark pair, plain and speculative, the
# target's argmax on the host, then on the device (OUT/ttft-dspark-argmax{0,1}.json)
ttft_both() {
    ( eval "$(exports)"; cd "$work/src"
      for on in 0 1; do
          DSPARK_DEVICE_ARGMAX=$on timeout 200 python3 -m benchmarks.gpu_ttft --folder "$work/files" --kind dspark \
              --lengths 256 1024 4096 --out "$out/ttft-dspark-argmax$on.json"
      done ) >> "$out/ttft.log" 2>&1 || true
}

# N processes of DSpark and model rows at ROW_ALPHAS (default "0 0.8") beside llama.cpp's defaults (OUT/rows-1..N)
row_processes() {
    for rep in $(seq "$1"); do
        timeout 400 "$0" bench "$carry" "$work" "$out/rows-$rep" --kinds dspark model --alphas ${ROW_ALPHAS:-0 0.8} \
            --no-curve --budget-s 0 || true
    done
}

# once the F16 files are written (and llama.cpp built): the target and model drafters quantized to Q4_K_M
quantize_files() {
    while ! grep -q "FILES-OK" "$work/files.log"; do
        if grep -q "Error\|Traceback" "$work/files.log"; then echo "files failed"; tail -30 "$work/files.log"; exit 1; fi
        sleep 5
    done
    ( eval "$(exports)"; cd "$work/src"
      python3 -m benchmarks.gpu_files --folder "$work/files" --quant Q4_K_M ${ALPHAS:+--alphas $ALPHAS} ) \
        > "$work/quantize.log" 2>&1
}

case $what in
setup)
    mkdir -p "$sdist_dir" "$work/site" "$work/src" "$work/pkg/dspark_chat"
    tar xzf "$carry"/llama_cpp_python-0.3.36*.tar.gz -C "$sdist_dir" --strip-components=1
    tar xf "$carry/src.tar" -C "$work/src"
    for d in app engine models; do ln -sfn "$work/src/$d" "$work/pkg/dspark_chat/$d"; done
    # every carried wheel: the app's (gguf, diskcache, platformdirs, jinja2) and pytest's for the `tests` step
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" "$carry"/*.whl
    ln -sfn "$build/bin" "$sdist_dir/llama_cpp/lib"
    # the patches LLAMA_PATCH names (patch_sdist.sh says which)
    bash "$work/src/benchmarks/gpu/patch_sdist.sh" "$sdist_dir" "${LLAMA_PATCH:-0}"
    # both in sessions of their own: they outlive this command while the machine stays warm
    setsid nohup "$0" _build "$carry" "$work" > "$work/build.log" 2>&1 < /dev/null &
    if [ "${SKIP_FILES:-0}" != 1 ]; then
        setsid nohup "$0" _files "$carry" "$work" > "$work/files.log" 2>&1 < /dev/null &
    fi
    ;;
_build)
    # CARRY/llama-build.tar.xz (benchmarks/gpu/prebuild_cuda.sh, made on a CPU machine from the same patched sources)
    # saves the ~4 minutes of compiling; if its programs do not see the GPU here, compile as usual
    if [ -f "$carry/llama-build.tar.xz" ]; then
        mkdir -p "$build" && tar xJf "$carry/llama-build.tar.xz" -C "$build"
        lib=$(find /usr/local /usr/lib /opt -name 'libcublas.so.13' 2> /dev/null | head -n 1 || true)
        [ -n "$lib" ] && dirname "$lib" > "$work/cuda-lib-dir"
        eval "$(exports)"
        "$build/bin/llama-bench" --list-devices > "$work/prebuilt.log" 2>&1 || true
        if grep -q "CUDA0" "$work/prebuilt.log"; then
            echo "carried build: $(grep -m1 CUDA0 "$work/prebuilt.log")"; echo BUILD-OK; exit 0
        fi
        echo "carried build unusable here (see prebuilt.log); compiling"; rm -rf "$build" "$work/cuda-lib-dir"
        # a slim sdist (prebuild_cuda.sh) holds no sources to compile
        [ -f "$sdist_dir/vendor/llama.cpp/CMakeLists.txt" ] ||
            { echo "Error: the carried sdist is slim, nothing to compile"; exit 1; }
    fi
    cd "$sdist_dir/vendor/llama.cpp"
    gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
    cmake -S . -B "$build" "${gen[@]}" -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DBUILD_SHARED_LIBS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DCMAKE_BUILD_TYPE=Release
    # BUILD_TARGETS=llama: the library alone, for modes that run no llama.cpp tool (hostshare with --no-llamacpp)
    cmake --build "$build" -j16 --target ${BUILD_TARGETS:-llama llama-speculative-simple llama-bench}
    echo BUILD-OK
    ;;
_files)
    # F16 synthetic files need no llama.cpp: written while it compiles
    eval "$(exports)"
    cd "$work/src"
    python3 -m benchmarks.gpu_files --folder "$work/files" ${ALPHAS:+--alphas $ALPHAS}
    echo FILES-OK
    ;;
env)
    exports
    ;;
bench)
    out=$4; shift 4
    for f in build files; do
        while ! grep -q "${f^^}-OK" "$work/$f.log" 2> /dev/null; do
            if grep -q "Error\|error:\|Traceback" "$work/$f.log" 2> /dev/null; then echo "$f failed"; tail -30 "$work/$f.log"; exit 1; fi
            sleep 5
        done
    done
    eval "$(exports)"
    cd "$work/src"
    python3 -m benchmarks.gpu_bench all --folder "$work/files" --llama-bin "$build/bin" --out "$out" "$@" \
        >> "$work/bench.log" 2>&1 || true
    echo BENCH-DONE >> "$work/bench.log"
    ;;
all)
    # the whole device run, in the order that keeps a stalled step from costing the others:
    # model and n-gram rows, the overlap probe, the lossless tests on the GPU, then the native DSpark rows
    out=$4; smollm=$5
    "$0" bench "$carry" "$work" "$out/main" --kinds model ngram
    "$0" overlap "$carry" "$work" "$out" > "$work/overlap.log" 2>&1 || true
    for _ in $(seq 60); do [ -s "$smollm" ] && break; sleep 5; done
    if [ -s "$smollm" ]; then
        timeout 900 "$0" tests "$carry" "$work" "$smollm" -q -x tests/test_lossless.py tests/test_sampling.py \
            tests/test_dspark.py tests/test_synth.py -k "not gemma" > "$work/tests.log" 2>&1 || true
    fi
    echo TESTS-DONE >> "$work/tests.log"
    timeout 900 "$0" bench "$carry" "$work" "$out/dspark" --kinds dspark --no-curve || true
    echo ALL-DONE >> "$work/bench.log"
    ;;
full)
    # the whole device run in one go, fastest order: once llama.cpp is built, the lossless tests run on the GPU
    # while the CPU quantizes the files; then every dspark-chat and llama.cpp row in one invocation (DSpark last)
    out=$4; smollm=$5
    tests_while_quantizing "$smollm"
    mkdir -p "$out"
    timeout "${BENCH_TIMEOUT:-1200}" "$0" bench "$carry" "$work" "$out/main" --kinds model ngram dspark \
        ${ALPHAS:+--alphas $ALPHAS} || true
    "$0" host "$carry" "$work" "$out" > "$work/host.log" 2>&1 || true
    # CUDA graphs off (--cuda-graphs off, the whole process) against on, alternating, DSpark rows only; the
    # shape-change and drafter-cost probes (runs C-E) are `shape` and `drafters`
    for run in off-1:"0 0.8" on-2:0.8 off-2:0.8; do
        graphs=${run%%-*}; name=${run%%:*}
        timeout 300 "$0" bench "$carry" "$work" "$out/graphs-$name" --kinds dspark --alphas ${run#*:} \
            --no-curve --no-llamacpp --cuda-graphs $graphs || true
    done
    echo ALL-DONE >> "$work/bench.log"
    ;;
repeat)
    # the lossless tests while the files are quantized, every row with llama.cpp's defaults beside it, then
    # REPEATS (default 2) more processes of the model and DSpark rows at 0.8: how often does a run go wrong? Each
    # row there runs sequential, then pipelined (REPEAT_PIPELINED=ab; launch-ahead against without, one process)
    out=$4; smollm=$5
    tests_while_quantizing "$smollm"
    mkdir -p "$out"
    timeout "${BENCH_TIMEOUT:-1200}" "$0" bench "$carry" "$work" "$out/main" --kinds model ngram dspark \
        ${ALPHAS:+--alphas $ALPHAS} --no-curve --budget-s 0 || true
    for rep in $(seq "${REPEATS:-2}"); do
        timeout 300 "$0" bench "$carry" "$work" "$out/repeat-$rep" --kinds model dspark --alphas 0.8 \
            --no-curve --no-llamacpp --pipelined "${REPEAT_PIPELINED:-ab}" || true
    done
    # DSpark where it must not lose (alpha 0 and 0.6) in one more process, and the host's cost of a drafted
    # token's argmax and confidence on this machine's CPU (benchmarks/peak_cost.py)
    timeout 300 "$0" bench "$carry" "$work" "$out/r0" --kinds dspark --alphas 0 0.6 --no-curve --no-llamacpp || true
    (eval "$(exports)" && cd "$work/src" && timeout 120 python3 -m benchmarks.peak_cost --synthetic "$work/files" \
        > "$out/peak_cost.txt" 2>&1) || true
    echo ALL-DONE >> "$work/bench.log"
    ;;
steady)
    # the engine's two CUDA-graph configurations for a native drafter (engine/graphs_policy.py): graphs on, as a
    # new pair starts, against graphs off, what it turns to once its history drafts in most rounds; ggml reads the
    # switch once per process, so processes alternate (OUTDIR/steady-{on,off}-N) and each measures its own plain
    # decoding beside its rows. The lossless tests run first, while the files are quantized.
    out=$4; smollm=$5
    tests_while_quantizing "$smollm"
    mkdir -p "$out"
    for rep in $(seq "${REPEATS:-3}"); do
        timeout 300 "$0" bench "$carry" "$work" "$out/steady-on-$rep" --kinds dspark --alphas ${ON_ALPHAS:-0 0.8 0.9} \
            --no-curve --no-llamacpp --cuda-graphs on || true
        timeout 300 "$0" bench "$carry" "$work" "$out/steady-off-$rep" --kinds dspark --alphas ${OFF_ALPHAS:-0.8 0.9} \
            --no-curve --no-llamacpp --cuda-graphs off || true
    done
    echo ALL-DONE >> "$work/bench.log"
    ;;
parts)
    # which part of a DSpark block costs what per position (benchmarks/gpu_block_parts.py writes its four variant
    # drafters, 30 s, then times them), with CUDA graphs and without; setup with SKIP_FILES=1 writes nothing else
    out=$4; mkdir -p "$out"
    wait_for_build
    ( eval "$(exports)"; cd "$work/src"
      python3 -m benchmarks.gpu_block_parts --folder "$work/parts" --out "$out/block_parts.json" || true
      GGML_CUDA_DISABLE_GRAPHS=1 python3 -m benchmarks.gpu_block_parts --folder "$work/parts" \
          --out "$out/block_parts_no_graphs.json" || true ) > "$work/parts.log" 2>&1
    echo ALL-DONE >> "$work/parts.log"
    ;;
quick)
    # a re-measure after an engine change, when device time is short: dspark-chat rows only (model and DSpark
    # drafters at ALPHAS, no llama.cpp sweeps, no cost curve), then the lossless tests on the GPU
    out=$4; smollm=$5
    "$0" bench "$carry" "$work" "$out/quick" --kinds model dspark --no-curve --no-llamacpp \
        ${ALPHAS:+--alphas $ALPHAS}
    for _ in $(seq 60); do [ -s "$smollm" ] && break; sleep 5; done
    timeout "${TESTS_TIMEOUT:-300}" "$0" tests "$carry" "$work" "$smollm" -q -rf --tb=line --maxfail=10 \
        tests/test_lossless.py tests/test_sampling.py tests/test_dspark.py -k "not gemma and not without_layer_inputs" \
        > "$work/tests.log" 2>&1 || true
    echo TESTS-DONE >> "$work/tests.log"
    ;;
pershape)
    wait_for_build
    [ -s "$work/quantize.log" ] || quantize_files
    for rep in $(seq "${REPEATS:-2}"); do
        for key in 1 0; do
            GGML_CUDA_GRAPH_PER_SHAPE=$key timeout 300 "$0" bench "$carry" "$work" "$4/pershape-$key-$rep" \
                --kinds ${KINDS:-model dspark} --alphas ${ALPHAS:-0.6 0.8} --no-curve --budget-s 0 || true
        done
    done
    echo PERSHAPE-DONE >> "$work/bench.log"
    ;;
markov)
    # a build with LLAMA_PATCH=markov against itself with the stock Markov product (DSPARK_MARKOV_PAD=0),
    # alternating processes: DSpark rows at ALPHAS (default 0 0.8 0.9) beside llama.cpp's defaults
    # (OUTDIR/markov-{pad,stock}-N), after the lossless tests (run while the files are quantized)
    out=$4; smollm=$5
    tests_while_quantizing "$smollm"
    mkdir -p "$out"
    # first the most direct evidence: the DSpark drafter's block by size, padded product against stock
    ( eval "$(exports)"; cd "$work/src"
      for pad in "" 0; do
          DSPARK_MARKOV_PAD=$pad python3 -m benchmarks.gpu_block_parts --folder "$work/parts" --variants dspark \
              --out "$out/parts-$([ -z "$pad" ] && echo pad || echo stock).json" || true
      done ) > "$work/parts.log" 2>&1
    for rep in 1 2; do
        for pad in "" 0; do
            name=$([ -z "$pad" ] && echo pad || echo stock)
            DSPARK_MARKOV_PAD=$pad timeout 400 "$0" bench "$carry" "$work" "$out/markov-$name-$rep" --kinds dspark \
                --alphas ${ALPHAS:-0 0.8 0.9} --no-curve --budget-s 0 || true
        done
    done
    echo ALL-DONE >> "$work/bench.log"
    ;;
probe)
    # the DSpark pair at alpha 0 traced round by round (benchmarks/gpu_probe_trace.py: where a probe's
    # milliseconds go, OUTDIR/probe-trace.json), then REPS (default 3) processes of rows of KINDS (default dspark)
    # at ALPHAS beside llama.cpp's (OUTDIR/probe-rows-N); with SMOLLM_GGUF the lossless tests first (while the
    # files are quantized)
    out=$4; smollm=${5:-}
    if [ -n "$smollm" ]; then tests_while_quantizing "$smollm"; else wait_for_build; quantize_files; fi
    mkdir -p "$out"
    # a build with the feature-switch patch: the decodes around a switch, patched and stock (OUTDIR/switch-{1,0}.json)
    if grep -q "dspark-chat:" "$sdist_dir/vendor/llama.cpp/src/llama-context.cpp"; then
        for v in 1 0; do
            ( eval "$(exports)"; cd "$work/src"
              DSPARK_CHEAP_FEATURE_SWITCH=$v python3 -m benchmarks.gpu_switch_cost --folder "$work/files" \
                  --out "$out/switch-$v.json" || true ) >> "$work/trace.log" 2>&1
        done
    fi
    ( eval "$(exports)"; cd "$work/src"
      python3 -m benchmarks.gpu_probe_trace --folder "$work/files" --alpha 0 --runs 5 --out "$out/probe-trace.json" \
          || true ) >> "$work/trace.log" 2>&1
    for rep in $(seq "${REPS:-3}"); do
        # the processes named in STOCK_TOKEN_REPS read the drafts on the host (DSPARK_GRAPH_TOKENS=0: the A/B of
        # the patched graph's chained drafts) and those in STOCK_SWITCH_REPS switch the feature copy with
        # llama.cpp's full reserve (DSPARK_CHEAP_FEATURE_SWITCH=0)
        # and those in DEVICE_ARGMAX_REPS take the target's greedy tokens on the GPU (DSPARK_DEVICE_ARGMAX=1, off by
        # default since run O)
        gt=1; sw=1; da=0; dir="$out/probe-rows-$rep"
        case " ${STOCK_TOKEN_REPS:-} " in *" $rep "*) gt=0; dir="$dir-host-tokens" ;; esac
        case " ${STOCK_SWITCH_REPS:-} " in *" $rep "*) sw=0; dir="$dir-stock-switch" ;; esac
        case " ${DEVICE_ARGMAX_REPS:-} " in *" $rep "*) da=1; dir="$dir-device-argmax" ;; esac
        DSPARK_GRAPH_TOKENS=$gt DSPARK_CHEAP_FEATURE_SWITCH=$sw DSPARK_DEVICE_ARGMAX=$da \
            timeout 580 "$0" bench "$carry" "$work" "$dir" --kinds ${KINDS:-dspark} \
            --alphas ${ALPHAS:-0 0.8 0.9} --no-curve --budget-s 0 || true
    done
    echo ALL-DONE >> "$work/bench.log"
    ;;
argmax)
    # the device argmax's CUDA fault (run O; run P: a replayed CUDA graph hits an illegal instruction, with llama.cpp's
    # own argmax per row as with the patch's one op; with CUDA graphs off the tests passed). One pytest process per
    # variant, pytest's capture off (-s) so llama.cpp's error text survives an abort: graphs on once (does it still
    # fault?), under cuda-gdb, then REPEATS (default 3) processes with graphs off. A setup that wrote the files (no
    # SKIP_FILES) then times what it saves where graphs are off: REPS (default 4) processes of DSpark rows at ALPHAS (default 0.8 0.9)
    # with --cuda-graphs off, the argmax on the host and on the device alternating (OUTDIR/argmax-rows-{host,device}-N).
    # CUDA_GDB=0 skips the cuda-gdb step; ROW_ALPHAS picks the rows' alphas from the files' ALPHAS
    out=$4; smollm=$5; mkdir -p "$out"
    wait_for_build
    pick=(tests/test_lossless.py tests/test_device_argmax.py -k "(smollm and not pipelined) or argmax"
          -q -s -rf --tb=line)
    DSPARK_DEVICE_ARGMAX=1 timeout 200 "$0" tests "$carry" "$work" "$smollm" "${pick[@]}" \
        > "$out/argmax-graphs.log" 2>&1 || true
    # which kernel traps (an illegal instruction is a device-side trap): cuda-gdb stops at the CUDA exception and
    # names the kernel, where the machine has it
    cudagdb=$(command -v cuda-gdb || ls /usr/local/cuda/bin/cuda-gdb 2>/dev/null || true)
    if [ -n "$cudagdb" ] && [ "${CUDA_GDB:-1}" = 1 ]; then
        printf '%s\n' "set cuda api_failures ignore" run bt "info cuda kernels" "info cuda devices" > "$work/argmax.gdb"
        DSPARK_DEVICE_ARGMAX=1 TEST_WRAPPER="$cudagdb -q -batch -x $work/argmax.gdb --args" timeout 400 "$0" tests \
            "$carry" "$work" "$smollm" tests/test_lossless.py -k "smollm_model_drafter or smollm_ngram_drafter" -q -s \
            > "$out/argmax-cuda-gdb.log" 2>&1 || true
    fi
    for rep in $(seq "${REPEATS:-3}"); do
        DSPARK_DEVICE_ARGMAX=1 GGML_CUDA_DISABLE_GRAPHS=1 timeout 200 "$0" tests "$carry" "$work" "$smollm" \
            "${pick[@]}" > "$out/argmax-no-graphs-$rep.log" 2>&1 || true
    done
    if [ -f "$work/files.log" ]; then
        quantize_files
        for rep in $(seq "${REPS:-4}"); do
            da=$(( rep % 2 == 0 )); where=host; [ $da = 1 ] && where=device
            DSPARK_DEVICE_ARGMAX=$da timeout 580 "$0" bench "$carry" "$work" "$out/argmax-rows-$where-$rep" \
                --kinds dspark --alphas ${ROW_ALPHAS:-${ALPHAS:-0.8 0.9}} --no-curve --no-llamacpp --budget-s 0 \
                --cuda-graphs off || true
        done
    fi
    echo ARGMAX-DONE >> "$out/argmax-graphs.log"
    ;;
shapeargmax)
    # run T. The device argmax faulted under CUDA graphs with llama.cpp's stock graph key (runs O to Q: a replayed
    # graph of another batch, after the sampler was switched); the per-shape key also tells graphs apart by their
    # node count and end shapes, which the sampler changes. Does the fault remain there?
    out=$4; smollm=$5; mkdir -p "$out"
    tests_while_quantizing "$smollm"
    cp "$work"/tests*.log "$out"/ || true
    pick=(tests/test_lossless.py tests/test_device_argmax.py -k "(smollm and not pipelined) or argmax"
          -q -s -rf --tb=line)
    DSPARK_DEVICE_ARGMAX=1 timeout 240 "$0" tests "$carry" "$work" "$smollm" "${pick[@]}" \
        > "$out/argmax-per-shape.log" 2>&1 || true
    for rep in $(seq "${REPS:-4}"); do
        da=$(( rep % 2 == 0 )); where=host; [ $da = 1 ] && where=device
        DSPARK_DEVICE_ARGMAX=$da timeout 300 "$0" bench "$carry" "$work" "$out/rows-$where-$rep" \
            --kinds dspark --alphas ${ALPHAS:-0.6 0.8} --no-curve --budget-s 0 || true
    done
    ( eval "$(exports)"; cd "$work/src"
      DSPARK_DEVICE_ARGMAX=1 timeout 200 python3 -m benchmarks.gpu_host_profile --folder "$work/files" --kind dspark \
          --alpha-tag a080 --out "$out/host-dspark-device-argmax.json" ) > "$out/host.log" 2>&1 || true
    echo T-DONE >> "$out/argmax-per-shape.log"
    ;;
hostshare)
    # run U: the Python share after the host-side trims (70a6a20), and the device argmax without the rows' logits
    # copy (packaging/patch_rows_argmax.py; runs Q and T timed llama.cpp's op per row). Rows first, the tests last
    # (device time is short): the GPU selection with the device argmax forced on, once SMOLLM_GGUF has arrived
    out=$4; smollm=$5; mkdir -p "$out"
    wait_for_build
    quantize_files
    alternating DSPARK_DEVICE_ARGMAX rows "${KINDS:-dspark}" "${ALPHAS:-0.8}"
    segments_both DSPARK_DEVICE_ARGMAX dspark
    # the model drafter both ways, then the device argmax with the rows' logits copied as stock llama.cpp does
    REPS=2 alternating DSPARK_DEVICE_ARGMAX model-rows model "${ALPHAS:-0.8}"
    DSPARK_DEVICE_ARGMAX=1 DSPARK_ROWS_LOGITS=1 timeout 400 "$0" bench "$carry" "$work" "$out/rows-device-copy" \
        --kinds dspark --alphas ${ALPHAS:-0.8} --no-curve --no-llamacpp --budget-s 0 || true
    if [ -s "$smollm" ]; then
        DSPARK_DEVICE_ARGMAX=1 timeout 400 "$0" tests "$carry" "$work" "$smollm" -q -rf --tb=line --maxfail=10 \
            tests/test_lossless.py tests/test_sampling.py tests/test_dspark.py tests/test_device_argmax.py \
            -k "not gemma and not without_layer_inputs" > "$out/tests-device-argmax.log" 2>&1 || true
    fi
    echo U-DONE >> "$out/segments.log"
    ;;
peaks)
    # run V: the model drafter's steps taken on the device (packaging/patch_rows_argmax.py's row probability)
    # against the host's peak finder, the target's argmax on the device in both (the default since run U)
    out=$4; smollm=$5; mkdir -p "$out"
    # the GPU tests (device paths on by default in this build) while the CPU quantizes: nothing is timed yet
    tests_while_quantizing "$smollm"
    cp "$work"/tests*.log "$out/" 2> /dev/null || true
    alternating DSPARK_DRAFTER_ON_DEVICE model model "${PEAK_ALPHAS:-0.8}"
    # every row beside llama.cpp before the probes below: the issue's table comes first if the machine is lost
    if [ -n "${FULL_ALPHAS:-}" ]; then
        timeout 500 "$0" bench "$carry" "$work" "$out/full" --kinds model dspark --alphas $FULL_ALPHAS --no-curve \
            --budget-s 0 || true
    fi
    ttft_both
    segments_both DSPARK_DRAFTER_ON_DEVICE model
    echo V-DONE >> "$out/segments.log"
    ;;
ttft)
    # after run W: the first token with whole prompt batches, then processes of rows beside llama.cpp
    out=$4; smollm=$5; mkdir -p "$out"
    tests_while_quantizing "$smollm"
    cp "$work"/tests*.log "$out/" 2> /dev/null || true
    ttft_both
    row_processes "${REPS:-3}"
    echo W2-DONE >> "$out/ttft.log"
    ;;
final)
    out=$4; smollm=$5; mkdir -p "$out"
    tests_while_quantizing "$smollm"
    cp "$work"/tests*.log "$out/" 2> /dev/null || true
    timeout "${BENCH_TIMEOUT:-900}" "$0" bench "$carry" "$work" "$out/main" --kinds model ngram dspark \
        ${ALPHAS:+--alphas $ALPHAS} || true
    ( eval "$(exports)"; cd "$work/src"
      timeout 150 python3 -m benchmarks.gpu_host_segments --folder "$work/files" --kind ngram \
          --out "$out/segments-ngram.json" ) >> "$out/segments.log" 2>&1 || true
    ttft_both
    row_processes "${REPS:-1}"
    echo FINAL-DONE >> "$out/segments.log"
    ;;
host)
    eval "$(exports)"
    cd "$work/src"
    for kind in dspark model; do
        python3 -m benchmarks.gpu_host_profile --folder "$work/files" --kind $kind --cache "${CACHE:-$4/main/cache}" \
            --out "$4/host-$kind.json"
        # the same rounds split by the engine's steps, without the profiler's slowdown
        python3 -m benchmarks.gpu_host_segments --folder "$work/files" --kind $kind --out "$4/segments-$kind.json"
    done
    ;;
drafters)
    eval "$(exports)"
    cd "$work/src"
    python3 -m benchmarks.gpu_drafter_costs --folder "$work/files" --no-graphs --out "$4/drafter_costs.json"
    ;;
shape)
    eval "$(exports)"
    cd "$work/src"
    python3 -m benchmarks.gpu_shape_change --folder "$work/files" --out "$4/shape.json"
    ;;
overlap)
    eval "$(exports)"
    cd "$work/src"
    python3 -m benchmarks.gpu_overlap --folder "$work/files" --out "$4/overlap.json"
    ;;
tests)
    smollm=$(realpath "$4"); shift 4
    eval "$(exports)"
    cd "$work/src"
    # a patched build (LLAMA_PATCH=markov, switch, rows, dspark) also runs tests/test_markov_patch.py,
    # tests/test_feature_switch_patch.py and tests/test_device_argmax.py's one-op test, each where its patch is in
    # the build
    markov=""; grep -q "dspark-chat:" "$sdist_dir/vendor/llama.cpp/src/models/dflash.cpp" && markov="$build/bin"
    switch=""; grep -q "dspark-chat:" "$sdist_dir/vendor/llama.cpp/src/llama-context.cpp" && switch="$build/bin"
    rows=""; grep -q "dspark-chat:" "$sdist_dir/vendor/llama.cpp/src/llama-graph.cpp" && rows="$build/bin"
    # DSPARK_LLAMA_ERRORS: llama.cpp's error lines reach the log (why a GGML_ABORT aborted, run O); TEST_WRAPPER: a
    # command that runs pytest (cuda-gdb in `argmax`)
    DSPARK_LLAMA_ERRORS=1 DSPARK_TEST_GPU_LAYERS=99 DSPARK_TEST_SMOLLM="$smollm" DSPARK_TEST_MODELS="$work/test-models" \
        DSPARK_TEST_PATCHED_LIB="$markov" DSPARK_TEST_SWITCH_LIB="$switch" DSPARK_TEST_ROWS_LIB="$rows" \
        ${TEST_WRAPPER:-} python3 -m pytest -p no:cacheprovider "$@"
    ;;
*)
    echo "usage: $0 setup|env|bench|all|full|repeat|steady|parts|markov|probe|argmax|shapeargmax|hostshare|peaks|quick|pershape|overlap|shape|drafters|host|tests CARRY WORK [OUTDIR args...]" >&2; exit 2 ;;
esac
