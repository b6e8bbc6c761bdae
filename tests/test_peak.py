"""The one-pass drafter peak (engine/peak.py): np.argmax's token and softmax's top value, closely."""

from __future__ import annotations

import numpy as np
import pytest

from dspark_chat.engine.llama import Context, Model
from dspark_chat.engine.peak import PeakFinder


def exact(row: np.ndarray) -> tuple[int, float]:
    x = int(np.argmax(row))
    return x, float(1.0 / np.exp(row.astype(np.float64) - row[x]).sum())


@pytest.mark.parametrize("n", [128256, 49152, 64 * 300 + 5, 64 * 7 + 5, 130, 1])
def test_token_is_np_argmax_and_confidence_is_close(n):
    rng = np.random.default_rng(n)
    find = PeakFinder(n)
    for trial in range(60):
        row = rng.normal(0.0, 3.0, n).astype(np.float32)
        if trial % 3 == 0:
            row = np.round(row)  # many exact ties: the first index must win, as in np.argmax
        if trial % 4 == 0:
            row[rng.integers(n)] += 12.0
        if trial % 5 == 0 and n > 64:
            row[-rng.integers(1, 6)] = row.max()  # a tie between the body and the tail
        x, conf = find(row)
        want_x, want_conf = exact(row)
        assert x == want_x
        assert abs(conf - want_conf) < 0.06
        assert 0.0 < conf <= 1.0 + 1e-6


def test_a_broad_bulk_is_counted():
    """A top token over many moderately likely ones: the mass is in the bulk, which the leaders alone miss
    (they would read 0.91 for 0.54 at a margin of 12)."""
    rng = np.random.default_rng(7)
    find = PeakFinder(128256)
    for margin in (4.0, 8.0, 10.0, 12.0, 14.0, 20.0):
        row = rng.normal(0.0, 1.0, 128256).astype(np.float32)
        row[1234] += margin
        x, conf = find(row)
        assert x == 1234
        assert conf == pytest.approx(exact(row)[1], rel=0.05, abs=0.005)


def test_real_rows_rank_like_the_softmax(gemma_q4):
    """Along a real generation (Gemma 3 270M, 262144 logits a row) the one-pass value stays within a few
    hundredths of the exact top probability and orders the steps the same way."""
    model = Model(gemma_q4)
    ctx = Context(model, 256, 64, 2)
    try:
        find = PeakFinder(model.n_vocab)
        tokens = model.tokenize("The history of the Roman Empire begins with the founding of the city. In the year")
        logits, pos = ctx.decode(tokens, 0, "last"), len(tokens)
        ours, theirs = [], []
        for _ in range(24):
            x, conf = find(logits[0])
            want_x, want_conf = exact(logits[0])
            assert x == want_x
            ours.append(conf)
            theirs.append(want_conf)
            logits = ctx.decode([x], pos, "last")
            pos += 1
        assert np.max(np.abs(np.array(ours) - theirs)) < 0.05
        ranks = np.corrcoef(np.argsort(np.argsort(ours)), np.argsort(np.argsort(theirs)))[0, 1]
        assert ranks > 0.95
    finally:
        ctx.close()
        model.close()


def test_nan_rows_do_not_raise():
    row = np.zeros(256, dtype=np.float32)
    row[10] = np.nan
    x, _ = PeakFinder(256)(row)
    assert x == 10


def test_confidence_survives_the_row_being_overwritten():
    """A pipelined drafter launches its next step between locate and confidence: the row's buffer changes."""
    rng = np.random.default_rng(3)
    find = PeakFinder(128256 + 17)
    row = rng.normal(0.0, 2.0, 128256 + 17).astype(np.float32)
    row[99] += 10.0
    want = find(row)
    buffer = row.copy()
    x = find.locate(buffer)
    buffer[:] = rng.normal(0.0, 2.0, buffer.size)
    assert (x, find.confidence()) == want
