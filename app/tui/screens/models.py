"""The model picker: a target from the models on this machine, then a drafter that fits it.

Dismissed with a ModelSpec (the other settings kept), or None.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ...chat_settings import ModelSpec
from ...model_choices import Candidate, local_models, pairing_problem

PLAIN, NGRAM = "none", "ngram"


class ModelPickerScreen(ModalScreen[ModelSpec | None]):
    BINDINGS = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, spec: ModelSpec | None) -> None:
        super().__init__()
        self.spec = spec
        self.models: list[Candidate] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="models", classes="dialog"):
            yield Label("Models", classes="dialog-title")
            yield Label("Enter on a target, then on a drafter. Drafters that cannot pair are greyed out.",
                        classes="hint")
            with Horizontal():
                with Vertical():
                    yield Label("Target", classes="section")
                    yield OptionList(id="targets")
                with Vertical():
                    yield Label("Drafter", classes="section")
                    yield OptionList(id="drafters")

    def on_mount(self) -> None:
        self._find_models()

    @work(thread=True, exclusive=True)
    def _find_models(self) -> None:
        """Reading GGUF headers takes a moment on big disks: off the UI thread."""
        current = (self.spec.target, self.spec.drafter) if self.spec else ()
        models = local_models(current)
        self.app.call_from_thread(self._show_targets, models)

    def _show_targets(self, models: list[Candidate]) -> None:
        self.models = models
        targets = self.query_one("#targets", OptionList)
        for i, c in enumerate(models):
            line = Text(c.name)
            line.append(f"  {c.source}", style="dim")
            targets.add_option(Option(line, id=str(i)))
        current = [i for i, c in enumerate(models) if self.spec and c.path == Path(self.spec.target)]
        if models:
            targets.highlighted = current[0] if current else 0
        targets.focus()
        if not models:
            self.notify("no model files found: pass --target PATH or download one with `dspark-chat pull`",
                        severity="warning")

    @on(OptionList.OptionHighlighted, "#targets")
    def _target_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show_drafters(self.models[int(event.option.id)].path)

    def _show_drafters(self, target: Path) -> None:
        drafters = self.query_one("#drafters", OptionList)
        drafters.clear_options()
        drafters.add_option(Option("plain decoding (no drafter)", id=PLAIN))
        drafters.add_option(Option("n-gram (prompt lookup, no model)", id=NGRAM))
        for c in self.models:
            problem = pairing_problem(target, c.path)
            line = Text(c.name, style="dim" if problem else "")
            if problem:
                line.append(f"  {problem}", style="dim italic")
            drafters.add_option(Option(line, id=str(c.path), disabled=problem is not None))

    @on(OptionList.OptionSelected, "#targets")
    def _target_chosen(self) -> None:
        self.query_one("#drafters", OptionList).focus()

    @on(OptionList.OptionSelected, "#drafters")
    def _drafter_chosen(self, event: OptionList.OptionSelected) -> None:
        targets = self.query_one("#targets", OptionList)
        if targets.highlighted is None:
            return
        target = str(self.models[targets.highlighted].path)
        drafter = None if event.option.id == PLAIN else event.option.id
        base = self.spec or ModelSpec(target=target)
        self.dismiss(replace(base, target=target, drafter=drafter))
