#!/usr/bin/env bash
# The CPU benchmark table of the README: each line is one `dspark-chat bench` run (plain and speculative side by
# side, greedy, same process), saved as JSON in docs/benchmarks/ and rendered by bench_table.py.
# Usage: bash benchmarks/run_cpu.sh [MAX_TOKENS]   (run it on a quiet machine; takes ~10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DSPARK=${DSPARK:-dspark-chat}
N=${1:-64}
OUT=docs/benchmarks
mkdir -p "$OUT"
bench() {  # name target drafter prompts
    "$DSPARK" bench --target "$2" --drafter "$3" --prompts "$4" --max-tokens "$N" --json >"$OUT/cpu-$1.json"
}
bench gemma-f16-model gemma3-270m-f16 gemma3-270m benchmarks/prompts-raw.jsonl
bench gemma-f16-ngram gemma3-270m-f16 ngram benchmarks/prompts-raw.jsonl
bench smollm2-ngram smollm2-135m ngram benchmarks/prompts-chat.jsonl
if [ -n "${DSPARK_SYNTH_TARGET:-}" ]; then  # a synthetic successor-chain pair (tests/tools/synth.py)
    bench synth-dspark "$DSPARK_SYNTH_TARGET" "$DSPARK_SYNTH_DRAFTER" benchmarks/prompts-raw.jsonl
fi
python3 benchmarks/bench_table.py "$OUT"/cpu-*.json
