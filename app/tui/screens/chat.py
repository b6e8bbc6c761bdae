"""The chat: the conversation, the live stats bar and the prompt. It sends turns to the engine and shows answers.

An answer is an `AnswerJob`: its row in the store is created before the first token (status `streaming`), its text
is saved every SAVE_INTERVAL_S while it streams, and its final text and statistics are written when the engine says
Done. The engine runs in a worker thread; its batches arrive as messages (see messages.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.session import GenerateParams

from ... import history
from ...chat_settings import ChatSettings, ModelSpec
from ..engine_host import EngineHost
from ..live import LiveStats, Pacer
from ..messages import AnswerDone, AnswerFailed, AnswerProgress
from ..widgets.conversation import ConversationView
from ..widgets.message import MessageView
from ..widgets.prompt import PromptInput
from ..widgets.stats_bar import StatsBar

SAVE_INTERVAL_S = 0.5  # a streaming answer reaches the disk at least this often (a kill loses at most this much)

FINISH_STATUS = {"cancelled": history.STOPPED}  # engine finish reason -> message status (others: done)
FINISH_NOTES = {
    "context": "the context window is full: start a new chat (ctrl+n) or raise the context in settings (ctrl+s)",
}


@dataclass
class AnswerJob:
    id: int
    conversation_id: int
    message_id: int
    view: MessageView
    cancel: threading.Event = field(default_factory=threading.Event)
    text: str = ""  # what has arrived so far
    spans: list[tuple[int, int]] = field(default_factory=list)
    saved_at: float = 0.0
    stopping: bool = False
    cpu_mark: float = field(default_factory=time.thread_time)  # the UI thread's CPU clock at the last batch


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", tooltip="Stop the answer now (or cancel editing)"),
        Binding("ctrl+n", "new_chat", "New"),
        Binding("ctrl+o", "chats", "Chats"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+l", "edit_last", "Edit last"),
        Binding("ctrl+s", "settings", "Settings"),
        Binding("ctrl+t", "models", "Models"),
        Binding("ctrl+g", "colour_drafts", "Drafts"),
        Binding("f1", "help", "Help"),
    ]

    generating: reactive[bool] = reactive(False, bindings=True)
    editing: reactive[history.Message | None] = reactive(None, bindings=True)

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__(id="chat")
        self.defaults = settings  # for new chats
        self.settings = settings  # of the chat on screen
        self.conversation_id: int | None = None
        self.job: AnswerJob | None = None
        self.answer_when_ready = False
        self._job_ids = count(1)
        self.pacer = Pacer()  # how often answers are drawn: learnt from what drawing costs here
        self._save_warned = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConversationView(id="conversation")
        yield StatsBar(id="stats")
        yield Static("editing your last message · Enter resends it · Esc cancels", id="edit-note")
        yield PromptInput(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#edit-note").display = False
        self.query_one(PromptInput).focus()

    # -- small accessors ------------------------------------------------------------------------------------
    @property
    def store(self) -> history.HistoryStore:
        return self.app.store

    @property
    def engine(self) -> EngineHost:
        return self.app.engine

    @property
    def conversation(self) -> ConversationView:
        return self.query_one(ConversationView)

    @property
    def stats_bar(self) -> StatsBar:
        return self.query_one(StatsBar)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating or self.editing is not None
        return True

    def watch_editing(self, editing: history.Message | None) -> None:
        self.query_one("#edit-note").display = editing is not None

    # -- what the app tells the screen (method calls downward) ----------------------------------------------
    def model_note(self, note: str) -> None:
        self.stats_bar.note = note

    async def model_ready(self) -> None:
        if self.answer_when_ready:
            self.answer_when_ready = False
            await self.start_answer()

    def model_failed(self) -> None:
        if self.answer_when_ready:
            self.answer_when_ready = False
            self.notify("the waiting message has no answer: pick a model (ctrl+t), then regenerate (ctrl+r)",
                        severity="warning")

    async def open_conversation(self, conversation_id: int | None) -> None:
        """Show a stored conversation (None: a new, empty one). A running answer is stopped and saved first."""
        self._stop_job()
        self.editing = None
        if conversation_id is None:
            self.conversation_id = None
            self.settings = self.defaults
            await self.conversation.show([])
            self.stats_bar.stats = None
        else:
            conv = self.store.get(conversation_id)
            self.conversation_id = conv.id
            self.settings = self.defaults.with_stored(conv.system_prompt, conv.settings)
            await self.conversation.show(conv.messages)
            last = next((m for m in reversed(conv.messages) if m.role == "assistant" and m.stats), None)
            self.stats_bar.stats = LiveStats.from_dict(last.stats) if last else None
        self.stats_bar.start()
        self._show_title()
        self.prompt.focus()

    def _show_title(self) -> None:
        title = history.DEFAULT_TITLE
        if self.conversation_id is not None:
            try:
                title = self.store.get(self.conversation_id).title
            except history.HistoryError:
                pass
        self.sub_title = title

    # -- sending --------------------------------------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        if self.job is not None:
            self.notify("an answer is still being written: wait, or stop it with Esc", severity="warning")
            return
        if await self.send(event.text):
            self.prompt.clear()

    @on(PromptInput.RecallLast)
    async def _recall(self) -> None:
        await self.action_edit_last()

    async def send(self, text: str) -> bool:
        """Store the user's message (first of all: it must never be lost), show it, and ask for the answer."""
        try:
            if self.editing is not None:
                self.store.delete_messages_from(self.editing.id)
                await self.conversation.remove_from(self.editing.id)
                self.editing = None
            if self.conversation_id is None:
                conv = self.store.new_conversation(system_prompt=self.settings.system_prompt,
                                                   settings=self.settings.sampling_dict())
                self.conversation_id = conv.id
            message = self.store.add_message(self.conversation_id, "user", text)
        except history.HistoryError as exc:
            self.notify(str(exc), title="not sent", severity="error", timeout=10)
            return False
        await self.conversation.add(MessageView("user", text, message_id=message.id))
        self._show_title()
        await self.start_answer()
        return True

    def _engine_messages(self) -> list[dict]:
        conv = self.store.get(self.conversation_id)
        out = [{"role": "system", "content": self.settings.system_prompt}] if self.settings.system_prompt else []
        for m in conv.messages:
            if m.role in ("user", "assistant") and m.content:
                out.append({"role": m.role, "content": m.content})
        return out

    async def start_answer(self) -> None:
        if self.conversation_id is None or self.job is not None:
            return
        if not self.engine.ready:
            if self.app.model_state == "loading":
                self.answer_when_ready = True
                self.notify("the answer starts as soon as the model is loaded", timeout=4)
            else:
                self.notify("no model is loaded: pick one with ctrl+t", severity="error")
            return
        try:
            params = self.settings.generate_params()
            messages = self._engine_messages()
            model = Path(self.engine.spec.target).stem if self.engine.spec else None
            row = self.store.start_answer(self.conversation_id, model)
        except (DSparkError, history.HistoryError) as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        view = await self.conversation.add(MessageView("assistant", "", history.STREAMING, message_id=row.id,
                                                       model=model))
        self.job = AnswerJob(next(self._job_ids), self.conversation_id, row.id, view, saved_at=time.monotonic())
        self.generating = True
        self.stats_bar.start()
        self.stats_bar.stats = None
        self.stats_bar.note = "thinking…"
        self.pacer.consumed()  # a fresh answer: nothing is waiting to be drawn
        # decoding starts once the new messages are drawn, so drawing them does not compete with the decoder
        self.call_after_refresh(self._begin, self.job, messages, params)

    async def _begin(self, job: AnswerJob, messages: list[dict], params: GenerateParams) -> None:
        if job is not self.job:
            return
        if job.stopping:  # stopped before the engine started
            self._save(self.store.finish_answer, job.message_id, "", history.STOPPED, None, ())
            if job.view.is_attached:
                await job.view.finish("", history.STOPPED)
            self._end_job()
            return
        job.cpu_mark = time.thread_time()
        self._answer(self.engine, job.id, job.cancel, self.pacer, messages, params)

    @work(thread=True, group="answer", exit_on_error=False)
    def _answer(self, engine: EngineHost, job_id: int, cancel: threading.Event, pacer: Pacer, messages: list[dict],
                params: GenerateParams) -> None:
        """In a worker thread: stream the answer; every batch goes to the screen as a message."""
        try:
            done, last = engine.generate(messages, params, cancel,
                                         lambda batch: self.post_message(AnswerProgress(job_id, batch)), pacer)
        except DSparkError as exc:
            self.post_message(AnswerFailed(job_id, str(exc)))
        except Exception as exc:  # the app keeps running whatever the engine does
            self.post_message(AnswerFailed(job_id, f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(AnswerDone(job_id, done, last))

    # -- answers arriving -----------------------------------------------------------------------------------
    def _job(self, job_id: int) -> AnswerJob | None:
        return self.job if self.job is not None and self.job.id == job_id else None

    @on(AnswerProgress)
    async def _answer_progress(self, message: AnswerProgress) -> None:
        job = self._job(message.job_id)
        if job is None:
            return
        batch = message.batch
        job.text += batch.text
        job.spans.extend(batch.draft_spans)
        now = time.monotonic()
        if now - job.saved_at >= SAVE_INTERVAL_S:
            job.saved_at = now
            self._save(self.store.save_partial, job.message_id, job.text)
        if job.stopping or not job.view.is_attached:  # stopped with Esc, or another chat is on screen
            self.pacer.consumed()
            return
        with self.app.batch_update():  # the text, the numbers and the sparkline in one repaint
            await job.view.append(batch.text, batch.draft_spans)
            self.stats_bar.note = ""
            self.stats_bar.stats = batch.stats
            self.stats_bar.add_rate(batch.rate)
        self.call_after_refresh(self._drawn, job)

    def _drawn(self, job: AnswerJob) -> None:
        """The batch is on screen: tell the pacer what it cost to draw, and that the next batch may come."""
        cpu = time.thread_time()
        self.pacer.consumed(cpu - job.cpu_mark)
        job.cpu_mark = cpu

    @on(AnswerDone)
    async def _answer_done(self, message: AnswerDone) -> None:
        job = self._job(message.job_id)
        if job is None:
            return
        done, batch = message.done, message.batch
        job.spans.extend(batch.draft_spans)
        status = FINISH_STATUS.get(done.reason, history.DONE)
        self._save(self.store.finish_answer, job.message_id, done.text, status, done.stats.to_dict(), job.spans)
        if job.view.is_attached:
            await job.view.finish(done.text, status, batch.stats, job.spans)
            self.stats_bar.note = ""
            self.stats_bar.stats = batch.stats
            if batch.rate > 0 and not job.stopping:
                self.stats_bar.add_rate(batch.rate)
        if done.reason in FINISH_NOTES:
            self.notify(FINISH_NOTES[done.reason], severity="warning", timeout=10)
        self._end_job()

    @on(AnswerFailed)
    async def _answer_failed(self, message: AnswerFailed) -> None:
        job = self._job(message.job_id)
        if job is None:
            return
        self._save(self.store.finish_answer, job.message_id, job.text, history.FAILED, None, job.spans)
        if job.view.is_attached:
            await job.view.finish(job.text, history.FAILED)
        self.stats_bar.note = ""
        self.notify(message.error, title="the answer failed", severity="error", timeout=12)
        self._end_job()

    def _end_job(self) -> None:
        self.job = None
        self.generating = False
        self._show_title()

    def _save(self, write, *args) -> bool:
        """A store write that may fail (disk full): say so once, keep going; the text stays on screen."""
        try:
            write(*args)
        except history.HistoryError as exc:
            if not self._save_warned:
                self._save_warned = True
                self.notify(str(exc), title="not saved", severity="error", timeout=15)
            return False
        self._save_warned = False
        return True

    def _stop_job(self) -> None:
        job = self.job
        if job is not None and not job.stopping:
            job.stopping = True
            job.cancel.set()
            job.view.status = history.STOPPED

    def save_on_exit(self) -> None:
        """The app is closing: stop the answer and keep what it wrote so far."""
        job = self.job
        if job is not None:
            job.cancel.set()
            self._save(self.store.finish_answer, job.message_id, job.text, history.STOPPED, None, job.spans)
            self.job = None

    # -- actions --------------------------------------------------------------------------------------------
    def action_stop(self) -> None:
        if self.job is not None:
            self._stop_job()
            self.stats_bar.note = "stopped"
        elif self.editing is not None:
            self.editing = None
            self.prompt.clear()

    async def action_new_chat(self) -> None:
        await self.open_conversation(None)

    async def action_regenerate(self) -> None:
        if self.job is not None:
            self.notify("an answer is still being written", severity="warning")
            return
        if self.conversation_id is None:
            self.notify("nothing to regenerate yet", severity="warning")
            return
        messages = self.store.get(self.conversation_id).messages
        if messages and messages[-1].role == "assistant":
            last = messages.pop()
            if not self._save(self.store.delete_messages_from, last.id):
                return
            await self.conversation.remove_from(last.id)
        if not any(m.role == "user" for m in messages):
            self.notify("nothing to regenerate yet", severity="warning")
            return
        await self.start_answer()

    async def action_edit_last(self) -> None:
        if self.job is not None:
            self.notify("an answer is still being written", severity="warning")
            return
        if self.conversation_id is None:
            return
        last = next((m for m in reversed(self.store.get(self.conversation_id).messages) if m.role == "user"), None)
        if last is None:
            return
        self.editing = last
        self.prompt.text = last.content
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()

    def action_colour_drafts(self) -> None:
        on = not self.conversation.colour_drafts
        self.conversation.set_colour_drafts(on)
        self.app.remember("colour_drafts", "1" if on else "0")
        self.notify("tokens from accepted drafts are coloured" if on else "draft colouring off", timeout=2)

    def action_chats(self) -> None:
        from .history import HistoryScreen

        self.app.push_screen(HistoryScreen(self.conversation_id), self._after_history)

    async def _after_history(self, choice: int | str | None) -> None:
        if choice == "new":
            await self.open_conversation(None)
        elif isinstance(choice, int):
            try:
                await self.open_conversation(choice)
            except history.HistoryError as exc:
                self.notify(str(exc), severity="error")
        elif self.conversation_id is not None:
            try:  # the list may have renamed or deleted the chat on screen
                self.store.get(self.conversation_id)
                self._show_title()
            except history.HistoryError:
                await self.open_conversation(None)

    def action_settings(self) -> None:
        from .settings import SettingsScreen

        self.app.push_screen(SettingsScreen(self.settings, self.app.model_spec), self._after_settings)

    async def _after_settings(self, result: tuple[ChatSettings, ModelSpec] | None) -> None:
        if result is None:
            return
        settings, spec = result
        self.settings = settings
        if self.conversation_id is None:
            self.defaults = settings  # a chat not yet stored: its settings become those of the next new chat
        else:
            self._save(self.store.update_settings, self.conversation_id, settings.system_prompt,
                       settings.sampling_dict())
        self.notify("settings saved for this chat", timeout=2)
        if spec != self.app.model_spec:
            self.app.load_models(spec)

    def action_models(self) -> None:
        from .models import ModelPickerScreen

        self.app.push_screen(ModelPickerScreen(self.app.model_spec), self._after_models)

    def _after_models(self, spec: ModelSpec | None) -> None:
        if spec is not None and spec != self.app.model_spec:
            self.app.load_models(spec)

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_export(self) -> None:
        if self.conversation_id is None:
            self.notify("this chat is empty: nothing to export", severity="warning")
            return
        try:
            path = self.store.export_to_file(self.conversation_id)
        except history.HistoryError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"exported to {path}", title="chat exported", timeout=8)

    def action_rename(self) -> None:
        from .ask import AskText

        if self.conversation_id is None:
            self.notify("send a message first: this chat is not stored yet", severity="warning")
            return
        self.app.push_screen(AskText("Rename this chat", self.sub_title), self._after_rename)

    def _after_rename(self, title: str | None) -> None:
        if title and self._save(self.store.rename, self.conversation_id, title):
            self._show_title()

    def action_delete(self) -> None:
        from .ask import Confirm

        if self.conversation_id is None:
            return
        self.app.push_screen(Confirm(f"Delete “{self.sub_title}”? This cannot be undone."), self._after_delete)

    async def _after_delete(self, yes: bool | None) -> None:
        if yes and self.conversation_id is not None:
            self._stop_job()
            if self._save(self.store.delete, self.conversation_id):
                await self.open_conversation(None)
                self.notify("chat deleted", timeout=2)

    def copy_last(self, code: bool = False) -> None:
        answers = [v for v in self.conversation.messages() if v.role == "assistant"]
        if not answers:
            self.notify("no answer to copy yet", severity="warning")
            return
        if code:
            answers[-1].action_copy_code()
        else:
            answers[-1].action_copy()
