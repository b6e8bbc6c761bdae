"""The engine's Step events, gathered into a few batches a second for the screen.

The engine yields one Step per decoding round (hundreds a second with a good drafter). Repainting for each would
cost the decoder its speed, so the worker thread folds Steps into a `Batch` and hands one over at most every
REPAINT_INTERVAL_S. Nothing here imports Textual: the same code runs headless in the overhead measurement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from dspark_chat.engine.events import Step
from dspark_chat.engine.stats import GenerationStats

REPAINT_INTERVAL_S = 1 / 15  # at most 15 repaints a second: smooth to the eye, cheap for the decoder
SPARK_POINTS = 32  # tokens/s samples the sparkline keeps (one per batch: about two seconds)


@dataclass(frozen=True)
class LiveStats:
    """A consistent copy of the counters, taken in the engine's thread (the UI never reads the live object)."""

    mode: str
    tokens: int
    tokens_per_s: float
    drafted: int
    verified: int
    accepted: int
    spec_rounds: int
    rounds: int
    draft_s: float
    verify_s: float
    overhead_s: float
    ttft_s: float | None
    speedup: float | None  # against plain decoding on this machine, as the scheduler estimates it
    finished: bool = False

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.verified if self.verified else None

    @property
    def mean_accepted_len(self) -> float | None:
        return self.accepted / self.spec_rounds if self.spec_rounds else None

    @property
    def time_split(self) -> tuple[float, float, float] | None:
        """Shares of decoding time spent drafting, verifying and in Python between decodes."""
        total = self.draft_s + self.verify_s + self.overhead_s
        if total <= 0:
            return None
        return self.draft_s / total, self.verify_s / total, self.overhead_s / total

    @staticmethod
    def of(stats: GenerationStats, speedup: float | None, finished: bool = False) -> "LiveStats":
        return LiveStats(
            mode=stats.mode, tokens=stats.tokens, tokens_per_s=stats.tokens_per_s, drafted=stats.drafted,
            verified=stats.verified, accepted=stats.accepted, spec_rounds=stats.spec_rounds, rounds=stats.rounds,
            draft_s=stats.draft_s, verify_s=stats.verify_s, overhead_s=stats.overhead_s, ttft_s=stats.ttft_s,
            speedup=speedup, finished=finished,
        )

    @staticmethod
    def from_dict(d: dict) -> "LiveStats":
        """From a stored answer's `GenerationStats.to_dict()` (the chat shows old answers' numbers too)."""
        return LiveStats(
            mode=d.get("mode", "plain"), tokens=d.get("tokens", 0), tokens_per_s=d.get("tokens_per_s", 0.0),
            drafted=d.get("drafted", 0), verified=d.get("verified", 0), accepted=d.get("accepted", 0),
            spec_rounds=d.get("spec_rounds", 0), rounds=d.get("rounds", 0), draft_s=d.get("draft_s", 0.0),
            verify_s=d.get("verify_s", 0.0), overhead_s=d.get("overhead_s", 0.0), ttft_s=d.get("ttft_s"),
            speedup=d.get("estimated_speedup"), finished=True,
        )


@dataclass
class Batch:
    """Everything the screen needs from the rounds since the last batch."""

    text: str  # new text, to append
    draft_spans: list[tuple[int, int]]  # character ranges of `text` (offsets in the whole answer) from drafts
    stats: LiveStats
    rate: float  # tokens/s over this batch alone (the sparkline's point)


@dataclass
class Batcher:
    """Folds Steps into Batches in the engine's thread. `offset` counts characters of the whole answer."""

    speedup: Callable[[GenerationStats], float | None] | None = None  # the scheduler's estimate, live
    interval: float = REPAINT_INTERVAL_S
    clock: Callable[[], float] = time.perf_counter
    offset: int = 0
    _parts: list[str] = field(default_factory=list)
    _spans: list[tuple[int, int]] = field(default_factory=list)
    _last_emit: float = 0.0
    _tokens_at_emit: int = 0
    _stats: GenerationStats | None = None

    def add(self, step: Step) -> Batch | None:
        """Take one round; return a Batch when the last one is at least `interval` old."""
        for piece, drafted in zip(step.pieces, step.from_draft):
            if not piece:
                continue
            if drafted:
                if self._spans and self._spans[-1][1] == self.offset:
                    self._spans[-1] = (self._spans[-1][0], self.offset + len(piece))  # extend a run of drafts
                else:
                    self._spans.append((self.offset, self.offset + len(piece)))
            self._parts.append(piece)
            self.offset += len(piece)
        self._stats = step.stats
        now = self.clock()
        if not self._last_emit:
            self._last_emit = step.stats.t_decode_start or now
        if now - self._last_emit < self.interval:
            return None
        return self._emit(now, finished=False)

    def finish(self, stats: GenerationStats, tail: str = "") -> Batch:
        """The last batch: whatever is pending, the held-back tail, and the final counters."""
        if tail:
            self._parts.append(tail)
            self.offset += len(tail)
        self._stats = stats
        if not self._last_emit:
            self._last_emit = stats.t_decode_start or self.clock()
        return self._emit(self.clock(), finished=True)

    def _emit(self, now: float, finished: bool) -> Batch:
        stats = self._stats
        assert stats is not None
        span = now - self._last_emit
        rate = (stats.tokens - self._tokens_at_emit) / span if span > 0 else 0.0
        if finished and stats.estimated_speedup is not None:
            speedup = stats.estimated_speedup
        else:
            speedup = self.speedup(stats) if self.speedup is not None else None
        batch = Batch("".join(self._parts), self._spans, LiveStats.of(stats, speedup, finished), rate)
        self._parts, self._spans = [], []
        self._last_emit, self._tokens_at_emit = now, stats.tokens
        return batch


# --- text of the stats bar (pure, so tests and the docs read the same labels) ---------------------------------
# (priority, label, value): when the bar is narrow the fields of lowest priority go first, so what stays put
# depends only on the width, never on the numbers (nothing jumps while streaming).
Field = tuple[int, str, str]


def stats_fields(s: LiveStats | None) -> list[Field]:
    if s is None:
        return []
    fields: list[Field] = [(0, "", f"{s.tokens_per_s:5.1f} tok/s")]
    if s.mode != "plain":
        rate = s.acceptance_rate
        fields.append((1, "accept", " – " if rate is None else f"{rate:3.0%} ({s.accepted}/{s.verified})"))
        mean = s.mean_accepted_len
        fields.append((4, "len", " – " if mean is None else f"{mean:3.1f}"))
    split = s.time_split
    if split is not None:
        fields.append((6, "draft", f"{split[0]:3.0%}"))
        fields.append((5, "verify", f"{split[1]:3.0%}"))
    fields.append((3, "TTFT", " –  " if s.ttft_s is None else f"{s.ttft_s:4.2f}s"))
    fields.append((2, "", s.mode))
    if s.speedup is not None:
        fields.append((2, "", f"{s.speedup:4.2f}× plain"))
    return fields


def format_stats(s: LiveStats | None, width: int | None = None, separator_width: int = 3) -> list[tuple[str, str]]:
    """(label, value) pairs that fit `width` characters (None: all of them)."""
    fields = stats_fields(s)
    if width is not None:
        def size(fs: list[Field]) -> int:
            return sum(len(v) + (len(lbl) + 1 if lbl else 0) for _, lbl, v in fs) + separator_width * (len(fs) - 1)

        while fields and size(fields) > width:
            worst = max(p for p, _, _ in fields)
            if worst == 0:
                break
            fields = [f for f in fields if f[0] != worst]
    return [(label, value) for _, label, value in fields]
