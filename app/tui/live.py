"""The engine's Step events, gathered into a few batches a second for the screen.

The engine yields one Step per decoding round (hundreds a second with a good drafter). Repainting for each would
cost the decoder its speed, so the worker thread folds Steps into a `Batch` and hands one over only when the
`Pacer` says so: never while the screen is still busy with the previous batch, never more often than
MIN_INTERVAL_S, and less often when the screen's own CPU time would pass UI_CPU_BUDGET of a core (a long
conversation or a big terminal makes each repaint dearer). Nothing here imports Textual.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from dspark_chat.engine.events import Step
from dspark_chat.engine.stats import GenerationStats

MIN_INTERVAL_S = 1 / 15  # at most 15 repaints a second: smooth to the eye
MAX_INTERVAL_S = 0.5  # at least 2 a second, however dear a repaint is
UI_CPU_BUDGET = 0.02  # the screen may use this share of one core while an answer streams
COST_EMA = 0.3  # weight of the newest batch in the running cost of drawing one
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

    def to_dict(self) -> dict:
        """The keys of GenerationStats.to_dict() that from_dict reads back."""
        return {"mode": self.mode, "tokens": self.tokens, "tokens_per_s": self.tokens_per_s,
                "drafted": self.drafted, "verified": self.verified, "accepted": self.accepted,
                "spec_rounds": self.spec_rounds, "rounds": self.rounds, "draft_s": self.draft_s,
                "verify_s": self.verify_s, "overhead_s": self.overhead_s, "ttft_s": self.ttft_s,
                "estimated_speedup": self.speedup}

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


class Pacer:
    """Decides when the engine's thread hands the screen a batch. Shared by both threads.

    The engine thread asks `due`; the screen calls `consumed` once a batch is drawn, with the CPU seconds its
    thread used since the previous one. From the running cost of a batch the interval follows directly:
    cost / budget, kept between MIN_INTERVAL_S and MAX_INTERVAL_S. One pacer serves a screen's answers one after
    another, so each answer starts at the pace the last one found.
    """

    def __init__(self, min_interval: float = MIN_INTERVAL_S, max_interval: float = MAX_INTERVAL_S,
                 budget: float = UI_CPU_BUDGET) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.budget = budget
        self.interval = min_interval  # read by the engine thread; a float store is atomic
        self.cost: float | None = None  # running CPU seconds to draw one batch
        self._idle = threading.Event()  # set while the screen has drawn everything it was given
        self._idle.set()

    def due(self, since_last: float) -> bool:
        return since_last >= self.interval and self._idle.is_set()

    def sent(self) -> None:
        self._idle.clear()

    def consumed(self, ui_cpu_s: float | None = None) -> None:
        """The screen drew the last batch (ui_cpu_s: what that cost it; None when it drew nothing)."""
        if ui_cpu_s is not None and ui_cpu_s >= 0:
            self.cost = ui_cpu_s if self.cost is None else self.cost + COST_EMA * (ui_cpu_s - self.cost)
            self.interval = min(self.max_interval, max(self.min_interval, self.cost / self.budget))
        self._idle.set()


@dataclass
class Batcher:
    """Folds Steps into Batches in the engine's thread. `offset` counts characters of the whole answer."""

    speedup: Callable[[GenerationStats], float | None] | None = None  # the scheduler's estimate, live
    pacer: Pacer = field(default_factory=Pacer)
    clock: Callable[[], float] = time.perf_counter
    offset: int = 0
    _parts: list[str] = field(default_factory=list)
    _spans: list[tuple[int, int]] = field(default_factory=list)
    _last_emit: float = 0.0
    _tokens_at_emit: int = 0
    _stats: GenerationStats | None = None

    def add(self, step: Step) -> Batch | None:
        """Take one round; return a Batch when the pacer says the screen wants one."""
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
        if not self.pacer.due(now - self._last_emit):
            return None
        self.pacer.sent()
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
