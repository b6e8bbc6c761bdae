"""Patch an unpacked llama-cpp-python sdist before a GPU build: one CUDA graph per batch shape.

llama.cpp's CUDA backend caches captured CUDA graphs per context, keyed by the address of the graph's first node.
llama.cpp builds every graph of a context in the same memory, so that address is the same for every batch size:
a decode of another size than the last runs uncaptured (+1.4 ms for an 8B target on an H100), the next one
captures anew (+4.9 ms), and only the third replays. Speculative decoding changes the verify size nearly every
round, and a model drafter alternates catch-up batches with one-token steps, so they pay that on most decodes
(docs/benchmarks.md, runs E and F). Keying the cache by the graph's shape as well lets every batch size keep its
own captured graph (ggml evicts graphs unused for 10 s, so memory stays bounded). GGML_CUDA_GRAPH_PER_SHAPE=0 in
the environment gives the stock behaviour back in a patched build (read once per process), so one build can
compare both on one machine.

    python packaging/patch_llama.py SDIST_DIR      # idempotent; exit 1 with one line if the source is unknown
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sdist_patch  # noqa: E402  (a sibling script, not a package)

TARGET = Path("vendor/llama.cpp/ggml/src/ggml-cuda/ggml-cuda.cu")
MARK = "dspark-chat: one CUDA graph per batch shape"
ORIGINAL = """static const void * ggml_cuda_graph_get_key(ggml_cgraph * cgraph) {
    return cgraph->nodes[0];
}
"""
PATCHED = """static const void * ggml_cuda_graph_get_key(ggml_cgraph * cgraph) {
    // dspark-chat: one CUDA graph per batch shape. Every graph of a context is built in the same memory, so the
    // first node's address alone names one graph for all batch sizes and each change of size re-captures it;
    // the graph's node count and its first and last nodes' shapes tell the sizes apart.
    // GGML_CUDA_GRAPH_PER_SHAPE=0 keeps the stock key (to compare both in one build).
    static const bool per_shape = [] {
        const char * env = getenv("GGML_CUDA_GRAPH_PER_SHAPE");
        return env == nullptr || atoi(env) != 0;
    }();
    if (!per_shape) {
        return cgraph->nodes[0];
    }
    uint64_t shape = (uint64_t) cgraph->n_nodes;
    if (cgraph->n_nodes > 0) {
        const ggml_tensor * ends[2] = { cgraph->nodes[0], cgraph->nodes[cgraph->n_nodes - 1] };
        for (const ggml_tensor * t : ends) {
            for (int d = 0; d < GGML_MAX_DIMS; ++d) {
                shape = shape * 1000003u ^ (uint64_t) t->ne[d];
            }
        }
    }
    return (const void *) ((uintptr_t) cgraph->nodes[0] ^ (uintptr_t) (shape * 0x9E3779B97F4A7C15ull));
}
"""


def patch(sdist: Path) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one this patch was written for."""
    return sdist_patch.apply(sdist, TARGET, MARK, ((ORIGINAL, PATCHED),), "CUDA graph")


def main(argv: list[str] | None = None) -> int:
    return sdist_patch.cli(argv, "patch_llama", TARGET, patch)


if __name__ == "__main__":
    raise SystemExit(main())
