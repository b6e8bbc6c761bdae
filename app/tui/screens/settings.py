"""Settings: this chat's system prompt and sampling (stored with the chat), and how the models run
(speculation, context, threads, GPU layers: changing these reloads the models).

Dismissed with (ChatSettings, ModelSpec | None), or None when cancelled. Bad values are named and the screen stays.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, TextArea

from dspark_chat.engine.errors import DSparkError

from ...chat_settings import ChatSettings, ModelSpec

PLAIN, NGRAM = "none", "ngram"


class SettingsScreen(ModalScreen["tuple[ChatSettings, ModelSpec | None] | None"]):
    BINDINGS = [Binding("escape", "dismiss", "Cancel"), Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, settings: ChatSettings, spec: ModelSpec | None) -> None:
        super().__init__()
        self.settings = settings
        self.spec = spec

    def compose(self) -> ComposeResult:
        s, m = self.settings, self.spec
        with VerticalScroll(id="settings", classes="dialog"):
            yield Label("Settings", classes="dialog-title")
            yield Label("This chat", classes="section")
            yield Label("System prompt")
            yield TextArea(s.system_prompt, id="system_prompt", soft_wrap=True)
            with Grid(classes="fields"):
                yield from _field("Temperature (0 = greedy)", "temperature", s.temperature, "number")
                yield from _field("Top-k (0 = off)", "top_k", s.top_k, "integer")
                yield from _field("Top-p (1 = off)", "top_p", s.top_p, "number")
                yield from _field("Min-p (0 = off)", "min_p", s.min_p, "number")
                yield from _field("Most tokens per answer", "max_tokens", s.max_tokens, "integer")
                yield from _field("Seed", "seed", s.seed, "integer", "empty: a fresh one each time")
            if m is not None:
                yield Label("Models (changes reload them)", classes="section")
                with Grid(classes="fields"):
                    yield Label("Drafter")
                    yield Select(self._drafter_choices(m), value=self._drafter_value(m), allow_blank=False,
                                 id="drafter", compact=True)
                    yield from _field("Most drafts per round", "draft_max", m.draft_max, "integer",
                                      "empty: 16, 32 on GPUs")
                    yield from _field("Fixed drafts per round", "draft_fixed", m.draft_fixed, "integer",
                                      "empty: the scheduler chooses")
                    yield from _field("Context (tokens)", "ctx_size", m.ctx_size, "integer")
                    yield from _field("CPU threads", "threads", m.threads, "integer", "empty: 1 per core")
                    yield from _field("GPU layers (-1 = all)", "n_gpu_layers", m.n_gpu_layers, "integer")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @staticmethod
    def _drafter_value(m: ModelSpec) -> str:
        return PLAIN if m.drafter in (None, "", PLAIN, "plain") else m.drafter

    def _drafter_choices(self, m: ModelSpec) -> list[tuple[str, str]]:
        choices = [("plain decoding (no drafter)", PLAIN), ("n-gram (prompt lookup)", NGRAM)]
        if self._drafter_value(m) not in (PLAIN, NGRAM):
            choices.append((m.drafter_label, m.drafter))
        return choices

    def _value(self, name: str, kind: type, optional: bool = False):
        raw = self.query_one(f"#{name}", Input).value.strip()
        if not raw:
            if optional:
                return None
            raise DSparkError(f"{name.replace('_', ' ')} needs a value")
        try:
            return kind(raw)
        except ValueError:
            raise DSparkError(f"{name.replace('_', ' ')}: {raw!r} is not a number") from None

    def read(self) -> tuple[ChatSettings, ModelSpec | None]:
        settings = replace(
            self.settings,
            system_prompt=self.query_one("#system_prompt", TextArea).text.strip(),
            temperature=self._value("temperature", float), top_k=self._value("top_k", int),
            top_p=self._value("top_p", float), min_p=self._value("min_p", float),
            max_tokens=self._value("max_tokens", int), seed=self._value("seed", int, optional=True),
        ).validate()
        spec = self.spec
        if spec is not None:
            drafter = self.query_one("#drafter", Select).value
            spec = replace(
                spec, drafter=None if drafter == PLAIN else str(drafter),
                draft_max=self._value("draft_max", int, optional=True),
                draft_fixed=self._value("draft_fixed", int, optional=True),
                ctx_size=self._value("ctx_size", int), threads=self._value("threads", int, optional=True),
                n_gpu_layers=self._value("n_gpu_layers", int),
            ).validate()
        return settings, spec

    def action_save(self) -> None:
        try:
            result = self.read()
        except DSparkError as exc:
            self.notify(str(exc), title="not saved", severity="error")
            return
        self.dismiss(result)

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def _field(label: str, name: str, value, kind: str, placeholder: str = "") -> ComposeResult:
    yield Label(label)
    yield Input("" if value is None else str(value), id=name, type=kind, compact=True, placeholder=placeholder)
