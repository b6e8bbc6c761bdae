"""Online calibration: a drafter's raw confidence -> the chance a draft position is accepted.

Raw signals (a drafter's own probability, a confidence head, an n-gram match length) are not acceptance
probabilities. Every verification tells us, for each verified position that was reached, whether it was accepted;
we count that per confidence bucket and read a monotone estimate back (pool adjacent violators).
"""

from __future__ import annotations

import numpy as np

N_BUCKETS = 20
ROUNDS_KEPT = 5000  # the drafting-share history halves past this many rounds, so recent sessions dominate
# Pseudo-trials at the bucket's own raw value on top of the Beta(1, 1) prior: before any evidence a drafter that
# says 0.9 is believed a little, after a few dozen rounds the counts dominate.
PRIOR_TRIALS = 4.0


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            w = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / w, w, c1 + c2])
    out = []
    for m, _, c in blocks:
        out.extend([m] * c)
    return np.array(out)


class Calibration:
    def __init__(self, n_buckets: int = N_BUCKETS, prior_trials: float = PRIOR_TRIALS):
        self.n_buckets = n_buckets
        centers = (np.arange(n_buckets) + 0.5) / n_buckets
        # counts per bucket, as Python lists: record adds to a few buckets a round, and numpy's per-element access
        # costs several times the arithmetic
        self._accepted = [0.0] * n_buckets
        self._tried = [0.0] * n_buckets
        self._prior_a = (1.0 + prior_trials * centers).tolist()
        self._prior_b = (1.0 + prior_trials * (1.0 - centers)).tolist()
        self._table: list[float] | None = None
        # each bucket's posterior mean and weight, the table's input: record updates only the buckets it touched
        # (rebuilding all 20 every round showed in a GPU round's host time)
        self._means: list[float] | None = None
        self._weights: list[float] = []
        # how often rounds drafted, over this pair's sessions on this machine (engine/graphs_policy.py reads it)
        self.rounds = 0.0
        self.drafting_rounds = 0.0

    def count_round(self, drafting: bool) -> None:
        self.rounds += 1.0
        self.drafting_rounds += drafting
        if self.rounds > ROUNDS_KEPT:
            self.rounds /= 2.0
            self.drafting_rounds /= 2.0

    @property
    def drafting_share(self) -> float:
        return self.drafting_rounds / self.rounds if self.rounds else 0.0

    def bucket(self, confidence: float) -> int:
        """`buckets` for one confidence, without numpy (the gate asks once per drafted token)."""
        n = self.n_buckets
        return min(int(min(max(float(confidence), 0.0), 1.0) * n), n - 1)

    def buckets(self, confidences: np.ndarray) -> np.ndarray:
        c = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
        return np.minimum((c * self.n_buckets).astype(np.int64), self.n_buckets - 1)

    def table(self) -> np.ndarray:
        return np.array(self.table_list())

    def table_list(self) -> list[float]:
        """The estimate per bucket, as a list: the scheduler reads it once a round, after every round's record, and
        over 20 buckets plain Python costs a fifth of numpy's per-call overheads."""
        if self._table is None:
            if self._means is None:
                rows = [self._bucket_mean(b) for b in range(self.n_buckets)]
                self._means = [m for m, _ in rows]
                self._weights = [w for _, w in rows]
            means = self._means
            # already monotone (the usual case once counts accumulate): the regression would return it unchanged
            monotone = all(lo <= hi for lo, hi in zip(means, means[1:]))
            # a copy: callers keep the table of their draft while record updates the means
            self._table = (list(means) if monotone
                           else _pool_adjacent_violators(np.array(means), np.array(self._weights)).tolist())
        return self._table

    def _bucket_mean(self, b: int) -> tuple[float, float]:
        """Bucket b's posterior mean of acceptance and its weight (trials, the prior's included)."""
        prior_a = self._prior_a[b]
        weight = self._tried[b] + prior_a + self._prior_b[b]
        return (self._accepted[b] + prior_a) / weight, weight

    def estimate(self, confidences: np.ndarray) -> np.ndarray:
        """a_i: P(position i accepted | every earlier position accepted)."""
        if len(confidences) == 0:
            return np.zeros(0)
        return self.table()[self.buckets(confidences)]

    def record(self, confidences: np.ndarray, n_accepted: int) -> None:
        """Positions [0, n_accepted) were accepted; position n_accepted (if verified) was rejected."""
        n_reached = min(len(confidences), n_accepted + 1)
        if n_reached == 0:
            return
        # a few positions a round: a Python loop beats numpy's scatter-add here
        tried, accepted = self._tried, self._accepted
        for i in range(n_reached):
            b = self.bucket(confidences[i])
            tried[b] += 1.0
            if i < n_accepted:
                accepted[b] += 1.0
            if self._means is not None:
                self._means[b], self._weights[b] = self._bucket_mean(b)
        self._table = None

    def to_dict(self) -> dict:
        return {"n_buckets": self.n_buckets, "accepted": list(self._accepted), "tried": list(self._tried),
                "rounds": self.rounds, "drafting_rounds": self.drafting_rounds}

    def load(self, data: dict) -> None:
        self.rounds = float(data.get("rounds", 0.0))  # files written before the share was kept have none
        self.drafting_rounds = min(float(data.get("drafting_rounds", 0.0)), self.rounds)
        if data.get("n_buckets") != self.n_buckets:
            return
        self._accepted = [float(x) for x in data["accepted"]]
        self._tried = [float(x) for x in data["tried"]]
        self._table = self._means = None
