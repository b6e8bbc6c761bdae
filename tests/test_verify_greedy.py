"""Greedy verification's row check (engine/verify.py): two max reductions must decide exactly as np.argmax."""

from __future__ import annotations

import numpy as np

from dspark_chat.engine.verify import surely_first_argmax, verify_greedy


def test_agrees_with_np_argmax_on_ties_zeros_and_nans():
    rng = np.random.default_rng(3)
    for trial in range(400):
        n = int(rng.choice([1, 2, 7, 130, 4096]))
        row = rng.normal(0.0, 2.0, n).astype(np.float32)
        if trial % 3 == 0:
            row = np.round(row)  # exact ties: argmax keeps the first
        if trial % 7 == 0:
            row[rng.integers(n)] = -0.0 if trial % 2 else 0.0
            row[rng.integers(n)] = 0.0
            row = np.minimum(row, 0.0)  # +0.0 and -0.0 tie at the top
        if trial % 11 == 0:
            row[rng.integers(n)] = np.nan
        best = int(row.argmax())
        for x in {best, int(rng.integers(n)), 0, n - 1}:
            sure = surely_first_argmax(row, x)
            assert not sure or x == best, (trial, x, best)
            assert sure or x != best or np.isnan(row).any(), (trial, x, best)  # only a NaN leaves it unsure


def test_verdicts_match_the_argmax_rule():
    rng = np.random.default_rng(5)
    for trial in range(300):
        logits = np.round(rng.normal(0.0, 1.5, (6, 300))).astype(np.float32)
        if trial % 4 == 0:
            logits[rng.integers(6), rng.integers(300)] = np.nan  # argmax picks a NaN: so must the verdict
        best = logits.argmax(axis=1)
        drafts = [int(b) if rng.random() < 0.7 else int(rng.integers(300)) for b in best[:5]]
        want = next((i for i, x in enumerate(drafts) if x != best[i]), 5)
        verdict = verify_greedy(logits, drafts)
        assert verdict.n_accepted == want
        assert verdict.next_token == int(best[want])
