"""Every key of the app on one screen (the same table the README shows)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

KEYS: list[tuple[str, str]] = [
    ("Enter", "send the message"),
    ("Shift+Enter, Ctrl+J", "new line in the message"),
    ("Esc", "stop the answer at once (or cancel editing)"),
    ("Ctrl+R", "regenerate the last answer"),
    ("Ctrl+L, Up in an empty prompt", "edit and resend your last message"),
    ("Ctrl+N", "new chat"),
    ("Ctrl+O", "chats: open, search, rename (r), delete (d), export (e)"),
    ("Ctrl+S", "settings: system prompt, sampling, speculation, context, threads, GPU layers"),
    ("Ctrl+T", "models: target, drafter, embedded default"),
    ("Ctrl+G", "colour the text that came from accepted drafts"),
    ("Tab, then c / b", "on a message: copy it / copy its code blocks one by one"),
    ("Ctrl+P", "command palette: every action, themes"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit (a running answer is stopped and saved)"),
]

STATS: list[tuple[str, str]] = [
    ("tok/s", "tokens per second of this answer (the sparkline: the rate at each repaint, newest on the right)"),
    ("accept", "accepted drafts / drafts the target verified"),
    ("len", "drafts accepted per round that verified drafts"),
    ("draft/verify", "share of decoding time spent drafting / verifying"),
    ("TTFT", "time to the first token"),
    ("mode", "dspark (native drafter), model (drafter model), ngram (prompt lookup), plain"),
    ("× plain", "speed against plain decoding of the target on this machine, as the scheduler estimates it"),
]


def help_markdown() -> str:
    lines = ["# dspark-chat keys", "", "| Key | Does |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in KEYS]
    lines += ["", "## The stats bar", "", "| Label | Means |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in STATS]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="dialog"):
            yield Markdown(help_markdown())
