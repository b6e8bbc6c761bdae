"""Helpers for the lossless checks: plain vs speculative greedy outputs, and the teacher-forced argmax check."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from dspark_chat.engine.events import Done
from dspark_chat.engine.pair import Pair
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.session import GenerateParams, Session

# Batched and single-token kernels round differently: two greedy decodings may split where the target's two best
# logits are this close. Anything wider is a real bug. GPU kernels differ more: on an H100 (CUDA, SmolLM2 F16)
# plain decoding itself emitted a token 0.031 below the argmax of its own batched pass (docs/benchmarks.md).
ON_GPU = bool(os.environ.get("DSPARK_TEST_GPU_LAYERS"))
TIE_EPS = 0.05 if ON_GPU else 0.02


class WholeDraft:
    """A gate that keeps every drafted position, for tests that read a drafter's whole block (the scheduler's gate
    would turn only the positions it verifies into tokens)."""

    def include(self, confidences, sunk, step) -> bool:
        return True

    def keep_drafting(self, confidences, sunk, step) -> bool:
        return True

    def choose(self, confidences, sunk, exact_laws=False) -> int:
        return len(confidences)


def allowed_splits(n_prompts: int, share: float) -> float:
    """How many prompts may split at a near tie: a share of them, and on a GPU at least one (small sets)."""
    return max(share * n_prompts, 1 if ON_GPU else 0)


def greedy(session: Session, prompt: list[int], max_tokens: int) -> Done:
    params = GenerateParams(max_tokens=max_tokens, sampling=SamplingParams(temperature=0.0))
    for ev in session.generate(prompt, params):
        if isinstance(ev, Done):
            return ev
    raise AssertionError("no Done event")


def teacher_forced_rows(pair: Pair, prompt: list[int], output: list[int]) -> np.ndarray:
    """The target's logits at every output position, from one pass over prompt + output."""
    ctx = pair.target_ctx
    ctx.owner = None
    ctx.clear()
    seq = prompt + output[:-1]
    rows = np.array(ctx.decode(seq, 0, "all")[len(prompt) - 1 :])
    ctx.clear()
    return rows


@dataclass
class Check:
    ties: int = 0  # emitted tokens that were not the strict argmax but within TIE_EPS
    worst_gap: float = 0.0


def assert_teacher_forced(pair: Pair, prompt: list[int], output: list[int]) -> Check:
    check = Check()
    if not output:
        return check
    rows = teacher_forced_rows(pair, prompt, output)
    for i, tok in enumerate(output):
        gap = float(rows[i].max() - rows[i][tok])
        check.worst_gap = max(check.worst_gap, gap)
        if gap > 0:
            assert gap < TIE_EPS, f"token {i} ({tok}) is {gap:.4f} below the argmax {int(rows[i].argmax())}"
            check.ties += 1
    return check


def first_difference(a: list[int], b: list[int]) -> int | None:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else n


def explain_difference(pair: Pair, prompt: list[int], plain: list[int], spec: list[int]) -> float:
    """Logit gap between the two candidates where the outputs split; must be a near tie."""
    i = first_difference(plain, spec)
    assert i is not None and i < min(len(plain), len(spec)), "outputs differ in length only"
    rows = teacher_forced_rows(pair, prompt, plain[: i + 1])
    row = rows[i]
    return abs(float(row[plain[i]] - row[spec[i]]))
