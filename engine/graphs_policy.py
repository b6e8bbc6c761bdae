"""Whether a pair runs with llama.cpp's CUDA graphs, when the user leaves it to the engine (cuda_graphs None).

Measured on an H100 with an 8B-shape target (docs/benchmarks.md, runs E and F): CUDA graphs make plain steps about
9% faster and a 1B model drafter's steps 45% faster (a model drafter at alpha 0.8: 1.31x plain with graphs, 1.12x
without). A native DSpark drafter changes the verify batch size nearly every round, and llama.cpp then runs the
target's decodes uncaptured or captures them anew: without graphs DSpark at alpha 0.8 ran 12-18% faster (4 of 4
process pairs on one machine, 2 of 2 on another), while a DSpark pair that never drafts (alpha 0) ran 15% slower.
ggml reads the switch once per process, so the choice is made before the first context, from this pair's own
history on this machine: graphs go off for a native drafter that drafted in most rounds of its earlier sessions.
"""

from __future__ import annotations

from .calibration import Calibration

MIN_ROUNDS = 200  # rounds of history before the history decides
MIN_DRAFTING_SHARE = 0.5


def automatic_choice(native_drafter: bool, on_gpu: bool, history: Calibration) -> tuple[bool, str]:
    """(CUDA graphs on?, why) for a pair whose user did not choose."""
    if not (native_drafter and on_gpu):
        return True, ""
    if history.rounds < MIN_ROUNDS:
        return True, f"CUDA graphs on: {history.rounds:.0f} rounds of this pair's history, {MIN_ROUNDS} decide"
    share = history.drafting_share
    if share < MIN_DRAFTING_SHARE:
        return True, f"CUDA graphs on: this pair drafted in {share:.0%} of its recent rounds"
    return False, f"CUDA graphs off: this pair drafted in {share:.0%} of its recent rounds (native drafter)"
