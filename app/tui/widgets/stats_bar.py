"""The live speculative view: a line of decoding numbers and a sparkline of tokens/s, updated while tokens stream.

It only shows what it is given: the chat screen sets `stats` (a LiveStats snapshot, a few times a second) and
`note` (model loading progress and other one-line states). Fixed-width values keep the line from jumping.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Sparkline, Static

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


class StatsBar(Horizontal):
    stats: reactive[LiveStats | None] = reactive(None)
    note: reactive[str] = reactive("")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rates: deque[float] = deque(maxlen=SPARK_POINTS)

    def compose(self) -> ComposeResult:
        yield Sparkline([], id="rate-spark")
        yield Static(id="stats-text")

    def start(self) -> None:
        """A new answer: clear the sparkline."""
        self._rates.clear()
        self.query_one(Sparkline).data = []

    def add_rate(self, tokens_per_s: float) -> None:
        self._rates.append(tokens_per_s)
        self.query_one(Sparkline).data = list(self._rates)

    def watch_stats(self) -> None:
        self._render_text()

    def watch_note(self) -> None:
        self._render_text()

    def _render_text(self) -> None:
        if self.is_mounted:
            box = self.query_one("#stats-text", Static)
            box.update(stats_text(self.stats, self.note, box.size.width or None))

    def on_mount(self) -> None:
        self._render_text()

    def on_resize(self) -> None:
        self._render_text()

    @property
    def plain_text(self) -> str:
        """What the bar says, for tests and screen readers."""
        box = self.query_one("#stats-text", Static)
        return stats_text(self.stats, self.note, box.size.width or None).plain
