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
    """A sparse probability distribution over token ids (any order; `full` marks ids == arange(vocab))."""

    ids: np.ndarray  # int64
    probs: np.ndarray  # float64, sums to 1
    full: bool = False

    def prob(self, token: int) -> float:
        if self.full:
            return float(self.probs[token]) if 0 <= token < len(self.probs) else 0.0
        hit = np.flatnonzero(self.ids == token)
        return float(self.probs[hit[0]]) if hit.size else 0.0

    @property
    def max_prob(self) -> float:
        return float(self.probs.max())

    def sample(self, rng: np.random.Generator) -> int:
        cdf = np.cumsum(self.probs)
        i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return int(self.ids[min(i, len(self.ids) - 1)])

    @staticmethod
    def point(token: int) -> "Dist":
        return Dist(np.array([token], dtype=np.int64), np.array([1.0]))

    @staticmethod
    def dense(probs: np.ndarray) -> "Dist":
        return Dist(np.arange(len(probs), dtype=np.int64), probs, full=True)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def _nucleus(p_sorted: np.ndarray, top_p: float) -> int:
    """Length of the smallest prefix of a falling distribution whose mass reaches top_p (at least one)."""
    return int(np.searchsorted(np.cumsum(p_sorted), top_p, side="left")) + 1


def distribution(logits: np.ndarray, params: SamplingParams) -> Dist:
    """The exact distribution the target samples from for one row of logits (sampling mode only).

    The full vocabulary is never sorted: top-k partitions, min-p thresholds, and top-p sorts only the candidates
    left (a first look at the best _TOP_P_FIRST_LOOK, the rest only if the nucleus is wider).
    """
    row = np.asarray(logits)
    n = row.shape[0]
    temp = params.temperature
    k = params.top_k if 0 < params.top_k < n else 0
    if k:
        ids = np.argpartition(row, n - k)[n - k :]
        ids = ids[np.argsort(-row[ids], kind="stable")]
        p = _softmax(row[ids].astype(np.float64))
        keep = len(ids)
        if params.top_p < 1.0:
            keep = min(keep, _nucleus(p, params.top_p))
        if params.min_p > 0.0:
            keep = min(keep, max(1, int(np.count_nonzero(p[:keep] >= params.min_p * p[0]))))
        ids = ids[:keep].astype(np.int64)
        return Dist(ids, _softmax(row[ids].astype(np.float64) / temp))
    if params.min_p <= 0.0 and params.top_p >= 1.0:
        return Dist.dense(_softmax(row.astype(np.float64) / temp))
    p = _softmax(row.astype(np.float64))
    cand = np.flatnonzero(p >= params.min_p * p.max()) if params.min_p > 0.0 else None
    if params.top_p < 1.0:
        look = _TOP_P_FIRST_LOOK
        while (cand is None or len(cand) > look) and look < n:
            best = np.argpartition(p, n - look)[n - look :]
            if p[best].sum() >= params.top_p:  # the nucleus lies within the `look` best
                cand = best if cand is None else np.intersect1d(best, cand)
                break
            look *= 8
        if cand is None:
            cand = np.arange(n)
        cand = cand[np.argsort(-p[cand], kind="stable")]
        cand = cand[: _nucleus(p[cand], params.top_p)]
    ids = cand.astype(np.int64)
    return Dist(ids, _softmax(row[ids].astype(np.float64) / temp))


def argmax(logits: np.ndarray) -> int:
    return int(np.argmax(logits))


def make_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)
