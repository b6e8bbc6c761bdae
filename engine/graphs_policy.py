"""Whether a pair runs with llama.cpp's CUDA graphs, when the user leaves it to the engine (cuda_graphs None).

Measured on two H100s with an 8B-shape target (docs/benchmarks.md, run F): CUDA graphs make plain steps about 8%
faster and a 1B model drafter's steps about 45% faster (a model drafter at alpha 0.8: 341 t/s with graphs, 261
without). A native DSpark drafter changes the verify batch size nearly every round, and llama.cpp then runs the
target's decodes uncaptured or captures them anew: without graphs DSpark at alpha 0.8 (drafting in ~80% of its
rounds) ran 3% faster on one machine (6 processes against 10 with graphs; adjacent pairs -6% to +16%) and 12%
faster on the other (2 against 2), while a DSpark pair that never drafts (alpha 0) ran 12% slower. From those
numbers graphs off breaks even at a drafting share of about 0.6 on the first machine. Run K (a third machine, after
the launch-ahead and the scheduler's shape-change charges, 3 processes each way) found no gain left where every
round drafts (alpha 0.8: 349 against 343 t/s, 0.9: 505 against 514) while plain steps still lost 7%, so graphs go
off only for pairs that draft in nearly every round, where that loss cannot show.
ggml reads the switch once per process, so the choice is made before the first context, from this pair's own
history on this machine.
"""

from __future__ import annotations

from .calibration import Calibration

MIN_ROUNDS = 200  # rounds of history before the history decides
MIN_DRAFTING_SHARE = 0.9  # was 0.7 until run K


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
