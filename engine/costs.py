"""Measured costs on the user's machine: seconds to evaluate n tokens in one decode.

Cost curves are not smooth (kernel switches on GPUs, gemv vs gemm on CPUs), so we profile the real curve at load
and keep it current with a running scale from real rounds (the KV cache grows, the machine gets busy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .llama import Context

MAX_TOKENS_PER_VERIFY = 33  # 32 drafts + the last committed token
PROFILE_POINTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 33)
PROFILE_PREFIX = 128  # tokens already in the cache while profiling: a typical early-chat position
EMA_WEIGHT = 0.1  # weight of one new observation in the running scale


@dataclass
class CostCurve:
    """seconds(n) for n = 1..MAX_TOKENS_PER_VERIFY, interpolated between profiled points, times a running scale."""

    points: dict[int, float]
    scale: float = 1.0
    # extra seconds a decode costs when its batch size differs from the previous decode's (llama.cpp's CUDA
    # backend rebuilds its graph: +1.2 ms on an H100 for an 8B target, against 3.7 ms for a whole step)
    shape_change: float = 0.0
    _base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ns = np.array(sorted(self.points))
        ts = np.array([self.points[n] for n in ns])
        grid = np.arange(0, MAX_TOKENS_PER_VERIFY + 1)
        self._base = np.interp(grid, ns, ts)
        self._base[0] = 0.0

    def __call__(self, n: int) -> float:
        if n <= 0:
            return 0.0
        n = min(n, MAX_TOKENS_PER_VERIFY)
        return float(self._base[n] * self.scale)

    def array(self) -> np.ndarray:
        """seconds for n = 0..MAX (index n)."""
        return self._base * self.scale

    def observe(self, n: int, seconds: float) -> None:
        if n <= 0 or seconds <= 0:
            return
        base = self._base[min(n, MAX_TOKENS_PER_VERIFY)]
        if base > 0:
            self.scale += EMA_WEIGHT * (seconds / base - self.scale)

    def relative(self) -> dict[int, float]:
        """The profiled shape relative to n = 1 (what FACTS.md tables show)."""
        one = self.points[min(self.points)]
        return {n: t / one for n, t in sorted(self.points.items())}

    def to_dict(self) -> dict:
        return {"points": {str(n): t for n, t in self.points.items()}, "shape_change": self.shape_change}

    @staticmethod
    def from_dict(data: dict) -> "CostCurve":
        return CostCurve({int(n): float(t) for n, t in data["points"].items()},
                         shape_change=float(data.get("shape_change", 0.0)))


def profile_decode(
    ctx: Context,
    filler_token: int,
    points: tuple[int, ...] = PROFILE_POINTS,
    prefix: int = PROFILE_PREFIX,
    reps: int = 2,
    outputs: str = "all",
) -> CostCurve:
    """Time one decode of n tokens (logits for all of them, as verification needs) after `prefix` tokens."""
    prefix = max(1, min(prefix, ctx.n_ctx - max(points) - 1))
    ctx.clear()
    ctx.decode([filler_token] * prefix, 0, "none")
    ctx.decode([filler_token], prefix, outputs)  # warm-up: first decodes allocate
    ctx.remove_from(prefix)
    found: dict[int, float] = {}
    for n in points:
        if n > ctx.n_batch:
            break
        # the first decodes of a new batch shape are slow on GPUs (llama.cpp's CUDA backend warms up and captures
        # a graph per shape): untimed, or the curve reads ~2x too high for n >= 2 (measured on an H100)
        ctx.decode([filler_token] * n, prefix, outputs)
        ctx.remove_from(prefix)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            ctx.decode([filler_token] * n, prefix, outputs)
            best = min(best, time.perf_counter() - t0)
            ctx.remove_from(prefix)
        found[n] = best
    shape_change = _shape_change_cost(ctx, filler_token, prefix, outputs) if 2 in found else 0.0
    ctx.clear()
    return CostCurve(found, shape_change=shape_change)


def _shape_change_cost(ctx: Context, filler_token: int, prefix: int, outputs: str, reps: int = 5) -> float:
    """How much more a one-token decode costs right after a two-token one than after another one-token one.

    Speculative rounds change the batch size almost every round; plain decoding never does. Measured on an H100
    (8B-shape target): 4.96 against 3.71 ms for one token, and about the same extra for every other size."""
    def one() -> float:
        t0 = time.perf_counter()
        ctx.decode([filler_token], prefix, outputs)
        seconds = time.perf_counter() - t0
        ctx.remove_from(prefix)
        return seconds

    one()
    same = sorted(one() for _ in range(reps))[reps // 2]
    after_other = []
    for _ in range(reps):
        ctx.decode([filler_token] * 2, prefix, outputs)
        ctx.remove_from(prefix)
        after_other.append(one())
    return max(0.0, sorted(after_other)[reps // 2] - same)
