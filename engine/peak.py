"""A greedy drafter's token and its confidence from one pass over a row of logits.

The confidence a drafter reports is its own probability of the token it drafts, softmax(row)[argmax]. Computed
exactly that needs an exponential of every logit (128256 of them for Llama 3's vocabulary): three more passes over
the row after the argmax, the largest piece of a model drafter's host time on the GPU host (0.29 ms a token,
docs/benchmarks.md run G). Here the row is read once, as GROUP strided slices whose element-wise maximum gives
every column's leader. The argmax is found among the leaders (np.argmax's first-index rule kept). The softmax's
denominator is the leaders' mass, exact, plus the rest's mass estimated from every GROUP-th value of the row: the
leaders hold the values that compete with the top token, the sample the broad bulk of small ones. The value is
the exact probability wherever a few tokens hold the mass and within a few hundredths elsewhere (tests/test_peak.py);
the calibration maps the raw value to acceptance anyway. 2.2-2.6x faster than the exact way on the development VM
(benchmarks/peak_cost.py). `locate` keeps the few values `confidence` needs: a pipelined drafter launches its next
step between the two, so the confidence is computed while the device works, with no copy of the row.
"""

from __future__ import annotations

import numpy as np

GROUP = 64  # slices of the row; 128256, 49152 and 262144 logits are all multiples of it
MIN_COLS = 256  # shorter rows are computed exactly: too few leaders and samples to stand for them, and cheap


class PeakFinder:
    """(argmax, confidence) of rows of one length, with buffers kept between calls."""

    def __init__(self, n: int):
        cols = n // GROUP
        self.cols = cols if cols >= MIN_COLS else 0  # the row's first cols * GROUP values: GROUP rows of `cols`
        self._body = self.cols * GROUP
        # each column's maximum over the upper and the lower half of its values (row 0 and 1), and over both
        self._halves = np.empty((2, self.cols), dtype=np.float32)
        self._leaders = np.empty(self.cols, dtype=np.float32)
        # the sample: one value in GROUP, spread over the vocabulary; its column, and where in `_halves` the
        # maximum of the half of that column the value is not in lies
        self._sample = np.arange(GROUP // 2, self._body, GROUP)
        self._sample_cols = self._sample % self.cols if self.cols else self._sample
        in_lower = (self._sample // max(1, self.cols)) >= GROUP // 2
        self._other_half = np.where(in_lower, 0, 1) * self.cols + self._sample_cols
        self._rest = self._body - self.cols  # values that are not a column's leader
        self._sampled = np.empty(len(self._sample), dtype=np.float32)

    def __call__(self, row: np.ndarray) -> tuple[int, float]:
        x = self.locate(row)
        return x, self.confidence()

    def locate(self, row: np.ndarray) -> int:
        """The row's argmax. Keeps what `confidence` needs, so the row may be overwritten in between (a pipelined
        drafter launches its next step, whose logits land in the same buffer, before it asks)."""
        if self.cols == 0:
            x = int(row.argmax())
            self._exact = float(1.0 / np.exp(row - row[x]).sum())
            return x
        body = row[: self._body].reshape(GROUP, self.cols)
        half = GROUP // 2
        np.maximum.reduce(body[:half], axis=0, out=self._halves[0])
        np.maximum.reduce(body[half:], axis=0, out=self._halves[1])
        leaders = np.maximum(self._halves[0], self._halves[1], out=self._leaders)
        top = leaders[int(leaders.argmax())]
        tail = row[self._body :]
        if tail.size and tail.max() > top:
            x = self._body + int(tail.argmax())
        else:
            x = self._first_index(body, leaders, top)
        self._m = row[x]
        self._tail = tail.copy()
        np.copyto(self._sampled, row[GROUP // 2 : self._body : GROUP])  # a strided view: the values at _sample
        return x

    def confidence(self) -> float:
        """softmax(row)[argmax] of the row `locate` last read, closely (see the module)."""
        if self.cols == 0:
            return self._exact
        m = self._m
        mass = np.exp(self._leaders - m).sum()  # the top leader (or, past the body, the top tail value) gives its 1
        if self._tail.size:
            mass += np.exp(self._tail - m).sum()
        return float(1.0 / (mass + self._rest_mass(m)))

    def _rest_mass(self, m: float) -> float:
        """The non-leaders' share of the softmax's denominator, estimated from the sample."""
        sample = self._sampled
        own = self._leaders[self._sample_cols]
        others = sample < own
        # a sampled value equal to its column's leader is a non-leader when the other half of the column holds
        # it too (a constant bulk, as in synthetic heads whose rows are mostly exact zeros, ties every column)
        others |= (sample == own) & (sample < m) & (self._halves.reshape(-1)[self._other_half] == own)
        n_others = int(np.count_nonzero(others))
        if not n_others:
            return 0.0
        return float(np.exp(sample[others] - m).sum()) * (self._rest / n_others)

    def _first_index(self, body: np.ndarray, leaders: np.ndarray, top: float) -> int:
        """The row's first index holding `top`, as np.argmax would answer (leaders tie in other columns rarely)."""
        cols = np.flatnonzero(leaders == top)
        if cols.size == 1:
            c = int(cols[0])
            return int(body[:, c].argmax()) * self.cols + c
        if cols.size == 0:  # NaN leaders: np.argmax points at the first NaN
            return int(np.argmax(body.reshape(-1)))
        return min(int(body[:, c].argmax()) * self.cols + int(c) for c in cols)
