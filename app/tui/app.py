"""The Textual application: owns the conversation store and the loaded models, and hosts the chat screen.

Screens ask it for the store (`app.store`) and the engine (`app.engine`); it loads models in a worker thread and
tells the chat screen how that goes. Quitting stops a running answer and saves what it wrote.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import count
from typing import Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.reactive import reactive
from textual.screen import Screen

from dspark_chat.engine.errors import DSparkError

from .. import history
from ..chat_settings import ChatSettings, ModelSpec
from .commands import chat_commands
from .engine_host import EngineHost
from .messages import ModelFailed, ModelLoading, ModelReady
from .screens.chat import ChatScreen

LATEST = "latest"  # open the most recent conversation
NEW = "new"  # open an empty one


@dataclass
class Launch:
    """How the app starts: models, defaults for new chats, which conversation, which theme."""

    spec: ModelSpec | None
    settings: ChatSettings
    conversation: int | str = LATEST  # an id, LATEST or NEW
    theme: str | None = None


class ChatApp(App):
    CSS_PATH = ["styles/app.tcss"]
    TITLE = "dspark-chat"

    model_state: reactive[str] = reactive("none")  # none | loading | ready | failed

    def __init__(self, store: history.HistoryStore, launch: Launch) -> None:
        super().__init__()
        self.store = store
        self.engine = EngineHost()
        self.launch = launch
        self.model_spec: ModelSpec | None = launch.spec
        self.chat = ChatScreen(launch.settings)
        self._load_ids = count(1)
        self._load_id = 0

    def get_default_screen(self) -> Screen:
        return self.chat

    def on_ready(self) -> None:
        # Screen work (mounting messages) runs on the screen's own message loop: awaited from the app's loop it
        # would wait on the very loop that has to process it.
        self.chat.call_later(self._start)

    async def _start(self) -> None:
        """The chat screen is composed: open the first chat, then start loading the models."""
        theme = self.store.get_state("theme") or self.launch.theme
        if theme:
            if theme in self.available_themes:
                self.theme = theme
            else:
                self.notify(f"unknown theme {theme!r}: using {self.theme}", severity="warning")
        self.chat.conversation.set_colour_drafts(self.store.get_state("colour_drafts") == "1")
        await self._open_first()
        if self.store.recovered:
            self.notify(f"{self.store.recovered} answer(s) were cut off when dspark-chat last closed; "
                        "their text is kept and marked interrupted", timeout=10)
        if self.model_spec is not None:
            self.load_models(self.model_spec)
        else:
            self.chat.model_note("no model: pick one with ctrl+t")

    async def _open_first(self) -> None:
        wanted = self.launch.conversation
        target = self.store.latest_id() if wanted == LATEST else None if wanted == NEW else int(wanted)
        try:
            await self.chat.open_conversation(target)
        except history.HistoryError as exc:
            self.notify(str(exc), severity="error")
            await self.chat.open_conversation(None)

    def watch_theme(self, theme: str) -> None:
        if self.is_mounted:
            self.remember("theme", theme)

    def remember(self, key: str, value: str) -> None:
        """Small UI choices (theme, toggles) kept for the next start; losing one is not worth a warning."""
        try:
            self.store.set_state(key, value)
        except history.HistoryError:
            pass

    # -- models ---------------------------------------------------------------------------------------------
    def load_models(self, spec: ModelSpec) -> None:
        self.chat.action_stop()  # a running answer would hold the models until it ends
        self.model_spec = spec
        self.model_state = "loading"
        self._load_id = next(self._load_ids)
        self.chat.model_note(f"loading {spec.label}…")
        self._load(self.engine, spec, self._load_id)

    @work(thread=True, group="load", exit_on_error=False)
    def _load(self, engine: EngineHost, spec: ModelSpec, load_id: int) -> None:
        try:
            engine.load(spec, progress=lambda note: self.post_message(ModelLoading(load_id, note)))
        except DSparkError as exc:
            self.post_message(ModelFailed(load_id, str(exc)))
        except Exception as exc:  # the app keeps running whatever a model file does
            self.post_message(ModelFailed(load_id, f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(ModelReady(load_id, spec.label))

    @on(ModelLoading)
    def _model_loading(self, message: ModelLoading) -> None:
        if message.load_id == self._load_id:
            self.chat.model_note(message.note + "…")

    @on(ModelReady)
    def _model_ready(self, message: ModelReady) -> None:
        if message.load_id != self._load_id:
            return
        self.model_state = "ready"
        self.chat.model_note(f"ready · {message.label}")
        self.chat.call_later(self.chat.model_ready)

    @on(ModelFailed)
    def _model_failed(self, message: ModelFailed) -> None:
        if message.load_id != self._load_id:
            return
        self.model_state = "failed"
        self.notify(message.error, title="model not loaded", severity="error", timeout=15)
        self.chat.model_note("no model loaded · ctrl+t picks one")
        self.chat.model_failed()

    # -- palette and shutdown -------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is self.chat:
            yield from chat_commands(self.chat)

    async def action_quit(self) -> None:
        self.chat.save_on_exit()
        self.exit()

    async def on_unmount(self) -> None:
        self.chat.save_on_exit()
        # free the models once the answer's thread has seen its cancel (it ends within one decoding round)
        await asyncio.to_thread(self.engine.close)
