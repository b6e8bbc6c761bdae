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
        self.accepted = np.zeros(n_buckets)
        self.tried = np.zeros(n_buckets)
        self._prior_a = (1.0 + prior_trials * centers).tolist()
        self._prior_b = (1.0 + prior_trials * (1.0 - centers)).tolist()
        self._table: list[float] | None = None
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
            a = [x + p for x, p in zip(self.accepted.tolist(), self._prior_a)]
            n = [t + p + q for t, p, q in zip(self.tried.tolist(), self._prior_a, self._prior_b)]
            means = [x / w for x, w in zip(a, n)]
            # already monotone (the usual case once counts accumulate): the regression would return it unchanged
            monotone = all(lo <= hi for lo, hi in zip(means, means[1:]))
            self._table = means if monotone else _pool_adjacent_violators(np.array(means), np.array(n)).tolist()
        return self._table

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
        for i in range(n_reached):
            b = self.bucket(confidences[i])
            self.tried[b] += 1.0
            if i < n_accepted:
                self.accepted[b] += 1.0
        self._table = None

    def to_dict(self) -> dict:
        return {"n_buckets": self.n_buckets, "accepted": self.accepted.tolist(), "tried": self.tried.tolist(),
                "rounds": self.rounds, "drafting_rounds": self.drafting_rounds}

    def load(self, data: dict) -> None:
        self.rounds = float(data.get("rounds", 0.0))  # files written before the share was kept have none
        self.drafting_rounds = min(float(data.get("drafting_rounds", 0.0)), self.rounds)
        if data.get("n_buckets") != self.n_buckets:
            return
        self.accepted = np.array(data["accepted"], dtype=np.float64)
        self.tried = np.array(data["tried"], dtype=np.float64)
        self._table = None
