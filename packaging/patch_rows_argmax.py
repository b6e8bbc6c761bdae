"""Patch an unpacked llama-cpp-python sdist: a backend greedy sampler takes the argmax of all of a batch's output
rows in one op, instead of one op per row.

dspark-chat verifies greedy drafts against the target's argmax of each verified row. Taken on the host, that is a
copy of every row's logits to the host (128256 floats each for an 8B Llama) and a pass over each: on an H100's
host 0.15-0.3 ms of a DSpark round at alpha 0.8, while the GPU waits (docs/benchmarks.md run N: the part of
DSpark's Python that the GPU does not hide). llama.cpp's backend sampling can take the argmax on the device and
copy one int a row, but its greedy sampler builds one `ggml_argmax` per row, and ggml-cuda runs an argmax with one
thread block per row: about 50 us a row on an H100 (run C), serialized, more than the host's pass. One
`ggml_argmax` over the whole [n_vocab, rows] logits runs the rows' blocks side by side in one launch.

The patch changes `llm_graph_context::build_sampling` only for a sequence whose sampler is a chain holding one
greedy sampler: its rows' tokens become views of one shared argmax (the same first-index maximum, so the same
tokens), and its rows' logits stay on the device (stock llama.cpp copies each sampled row's logits to the host
too: as many bytes as the host argmax's copy, in one copy a row; DSPARK_ROWS_LOGITS=1 keeps that copy). Every
other sampler is applied as before. DSPARK_ONE_ARGMAX=0 in the environment keeps the stock path (read once per
process), and `dspark_rows_argmax()`, exported by the patched library, tells dspark-chat that the
patch is there.

A greedy drafter needs its token's probability as well (its confidence, softmax(row)[argmax]): a chain marked with
the exported `dspark_rows_probs(chain, 1)` also gets each row's probability, one float a row copied (llama.cpp's
sampled probs, read with `llama_get_sampled_probs_ith`). Without it the model drafter copies each step's 128256
logits to the host and passes over them there: most of its Python on an H100's host (docs/benchmarks.md run U).
`dspark_sampled_tokens(ctx, first, n, out)` reads a verify's n tokens with one wait for the device instead of n.

    python packaging/patch_rows_argmax.py SDIST_DIR      # idempotent; exit 1 with one line if the source is unknown
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sdist_patch  # noqa: E402  (a sibling script, not a package)

TARGET = Path("vendor/llama.cpp/src/llama-graph.cpp")
MARK = "dspark-chat: one argmax for a greedy sequence's rows"
ORIGINAL_LOOP = """    static const std::vector<uint32_t> dummy_row = { 0 };

    for (const auto & [seq_id, sampler] : samplers) {"""
PATCHED_LOOP = """    static const std::vector<uint32_t> dummy_row = { 0 };

    // dspark-chat: one argmax for a greedy sequence's rows, shared by all of them (built on first use)
    ggml_tensor * rows_argmax = nullptr;

    for (const auto & [seq_id, sampler] : samplers) {"""
ORIGINAL_APPLY = """            assert(sampler->iface->backend_apply);
            sampler->iface->backend_apply(sampler, ctx0, gf, &data);
"""
PATCHED_APPLY = """            if (dspark_lone_greedy(sampler)) {
                if (rows_argmax == nullptr) {
                    rows_argmax = ggml_argmax(ctx0, logits_t);
                    ggml_set_name(rows_argmax, "dspark_rows_argmax");
                }
                data.sampled = ggml_view_1d(ctx0, rows_argmax, 1, rows[i] * rows_argmax->nb[0]);
                if (!dspark_keep_row_logits()) {
                    data.logits = nullptr;  // greedy reads the token only: no copy of the row's logits
                }
                if (dspark_wants_probs(sampler)) {
                    // the token's probability, softmax(row)[argmax]: one float a row instead of the row
                    ggml_tensor * probs = ggml_soft_max(ctx0, logits_seq);
                    data.probs = ggml_get_rows(ctx0, ggml_reshape_2d(ctx0, probs, 1, probs->ne[0]), data.sampled);
                    ggml_set_name(data.probs, "dspark_row_prob");
                }
            } else {
                assert(sampler->iface->backend_apply);
                sampler->iface->backend_apply(sampler, ctx0, gf, &data);
            }
"""
ORIGINAL_FUNCTION = """void llm_graph_context::build_sampling() const {
"""
PATCHED_FUNCTION = """#include "llama-context.h"

#include <mutex>
#include <set>

// dspark-chat: a chain holding one greedy sampler gets its rows' argmax from one op over all rows (ggml-cuda runs
// an argmax with one thread block per row: one op per row serialized ~50 us a row on an H100, one op for all rows
// runs them side by side). DSPARK_ONE_ARGMAX=0 keeps the stock path.
static bool dspark_lone_greedy(llama_sampler * sampler) {
    static const bool on = [] {
        const char * env = getenv("DSPARK_ONE_ARGMAX");
        return env == nullptr || *env == '\\0' || atoi(env) != 0;
    }();
    if (!on || llama_sampler_chain_n(sampler) != 1) {
        return false;
    }
    // once a backend initialized it a sampler's name says whether the backend runs it: "+greedy" or "-greedy"
    const char * name = llama_sampler_name(llama_sampler_chain_get(sampler, 0));
    return strcmp(name, "greedy") == 0 || strcmp(name, "+greedy") == 0;
}

// Stock llama.cpp copies every sampled row's logits to the host as well (the greedy sampler leaves them in its
// output): n_vocab floats a row after each decode, which the token alone makes needless.
// DSPARK_ROWS_LOGITS=1 keeps that copy (to compare both in one build).
static bool dspark_keep_row_logits() {
    static const bool keep = [] {
        const char * env = getenv("DSPARK_ROWS_LOGITS");
        return env != nullptr && atoi(env) != 0;
    }();
    return keep;
}

extern "C" LLAMA_API int dspark_rows_argmax(void);
extern "C" LLAMA_API int dspark_rows_argmax(void) {
    return 1;
}

// A greedy drafter's step needs its token's probability too (its confidence): chains marked here also report
// softmax(row)[argmax] for each row, one float copied, so no row's logits reach the host. Mark a chain before
// llama_set_sampler (graphs are built then); unmark it before freeing it.
static std::mutex dspark_probs_mutex;
static std::set<const llama_sampler *> dspark_probs_chains;

extern "C" LLAMA_API void dspark_rows_probs(llama_sampler * chain, int on);
extern "C" LLAMA_API void dspark_rows_probs(llama_sampler * chain, int on) {
    std::lock_guard<std::mutex> lock(dspark_probs_mutex);
    if (on) {
        dspark_probs_chains.insert(chain);
    } else {
        dspark_probs_chains.erase(chain);
    }
}

static bool dspark_wants_probs(const llama_sampler * chain) {
    std::lock_guard<std::mutex> lock(dspark_probs_mutex);
    return dspark_probs_chains.count(chain) != 0;
}

// The sampled tokens of a decode's batch positions [first, first + n) in one call: llama_get_sampled_token_ith
// waits for the device once per call, n times for a verify's n rows.
extern "C" LLAMA_API int32_t dspark_sampled_tokens(llama_context * ctx, int32_t first, int32_t n, llama_token * out);
extern "C" LLAMA_API int32_t dspark_sampled_tokens(llama_context * ctx, int32_t first, int32_t n, llama_token * out) {
    ctx->synchronize();
    for (int32_t i = 0; i < n; ++i) {
        out[i] = ctx->get_sampled_token_ith(first + i);
    }
    return n;
}

void llm_graph_context::build_sampling() const {
"""


def patch(sdist: Path) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one this patch was written for."""
    edits = ((ORIGINAL_FUNCTION, PATCHED_FUNCTION), (ORIGINAL_LOOP, PATCHED_LOOP), (ORIGINAL_APPLY, PATCHED_APPLY))
    return sdist_patch.apply(sdist, TARGET, MARK, edits, "rows argmax")


def main(argv: list[str] | None = None) -> int:
    return sdist_patch.cli(argv, "patch_rows_argmax", TARGET, patch)


if __name__ == "__main__":
    raise SystemExit(main())
