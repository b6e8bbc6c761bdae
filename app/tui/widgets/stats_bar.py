"""The live speculative view: a sparkline of tokens/s and a line of decoding numbers, updated while tokens stream.

It only shows what it is given: the chat screen sets `stats` (a LiveStats snapshot, a few times a second) and
`note` (model loading progress and other one-line states). Both are reactive and repaint this one line only
(no layout pass: the bar never changes size), and fixed-width values keep it from jumping.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline

from ..live import SPARK_POINTS, LiveStats, format_stats

SEPARATOR = " │ "


def stats_text(stats: LiveStats | None, note: str = "", width: int | None = None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    room = None if width is None else max(0, width - (len(SEPARATOR) + len(note) if note else 0))
    for i, (label, value) in enumerate(format_stats(stats, room, len(SEPARATOR))):
        if i:
            text.append(SEPARATOR, style="dim")
        if label:
            text.append(f"{label} ", style="dim")
        text.append(value, style="bold")
    if note:
        if text:
            text.append(SEPARATOR, style="dim")
        text.append(note, style="italic")
    return text


class StatsLine(Widget):
    """The numbers; its fields drop by priority when the terminal is narrow."""

    stats: reactive[LiveStats | None] = reactive(None)
    note: reactive[str] = reactive("")

    def render(self) -> Text:
        return stats_text(self.stats, self.note, self.size.width or None)


class StatsBar(Horizontal):
    stats: reactive[LiveStats | None] = reactive(None)
    note: reactive[str] = reactive("")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rates: deque[float] = deque(maxlen=SPARK_POINTS)

    def compose(self) -> ComposeResult:
        yield Sparkline([], id="rate-spark")
        yield StatsLine(id="stats-text").data_bind(StatsBar.stats, StatsBar.note)

    def start(self) -> None:
        """A new answer: clear the sparkline."""
        self._rates.clear()
        self.query_one(Sparkline).data = []

    def add_rate(self, tokens_per_s: float) -> None:
        self._rates.append(tokens_per_s)
        self.query_one(Sparkline).data = list(self._rates)

    @property
    def plain_text(self) -> str:
        """What the bar says, for tests and screen readers."""
        return self.query_one(StatsLine).render().plain
