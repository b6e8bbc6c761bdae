"""The user's sampling distribution: logits -> (candidate ids, probabilities).

Speculative sampling is only lossless if target and verifier agree on one exact distribution, so every transform
lives here and nowhere else. The order follows llama.cpp's default chain: top-k, top-p and min-p filter the
temperature-1 distribution, then temperature reshapes the survivors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# top-p without top-k would sort the whole vocabulary (262k entries for Gemma); most of the mass sits in the
# first few hundred candidates, so look there first and fall back to a full sort only when needed.
_TOP_P_FIRST_LOOK = 1024


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    min_p: float = 0.0  # 0.0: off
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def validate(self) -> "SamplingParams":
        from .errors import DSparkError

        if self.temperature < 0:
            raise DSparkError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise DSparkError(f"top-k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise DSparkError(f"top-p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p < 1.0:
            raise DSparkError(f"min-p must be in [0, 1), got {self.min_p}")
        return self


@dataclass
class Dist:
    """A sparse probability distribution over token ids (ids sorted by falling probability)."""

    ids: np.ndarray  # int64
    probs: np.ndarray  # float64, sums to 1

    def prob(self, token: int) -> float:
        hit = np.flatnonzero(self.ids == token)
        return float(self.probs[hit[0]]) if hit.size else 0.0

    def sample(self, rng: np.random.Generator) -> int:
        cdf = np.cumsum(self.probs)
        i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return int(self.ids[min(i, len(self.ids) - 1)])

    @staticmethod
    def point(token: int) -> "Dist":
        return Dist(np.array([token], dtype=np.int64), np.array([1.0]))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def distribution(logits: np.ndarray, params: SamplingParams) -> Dist:
    """The exact distribution the target samples from for one row of logits (sampling mode only)."""
    row = np.asarray(logits)
    n = row.shape[0]
    k = params.top_k if 0 < params.top_k < n else 0
    if k:
        ids = np.argpartition(row, n - k)[n - k :]
        ids = ids[np.argsort(row[ids])[::-1]]
    elif params.top_p < 1.0 and n > _TOP_P_FIRST_LOOK:
        ids = np.argpartition(row, n - _TOP_P_FIRST_LOOK)[n - _TOP_P_FIRST_LOOK :]
        ids = ids[np.argsort(row[ids])[::-1]]
        full = _softmax(row.astype(np.float64))
        if full[ids].sum() < params.top_p:  # the nucleus is wider than the first look: sort it all
            ids = np.argsort(row)[::-1]
    else:
        ids = np.argsort(row)[::-1]
    ids = ids.astype(np.int64)
    vals = row[ids].astype(np.float64)
    p = _softmax(vals)
    keep = len(ids)
    if params.top_p < 1.0:
        # smallest prefix whose mass reaches top_p (at least one token)
        keep = min(keep, int(np.searchsorted(np.cumsum(p), params.top_p, side="left")) + 1)
    if params.min_p > 0.0:
        keep = min(keep, max(1, int(np.count_nonzero(p[:keep] >= params.min_p * p[0]))))
    ids, vals = ids[:keep], vals[:keep]
    probs = _softmax(vals / params.temperature)
    return Dist(ids, probs)


def argmax(logits: np.ndarray) -> int:
    return int(np.argmax(logits))


def make_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)
