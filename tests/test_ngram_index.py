"""The incremental n-gram index answers exactly what a full scan of the history answers, as the history grows,
is rolled back to a shorter turn, or is replaced."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dspark_chat.engine.ngram_index import NgramIndex


def full_scan(history: list[int], min_n: int, max_n: int, n_max: int) -> tuple[list[int], int, int]:
    """The definition: the latest earlier occurrence of the longest suffix, and how many occurrences agree."""
    h = np.asarray(history)
    for n in range(max_n, min_n - 1, -1):
        if len(h) <= n:
            continue
        hits = np.flatnonzero((sliding_window_view(h[:-1], n) == h[-n:]).all(axis=1))
        if hits.size:
            cont = h[hits[-1] + n: hits[-1] + n + n_max].tolist()
            return cont, n, int(np.count_nonzero(h[hits + n] == cont[0]))
    return [], 0, 0


def test_index_matches_a_full_scan_while_growing_and_after_rewrites():
    rng = np.random.default_rng(0)
    index = NgramIndex(2, 5)
    history: list[int] = []
    for step in range(600):
        if step % 97 == 96:  # a new turn that rewrites the end (regenerate), or another chat entirely
            history = history[: len(history) // 2] if step % 2 else rng.integers(0, 6, 40).tolist()
        history += rng.integers(0, 6, int(rng.integers(1, 4))).tolist()  # small vocabulary: many repeats
        index.sync(history)
        assert index.lookup(7) == full_scan(history, 2, 5, 7), step
