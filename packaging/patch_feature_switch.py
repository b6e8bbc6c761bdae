"""Patch an unpacked llama-cpp-python sdist: switching a layer's input output (the target's feature copy for a native
DSpark drafter) rebuilds the next graph instead of re-planning the context's whole graph memory.

`llama_set_embeddings_layer_inp` asks for a full scheduler reserve: llama.cpp builds and allocates its worst-case
graphs again before the next decode. On an H100 that decode took 16-20 ms against 3.7 ms for an 8B target's step,
and a DSpark pair that is not drafting switches the copy twice per probe, which is most of what alpha 0 costs
(docs/benchmarks.md run M: rounds without a switch ran at plain speed, each switch took 2% of a 256-token run).
The reserve is there because a graph reused from before the switch lacks the output flags on the layer inputs (its
reuse check does not compare them), so the features read after the switch were garbage; dropping the active graph
forces the rebuild that sets them, and the scheduler still grows its buffers on its own should the new graph need
more. Measured on an H100 (run N): the two decodes after a switch cost 2.2 ms more than two steps, 17.4 ms with
the stock reserve. DSPARK_CHEAP_FEATURE_SWITCH=0 in the environment keeps the stock reserve in a patched build (read once per
process), so one build can compare both.

    python packaging/patch_feature_switch.py SDIST_DIR      # idempotent; exit 1 with one line if the source is unknown
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sdist_patch  # noqa: E402  (a sibling script, not a package)

TARGET = Path("vendor/llama.cpp/src/llama-context.cpp")
MARK = "dspark-chat: a cheap switch of a layer input's output"
ORIGINAL = """    cparams.embeddings_layer_inp[lid] = enable;

    // note: without this reserve, the draft acceptance drops to zero. not sure why - this is unexpected
    sched_need_reserve = true;
}
"""
PATCHED = """    const bool changed = cparams.embeddings_layer_inp[lid] != enable;
    cparams.embeddings_layer_inp[lid] = enable;

    // dspark-chat: a cheap switch of a layer input's output. A graph reused from before the switch would lack
    // the output flag on this input (graph reuse does not compare it), so drop the active graph: the next decode
    // builds one that sets it, and the scheduler grows its buffers itself if that graph needs more. The stock
    // full reserve (DSPARK_CHEAP_FEATURE_SWITCH=0) re-plans all graph memory, 16-20 ms on an H100.
    static const bool cheap = [] {
        const char * env = getenv("DSPARK_CHEAP_FEATURE_SWITCH");
        return env == nullptr || *env == '\\0' || atoi(env) != 0;
    }();
    if (!cheap) {
        sched_need_reserve = true;
    } else if (changed) {
        gf_res_prev_active = nullptr;
    }
}
"""


def patch(sdist: Path) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one this patch was written for."""
    return sdist_patch.apply(sdist, TARGET, MARK, ((ORIGINAL, PATCHED),), "feature switch")


def main(argv: list[str] | None = None) -> int:
    return sdist_patch.cli(argv, "patch_feature_switch", TARGET, patch)


if __name__ == "__main__":
    raise SystemExit(main())
