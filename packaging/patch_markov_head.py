"""Patch an unpacked llama-cpp-python sdist before a GPU build: DSpark's Markov bias as a batched product.

Per drafted position, the DSpark Markov head (`src/models/dflash.cpp`) multiplies markov_w2 (one row of rank R for
every vocabulary entry) by the previous draft's embedding. With one block that product has one column, and
ggml-cuda runs it with its mat-vec kernel, one thread block per vocabulary row: Nsight Compute timed it at 158 us a
position on an H100 for a 65 MB matrix (128256 x 256, F16), two thirds of the 0.24 ms a block position costs
(docs/benchmarks.md, "The DSpark block, kernel by kernel"); the rank hardly matters (rank 16: 9 us less). Padding
the column with zero columns to DSPARK_MARKOV_PAD_COLS makes it a batched product that reads the matrix once; the
real columns are kept, so the drafts are the same numbers. Only where the weights are in GPU memory (on a CPU the
padding would multiply the work). DSPARK_MARKOV_PAD=0 in the environment keeps the stock product in a patched build
and =1 pads on every backend (read once per process), so one build can compare both and a CPU can test the padded
graph.

    python packaging/patch_markov_head.py SDIST_DIR      # idempotent; exit 1 with one line if the source is unknown
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sdist_patch  # noqa: E402  (a sibling script, not a package)

TARGET = Path("vendor/llama.cpp/src/models/dflash.cpp")
MARK = "dspark-chat: the Markov bias as a batched product"
ORIGINAL_HEAD = """// DSpark (DFlash + Markov & Confidence head): Markov bias on the draft logits, chained per block position
static void build_dspark_markov_head("""
PATCHED_HEAD = """// dspark-chat: the Markov bias as a batched product (see build_dspark_markov_head)
static const int64_t DSPARK_MARKOV_PAD_COLS = 9;

static bool dspark_pad_markov_bias(const ggml_tensor * w2, int64_t n_blocks) {
    static const int mode = [] {
        const char * env = getenv("DSPARK_MARKOV_PAD");
        return env == nullptr || *env == '\\0' ? -1 : atoi(env);
    }();
    if (mode == 0 || n_blocks >= DSPARK_MARKOV_PAD_COLS) {
        return false;
    }
    return mode > 0 || (w2->buffer != nullptr && !ggml_backend_buffer_is_host(w2->buffer));
}

// DSpark (DFlash + Markov & Confidence head): Markov bias on the draft logits, chained per block position
static void build_dspark_markov_head("""
ORIGINAL_BIAS = """        ggml_tensor * w1_prev = ggml_get_rows(ctx0, w1, prev);                          // [R, n_blocks]
        ggml_tensor * bias    = g.build_lora_mm(w2, w1_prev, model.dspark_markov_w2_s); // [n_vocab_draft, n_blocks]
"""
PATCHED_BIAS = """        ggml_tensor * w1_prev = ggml_get_rows(ctx0, w1, prev);                          // [R, n_blocks]
        // dspark-chat: the Markov bias as a batched product. One column ran ggml-cuda's mat-vec kernel with a
        // thread block per vocabulary row (158 us a position on an H100); zero columns up to
        // DSPARK_MARKOV_PAD_COLS make it a batched product that reads w2 once, and only the real columns are kept.
        ggml_tensor * bias    = nullptr;
        if (!model.d2t && dspark_pad_markov_bias(w2, n_blocks)) {
            ggml_tensor * padded = ggml_pad(ctx0, w1_prev, 0, (int) (DSPARK_MARKOV_PAD_COLS - n_blocks), 0, 0);
            ggml_tensor * full   = g.build_lora_mm(w2, padded, model.dspark_markov_w2_s);
            bias = ggml_view_2d(ctx0, full, full->ne[0], n_blocks, full->nb[1], 0);
        } else {
            bias = g.build_lora_mm(w2, w1_prev, model.dspark_markov_w2_s); // [n_vocab_draft, n_blocks]
        }
"""
EDITS = ((ORIGINAL_HEAD, PATCHED_HEAD), (ORIGINAL_BIAS, PATCHED_BIAS))


def patch(sdist: Path) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one this patch was written for."""
    return sdist_patch.apply(sdist, TARGET, MARK, EDITS, "Markov head")


def main(argv: list[str] | None = None) -> int:
    return sdist_patch.cli(argv, "patch_markov_head", TARGET, patch)


if __name__ == "__main__":
    raise SystemExit(main())
