"""Drafters: cheap proposers of the next few tokens, all behind one small protocol.

A round asks the drafter for up to n tokens after `history` (every committed token, the last one not yet seen by
the target). The drafter returns the tokens, a raw confidence per token (calibrated by the scheduler) and, in
sampling mode, the law each token was drawn from (None: a deterministic proposal). The native DSpark drafter lives
in `dspark_drafter.py` and implements the same protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from .costs import CostCurve
from .llama import Context
from .ngram_index import NgramIndex
from .peak import PeakFinder
from .sampling import Dist, SamplingParams, distribution


class DraftGate(Protocol):
    """The scheduler's questions to a drafter mid-draft (see scheduler.Scheduler)."""

    def keep_drafting(self, confidences: list[float], sunk: float, step: float) -> bool: ...

    def include(self, confidences: list[float], sunk: float, step: float) -> bool: ...

    def choose(self, confidences: np.ndarray, sunk: float, exact_laws: bool = False) -> int: ...


@dataclass
class Draft:
    tokens: list[int] = field(default_factory=list)
    confidences: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dists: list[Dist | None] | None = None  # sampling laws; None: every token is a point mass
    seconds: float = 0.0
    # how many drafts to verify, when the drafter asked the gate itself (DSpark: its confidences come before its
    # tokens, so only the rows the gate keeps are turned into tokens); `tokens` then holds just those
    chosen: int | None = None

    def __len__(self) -> int:
        """Positions drafted (a drafter that chose may hold fewer tokens than confidences)."""
        return len(self.confidences)


class Drafter(Protocol):
    kind: str  # "model", "ngram", "dspark", "dflash"

    def draft(
        self,
        history: Sequence[int],
        n_max: int,
        sampling: SamplingParams,
        rng: np.random.Generator,
        gate: DraftGate,
    ) -> Draft: ...

    def expected_cost(self, k: int) -> float:
        """Seconds to draft k tokens, for planning before the round."""
        ...

    def observe_target(self, tokens: Sequence[int], pos0: int, n_kept: int) -> None:
        """The target just evaluated `tokens` at pos0..; the first n_kept stay committed.

        Feature-conditioned drafters (DSpark) read the target's hidden states here.
        """
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    if isinstance(a, list) and isinstance(b, list) and a[:n] == b[:n]:
        return n  # the usual case (a drafter one round behind): list equality runs in C, numpy would copy both
    x = np.asarray(a[:n]) != np.asarray(b[:n])
    hit = np.flatnonzero(x)
    return int(hit[0]) if hit.size else n


class ModelDrafter:
    """A small GGUF LM with the target's vocabulary, run autoregressively in its own context.

    pipelined (greedy decoding on a GPU): each step's token is launched on the device before its confidence is
    computed, so the confidence, the gate and the bookkeeping run while the device computes the next step. When the
    gate then stops, that step was launched for nothing this round; its token stays in the drafter's cache, where the
    next round keeps it if the target agrees. A greedy step's token and confidence come from one pass over the logits
    (engine/peak.py). Where the context takes them on the device instead (ctx.rows_argmax: a patched libllama on a
    GPU, engine/device_argmax.py), one int and one float come back and no logits: see _draft_on_device.
    """

    kind = "model"

    def __init__(self, ctx: Context, cost: CostCurve, pipelined: bool = False):
        self.ctx = ctx
        self.cost = cost  # seconds to evaluate n tokens in the drafter
        self.pipelined = pipelined
        self._eog = ctx.model.eog_ids
        self.kv: list[int] = []  # tokens in the drafter's KV cache (a launched step's token included)
        self._committed = 0  # tokens the session has committed (the target's pending one included)
        self._in_flight = False  # a step launched by the last draft, not waited for
        self._peak = PeakFinder(ctx.model.n_vocab)
        self.launched_unused = 0  # counted for the benchmark: pipelined steps the round did not draft from

    def expected_cost(self, k: int) -> float:
        # the first step also catches up on every token committed since the drafter last ran
        return self._catch_up_cost(self._behind()) + max(0, k - 1) * self.cost(1)

    def expected_costs(self, k_max: int) -> np.ndarray:
        """expected_cost(k) for k = 1..k_max (the scheduler asks every round)."""
        return self._catch_up_cost(self._behind()) + np.arange(k_max) * self.cost(1)

    def _behind(self) -> int:
        return max(1, self._committed - len(self.kv))

    def _split_catch_up(self, n: int) -> bool:
        """Whether n tokens to catch up on cost less as n one-token decodes than as one batch (CPUs batch
        cheaply; on GPUs a batch of another shape than the one-token steps costs shape changes, see below)."""
        return 1 < n and n * self.cost(1) < self._batch_catch_up_cost(n)

    def _batch_catch_up_cost(self, n: int) -> float:
        # llama.cpp's CUDA backend replays a captured graph only from the third decode of an unchanged shape on:
        # after a batch, the batch and the next step run uncaptured and the step after that captures anew
        return self.cost(n) + 2 * self.cost.shape_change + self.cost.capture

    def _catch_up_cost(self, n: int) -> float:
        if n <= 1:
            return self.cost(1)
        return min(n * self.cost(1), self._batch_catch_up_cost(n))

    def observe_target(self, tokens, pos0, n_kept) -> None:
        self._committed = pos0 + n_kept + 1

    def _settle(self) -> None:
        """Wait for a step the last draft launched (its KV entry must exist before the cache is edited)."""
        if self._in_flight:
            self._in_flight = False
            self.ctx.synchronize()

    def draft(self, history, n_max, sampling, rng, gate) -> Draft:
        t0 = time.perf_counter()
        self._settle()
        keep = min(common_prefix(self.kv, history), len(history) - 1)
        if keep < len(self.kv):
            self.ctx.remove_from(keep)
            del self.kv[keep:]
        fresh = list(history[keep:])
        on_device = sampling.greedy and self.ctx.rows_argmax is not None
        if on_device:
            self.ctx.rows_argmax.set(True)
            decode = self.ctx.decode_peak
        else:
            decode = self._decode_last
        if self._split_catch_up(len(fresh)):
            for i, token in enumerate(fresh):
                out = decode([token], keep + i)
        else:
            out = decode(fresh, keep)
        self.kv.extend(fresh)
        if on_device:
            return self._draft_on_device(out, n_max, gate, t0)
        logits = out
        if self.pipelined and sampling.greedy:
            return self._draft_pipelined(logits, n_max, gate, t0)
        tokens: list[int] = []
        confs: list[float] = []
        dists: list[Dist | None] | None = None if sampling.greedy else []
        step = self.cost(1)
        while True:
            # the confidence is read from the law before sampling from it (see Scheduler.include)
            row = logits[0]
            if dists is None:
                d = None
                x, conf = self._peak(row)
            else:
                d = distribution(row, sampling)
                conf = d.max_prob
                x = -1
            if not gate.include([*confs, conf], time.perf_counter() - t0, step):
                break
            if d is not None:
                x = d.sample(rng)
            tokens.append(x)
            confs.append(conf)
            if d is not None:
                dists.append(d)
            if len(tokens) >= n_max or x in self._eog:
                break
            if not gate.keep_drafting(confs, time.perf_counter() - t0, step):
                break
            logits = self.ctx.decode([x], len(self.kv), "last")
            self.kv.append(x)
        return Draft(tokens, np.asarray(confs), dists, time.perf_counter() - t0)

    def _decode_last(self, tokens, pos0: int) -> np.ndarray:
        return self.ctx.decode(tokens, pos0, "last")

    def _draft_on_device(self, peak: tuple[int, float], n_max: int, gate: DraftGate, t0: float) -> Draft:
        """Greedy drafting with each step's token and confidence taken on the device (a patched libllama): one
        int and one float cross to the host instead of the step's logits. The gate reads a step's confidence
        before the next step is launched, so none is launched for nothing. (Launching it first, as the host's
        path does, measured no better in run V's one process of it: docs/benchmarks.md.)"""
        tokens: list[int] = []
        confs: list[float] = []
        step = self.cost(1)
        while True:
            x, conf = peak
            if not gate.include([*confs, conf], time.perf_counter() - t0, step):
                break
            tokens.append(x)
            confs.append(conf)
            if len(tokens) >= n_max or x in self._eog:
                break
            if not gate.keep_drafting(confs, time.perf_counter() - t0, step):
                break
            peak = self.ctx.decode_peak((x,), len(self.kv))
            self.kv.append(x)
        return Draft(tokens, np.asarray(confs), None, time.perf_counter() - t0)

    def _draft_pipelined(self, logits: np.ndarray, n_max: int, gate: DraftGate, t0: float) -> Draft:
        """Greedy drafting with each step launched before the gate reads its confidence (see the class)."""
        tokens: list[int] = []
        confs: list[float] = []
        step = self.cost(1)
        while True:
            x = self._peak.locate(logits[0])  # before the launch: its logits land in the same buffer
            launched = len(tokens) + 1 < n_max and x not in self._eog
            if launched:
                self.ctx.submit([x], len(self.kv), "last")
                self.kv.append(x)
                self._in_flight = True
            conf = self._peak.confidence()
            if not gate.include([*confs, conf], time.perf_counter() - t0, step):
                break
            tokens.append(x)
            confs.append(conf)
            if not launched or not gate.keep_drafting(confs, time.perf_counter() - t0, step):
                break
            self._in_flight = False
            logits = self.ctx.result()
        self.launched_unused += self._in_flight
        return Draft(tokens, np.asarray(confs), None, time.perf_counter() - t0)

    def reset(self) -> None:
        self._settle()
        self.ctx.clear()
        self.kv.clear()

    def close(self) -> None:
        self._settle()
        self.ctx.close()


class NgramDrafter:
    """Prompt lookup: continue the most recent earlier occurrence of the conversation's last few tokens."""

    kind = "ngram"
    MIN_N = 2
    MAX_N = 5

    def __init__(self, min_n: int = MIN_N, max_n: int = MAX_N):
        self.min_n = min_n
        self.max_n = max_n
        self._seconds = 2e-5  # running cost: a lookup, no model
        self._index = NgramIndex(min_n, max_n)

    def expected_cost(self, k: int) -> float:
        return self._seconds

    def expected_costs(self, k_max: int) -> np.ndarray:
        return np.full(k_max, self._seconds)

    def observe_target(self, tokens, pos0, n_kept) -> None:
        pass

    def draft(self, history, n_max, sampling, rng, gate) -> Draft:
        t0 = time.perf_counter()
        self._index.sync(history)
        cont, n, agree = self._index.lookup(n_max)
        found = Draft()
        if cont:
            # longer matches, and earlier occurrences that agree on the next token, make a surer proposal. Every
            # position of the span gets that one confidence: once a copy is right it tends to stay right, which the
            # calibration learns per match strength. Confidences that decayed along the span put later positions
            # into buckets learned from weak first positions, and the gate cut spans that would have been kept
            # (Gemma 3 270M, 40 prompts: 1.21-1.22x plain with a 0.97 decay a position, 1.26-1.27x without)
            confidence = 1.0 - 0.5 ** (n + agree - 1)
            found = Draft(cont, np.full(len(cont), confidence), None)
        found.seconds = time.perf_counter() - t0
        self._seconds += 0.1 * (found.seconds - self._seconds)
        return found

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass
