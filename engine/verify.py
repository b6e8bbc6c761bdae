"""Acceptance of drafted tokens against the target's logits: the one place that decides what is kept.

Greedy: keep drafts while they equal the target's argmax; the first mismatch is replaced by the argmax.
Sampling (Leviathan et al. / Chen et al.): keep draft x with probability min(1, p(x) / q(x)); on rejection draw from
normalize(max(0, p - q)); when every draft is kept, draw the bonus token from p. The output then has exactly the
target's distribution p, whatever the drafter's q was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .sampling import Dist, SamplingParams, distribution


@dataclass
class Verdict:
    n_accepted: int  # drafts kept, a prefix of the verified drafts
    next_token: int  # the target's own token after them (correction or bonus)


def verify_greedy(logits: np.ndarray, drafts: Sequence[int]) -> Verdict:
    """logits[i] scores the position after draft i-1 (row 0 follows the last committed token)."""
    # row by row, stopping at the first mismatch: rows after it are never read (each argmax is a pass over the
    # vocabulary, 0.09-0.19 ms a row on a GPU host, docs/benchmarks.md run F)
    for i, x in enumerate(drafts):
        best = int(logits[i].argmax())
        if best != x:
            return Verdict(i, best)
    return Verdict(len(drafts), int(logits[len(drafts)].argmax()))


def verify_greedy_tokens(argmaxes: np.ndarray, drafts: Sequence[int]) -> Verdict:
    """As verify_greedy, from the target's argmax of each row (taken on the device: engine/device_argmax.py)."""
    for i, x in enumerate(drafts):
        if argmaxes[i] != x:
            return Verdict(i, int(argmaxes[i]))
    return Verdict(len(drafts), int(argmaxes[len(drafts)]))


def residual(p: Dist, q: Dist) -> Dist:
    """normalize(max(0, p - q)) over the union of both supports."""
    if p.full and q.full:
        r = np.maximum(p.probs - q.probs, 0.0)
        total = r.sum()
        return Dist.dense(r / total) if total > 0.0 else p
    ids = np.union1d(p.ids, q.ids)
    pv = np.zeros(len(ids))
    qv = np.zeros(len(ids))
    pv[np.searchsorted(ids, p.ids)] = p.probs
    qv[np.searchsorted(ids, q.ids)] = q.probs
    r = np.maximum(pv - qv, 0.0)
    total = r.sum()
    if total <= 0.0:  # p == q up to rounding: rejection had probability ~0, p itself is the right law
        return p
    keep = r > 0
    return Dist(ids[keep], r[keep] / total)


def verify_sampling(
    logits: np.ndarray,
    drafts: Sequence[int],
    draft_dists: Sequence[Dist | None],
    params: SamplingParams,
    rng: np.random.Generator,
) -> Verdict:
    """draft_dists[i] is the law draft i was drawn from; None means a deterministic proposal (point mass)."""
    for i, x in enumerate(drafts):
        p = distribution(logits[i], params)
        q = draft_dists[i] or Dist.point(x)
        px, qx = p.prob(x), q.prob(x)
        if qx > 0.0 and rng.random() * qx < px:  # u < p/q without dividing
            continue
        return Verdict(i, residual(p, q).sample(rng))
    bonus = distribution(logits[len(drafts)], params).sample(rng)
    return Verdict(len(drafts), bonus)


def sample_plain(logits_row: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """One token of plain decoding with the same law the verifier uses."""
    if params.greedy:
        return int(np.argmax(logits_row))
    return distribution(logits_row, params).sample(rng)
