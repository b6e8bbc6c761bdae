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
    # llama.cpp's CUDA backend replays a captured CUDA graph only from the third decode of an unchanged shape on.
    # shape_change: extra seconds of a decode whose batch size differs from the previous decode's (it runs
    # uncaptured: +1.4 ms on an H100 for an 8B target, against 3.8 ms replayed); capture: extra seconds of the
    # second decode of that size (it captures the graph anew: +4.9 ms). Both are ~0 on CPUs.
    shape_change: float = 0.0
    capture: float = 0.0
    _base: np.ndarray = field(init=False, repr=False)
    _array: np.ndarray = field(init=False, repr=False, compare=False)
    _array_scale: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ns = np.array(sorted(self.points))
        ts = np.array([self.points[n] for n in ns])
        grid = np.arange(0, MAX_TOKENS_PER_VERIFY + 1)
        self._base = np.interp(grid, ns, ts)
        self._base[0] = 0.0
        # the same values as Python floats: the scheduler reads single entries every round, and numpy scalars
        # cost several times a float's arithmetic (the products are the same IEEE doubles either way)
        self.base_list: list[float] = self._base.tolist()
        self._array_scale = float("nan")  # no array() built yet

    def __call__(self, n: int) -> float:
        if n <= 0:
            return 0.0
        n = min(n, MAX_TOKENS_PER_VERIFY)
        return self.base_list[n] * self.scale

    def array(self) -> np.ndarray:
        """seconds for n = 0..MAX (index n), read-only: rebuilt only when the scale moved since the last call
        (several callers a round read it)."""
        if self._array_scale != self.scale:
            self._array = self._base * self.scale
            self._array.flags.writeable = False
            self._array_scale = self.scale
        return self._array

    def observe(self, n: int, seconds: float) -> None:
        if n <= 0 or seconds <= 0:
            return
        base = self.base_list[min(n, MAX_TOKENS_PER_VERIFY)]
        if base > 0:
            self.scale += EMA_WEIGHT * (seconds / base - self.scale)

    def relative(self) -> dict[int, float]:
        """The profiled shape relative to n = 1 (what FACTS.md tables show)."""
        one = self.points[min(self.points)]
        return {n: t / one for n, t in sorted(self.points.items())}

    def to_dict(self) -> dict:
        return {"points": {str(n): t for n, t in self.points.items()}, "shape_change": self.shape_change,
                "capture": self.capture}

    @staticmethod
    def from_dict(data: dict) -> "CostCurve":
        return CostCurve({int(n): float(t) for n, t in data["points"].items()},
                         shape_change=float(data.get("shape_change", 0.0)), capture=float(data.get("capture", 0.0)))


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
    change, capture = _shape_change_costs(ctx, filler_token, prefix, outputs) if 2 in found else (0.0, 0.0)
    ctx.clear()
    return CostCurve(found, shape_change=change, capture=capture)


def _shape_change_costs(ctx: Context, filler_token: int, prefix: int, outputs: str, reps: int = 5
                        ) -> tuple[float, float]:
    """Extra seconds of the first and of the second one-token decode after a two-token one, against one-token
    decodes in a long run of them (see CostCurve). Measured on an H100 (8B-shape target): 5.2 and 8.7 ms against
    3.8 ms; the fourth decode on is replayed (docs/benchmarks.md, run E)."""
    def one() -> float:
        t0 = time.perf_counter()
        ctx.decode([filler_token], prefix, outputs)
        seconds = time.perf_counter() - t0
        ctx.remove_from(prefix)
        return seconds

    for _ in range(3):
        one()
    steady = sorted(one() for _ in range(reps))[reps // 2]
    first, second = [], []
    for _ in range(reps):
        ctx.decode([filler_token] * 2, prefix, outputs)
        ctx.remove_from(prefix)
        first.append(one())
        second.append(one())
    median = lambda xs: sorted(xs)[reps // 2]  # noqa: E731
    return max(0.0, median(first) - steady), max(0.0, median(second) - steady)
