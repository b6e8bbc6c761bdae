"""Patch an unpacked llama-cpp-python sdist before a GPU build: DSpark's Markov bias as a batched product, and
the drafts the Markov head chains as an output.

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

The drafts: the head takes each position's argmax on the device to chain the next bias; the patch also writes it
into the position's confidence row (see GRAPH_TOKENS_MARK below), so the engine need not take argmaxes over the
vocabulary on the host (DSPARK_GRAPH_TOKENS=0 keeps the stock output).

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

// dspark-chat: the chained drafts in the confidence output (see build_dspark_markov_head); DSPARK_GRAPH_TOKENS=0
// keeps the stock output
static const float DSPARK_GRAPH_TOKENS_MARK = -12345.0f;

static bool dspark_graph_tokens() {
    static const bool on = [] {
        const char * env = getenv("DSPARK_GRAPH_TOKENS");
        return env == nullptr || *env == '\\0' || atoi(env) != 0;
    }();
    return on;
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
# The chained drafts as an output: the graph already takes each position's argmax to chain the next bias, and the
# confidence output repeats each position's confidence over a row of n_embd floats. Row i becomes [confidence i,
# draft i, GRAPH_TOKENS_MARK, 0, ...], so the host reads the block's drafts instead of taking argmaxes over the
# vocabulary (0.09-0.19 ms a row on an H100's host, docs/benchmarks.md run F). Column 0 stays the confidence, where
# llama.cpp's own speculative decoding reads it.
ORIGINAL_SLOTS = """    ggml_tensor * cat      = nullptr;
    ggml_tensor * cat_conf = nullptr;
"""
PATCHED_SLOTS = """    ggml_tensor * cat      = nullptr;
    ggml_tensor * cat_conf = nullptr;
    // dspark-chat: the chained drafts, one float per position, when the confidence output can carry them
    const bool    tokens_out = has_conf && dspark_graph_tokens();
    ggml_tensor * cat_tok    = tokens_out && !sample_from_anchor
        ? ggml_reshape_2d(ctx0, ggml_cast(ctx0, prev, GGML_TYPE_F32), 1, n_blocks) : nullptr; // bonus slot: anchor
"""
ORIGINAL_CHAIN = """        if (i + 1 < block_drafts) {
            prev = ggml_argmax(ctx0, col);
        }
"""
PATCHED_CHAIN = """        if (i + 1 < block_drafts || tokens_out) {
            prev = ggml_argmax(ctx0, col);
        }
        if (tokens_out) {
            ggml_tensor * tok = ggml_reshape_2d(ctx0, ggml_cast(ctx0, prev, GGML_TYPE_F32), 1, n_blocks);
            cat_tok = cat_tok ? ggml_concat(ctx0, cat_tok, tok, 1) : tok;
        }
"""
ORIGINAL_CONF_OUT = """        conf = ggml_repeat(ctx0, conf, res->t_embd);
"""
PATCHED_CONF_OUT = """        if (tokens_out) {
            // dspark-chat: row i = [confidence, draft, mark, 0...] (see dspark_graph_tokens)
            ggml_tensor * tok = ggml_reshape_3d(ctx0, cat_tok, 1, n_blocks, block_drafts);
            tok = ggml_cont(ctx0, ggml_permute(ctx0, tok, 0, 2, 1, 3));
            tok = ggml_reshape_2d(ctx0, tok, 1, n_tok);
            ggml_tensor * mark = ggml_fill(ctx0, ggml_new_tensor_2d(ctx0, GGML_TYPE_F32, 1, n_tok),
                                           DSPARK_GRAPH_TOKENS_MARK);
            ggml_tensor * packed = ggml_concat(ctx0, ggml_concat(ctx0, conf, tok, 0), mark, 0);
            conf = ggml_pad(ctx0, packed, (int) (res->t_embd->ne[0] - 3), 0, 0, 0);
        } else {
            conf = ggml_repeat(ctx0, conf, res->t_embd);
        }
"""
EDITS = ((ORIGINAL_HEAD, PATCHED_HEAD), (ORIGINAL_BIAS, PATCHED_BIAS), (ORIGINAL_SLOTS, PATCHED_SLOTS),
         (ORIGINAL_CHAIN, PATCHED_CHAIN), (ORIGINAL_CONF_OUT, PATCHED_CONF_OUT))
GRAPH_TOKENS_MARK = -12345.0  # column 2 of a confidence row in a patched build (a confidence lies in [0, 1])


def patch(sdist: Path) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one this patch was written for."""
    return sdist_patch.apply(sdist, TARGET, MARK, EDITS, "Markov head")


def main(argv: list[str] | None = None) -> int:
    return sdist_patch.cli(argv, "patch_markov_head", TARGET, patch)


if __name__ == "__main__":
    raise SystemExit(main())
