"""One message of the conversation: who wrote it, its Markdown, and a footer with its status and numbers.

An answer streams in through `append` (Textual's Markdown.append re-parses only from the last block, so long
answers stay smooth; batches arrive paced, so nothing queues up). With draft colouring on, the text is shown plain with the characters that came from accepted drafts
in the theme's success colour.
"""

from __future__ import annotations

from typing import Sequence

from markdown_it import MarkdownIt
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Markdown, Static

from ... import history
from ..live import LiveStats

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System"}
STATUS_NOTES = {
    history.STREAMING: "writing…",
    history.STOPPED: "stopped",
    history.INTERRUPTED: "interrupted: the app closed mid-answer",
    history.FAILED: "failed",
}


def code_blocks(markdown: str) -> list[str]:
    """The fenced and indented code blocks of a Markdown text, in order."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [t.content for t in tokens if t.type in ("fence", "code_block")]


def answer_summary(stats: LiveStats) -> str:
    """One short line under a finished answer."""
    parts = [f"{stats.tokens} tokens", f"{stats.tokens_per_s:.1f} tok/s"]
    if stats.acceptance_rate is not None:
        parts.append(f"accepted {stats.acceptance_rate:.0%} ({stats.accepted}/{stats.verified})")
    if stats.speedup is not None:
        parts.append(f"{stats.speedup:.2f}× vs plain")
    parts.append(stats.mode)
    return " · ".join(parts)


class MessageView(Vertical, can_focus=True):
    """Focus it (Tab or click) to copy it with `c`, or its code blocks one after another with `b`."""

    BINDINGS = [("c", "copy", "Copy message"), ("b", "copy_code", "Copy code block")]
    COMPONENT_CLASSES = {"message--draft"}

    status: reactive[str] = reactive(history.DONE)
    colour_drafts: reactive[bool] = reactive(False)
    summary: reactive[str] = reactive("")

    def __init__(self, role: str, content: str = "", status: str = history.DONE, *, message_id: int | None = None,
                 model: str | None = None, stats: dict | None = None,
                 draft_spans: Sequence[tuple[int, int]] = (), colour_drafts: bool = False) -> None:
        super().__init__(classes=f"message -{role}")
        self.role = role
        self.message_id = message_id
        self.model = model
        self._content = content
        self._spans: list[tuple[int, int]] = list(draft_spans)
        self._stats = stats
        self._next_code = 0
        self.set_reactive(MessageView.status, status)
        self.set_reactive(MessageView.colour_drafts, colour_drafts)
        if stats:
            self.set_reactive(MessageView.summary, answer_summary(LiveStats.from_dict(stats)))
        self._set_classes()  # watchers only run for changes after mounting

    @property
    def content(self) -> str:
        return self._content

    def as_message(self) -> history.Message:
        """This view as a stored message (to show it again later without reading the store)."""
        return history.Message(self.message_id or 0, 0, self.role, self._content, self.status, model=self.model,
                               stats=self._stats, draft_spans=list(self._spans))

    def compose(self) -> ComposeResult:
        label = ROLE_LABELS.get(self.role, self.role)
        if self.role == "assistant" and self.model:
            label += f" · {self.model}"
        yield Static(label, classes="role")
        yield Markdown(self._content, classes="body")
        yield Static(self._drafts_text(styled=False) if self._plain else "", classes="drafts")
        yield Static(self._footer_text(), classes="footer")

    # -- streaming ------------------------------------------------------------------------------------------
    async def append(self, text: str, spans: Sequence[tuple[int, int]] = ()) -> None:
        if not text:
            return
        self._content += text
        self._spans.extend(spans)
        await self.query_one(".body", Markdown).append(text)
        if self.colour_drafts:
            self._show_drafts()

    async def finish(self, content: str, status: str, stats: LiveStats | None = None,
                     spans: Sequence[tuple[int, int]] | None = None) -> None:
        """Settle the final text (the engine's, which may hold a tail the batches never showed)."""
        if spans is not None:
            self._spans = list(spans)
        if content != self._content:
            body = self.query_one(".body", Markdown)
            if content.startswith(self._content):
                await body.append(content[len(self._content):])
            else:
                await body.update(content)
            self._content = content
        if stats is not None:
            self.summary = answer_summary(stats)
            self._stats = stats.to_dict()
        self.status = status
        if self.colour_drafts:
            self._show_drafts()

    # -- reactive display -----------------------------------------------------------------------------------
    @property
    def _plain(self) -> bool:
        return self.colour_drafts and self.role == "assistant"

    def _footer_text(self) -> str:
        return " · ".join(p for p in (STATUS_NOTES.get(self.status, ""), self.summary) if p)

    def _set_classes(self) -> None:
        for name in history.STATUSES:
            self.set_class(self.status == name, f"-{name}")
        self.set_class(bool(self._footer_text()), "-with-footer")
        self.set_class(self._plain, "-plain")

    def watch_status(self) -> None:
        self._show_footer()

    def watch_summary(self) -> None:
        self._show_footer()

    def watch_colour_drafts(self) -> None:
        self._set_classes()
        if self._plain and self.is_mounted:
            self._show_drafts()

    def _show_footer(self) -> None:
        self._set_classes()
        if self.is_mounted:
            self.query_one(".footer", Static).update(self._footer_text())

    def _drafts_text(self, styled: bool = True) -> Text:
        text = Text(self._content)
        if styled:  # the draft colour comes from the stylesheet: known once mounted
            style = self.get_component_rich_style("message--draft")
            for start, end in self._spans:
                text.stylize(style, start, end)
        return text

    def _show_drafts(self) -> None:
        self.query_one(".drafts", Static).update(self._drafts_text())

    def on_mount(self) -> None:
        if self._plain:
            self._show_drafts()  # now with the draft colour

    # -- copying --------------------------------------------------------------------------------------------
    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._content)
        self.notify("message copied", timeout=2)

    def action_copy_code(self) -> None:
        blocks = code_blocks(self._content)
        if not blocks:
            self.notify("this message has no code block", severity="warning", timeout=3)
            return
        i = self._next_code % len(blocks)
        self._next_code = i + 1
        self.app.copy_to_clipboard(blocks[i])
        self.notify(f"code block {i + 1}/{len(blocks)} copied", timeout=2)
