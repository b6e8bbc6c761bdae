"""The chat list: search by title, open, rename, delete, export, or start a new chat.

Dismissed with the id of the chat to open, "new" for a new chat, or None (the chat on screen stays, unless it was
renamed or deleted here: the chat screen checks).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, OptionList
from textual.widgets.option_list import Option

from ... import history
from .ask import AskText, Confirm


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


class HistoryScreen(ModalScreen[int | str | None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("n,ctrl+n", "new", "New chat"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
        Binding("e", "export", "Export"),
        Binding("slash", "search", "Search"),
    ]

    def __init__(self, current: int | None = None) -> None:
        super().__init__()
        self.current = current

    @property
    def store(self) -> history.HistoryStore:
        return self.app.store

    def compose(self) -> ComposeResult:
        with Vertical(id="history", classes="dialog"):
            yield Label("Chats", classes="dialog-title")
            yield Input(placeholder="search titles  (/)", id="search")
            yield OptionList(id="chats")
            yield Footer()

    def on_mount(self) -> None:
        self.refresh_list()
        self.query_one(OptionList).focus()

    def refresh_list(self) -> None:
        listing = self.query_one(OptionList)
        selected = self.selected_id()
        listing.clear_options()
        chats = self.store.list_conversations(self.query_one("#search", Input).value.strip())
        for c in chats:
            line = Text(c.title, style="bold" if c.id == self.current else "")
            count = f"{c.n_messages} message" + ("" if c.n_messages == 1 else "s")
            line.append(f"  ·  {_when(c.updated_at)} · {count}", style="dim")
            listing.add_option(Option(line, id=str(c.id)))
        keep = selected if selected is not None else self.current
        ids = [c.id for c in chats]
        if ids:
            listing.highlighted = ids.index(keep) if keep in ids else 0

    def selected_id(self) -> int | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None or listing.option_count == 0:
            return None
        return int(listing.get_option_at_index(listing.highlighted).id)

    @on(Input.Changed, "#search")
    def _search(self) -> None:
        self.refresh_list()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_new(self) -> None:
        self.dismiss("new")

    def action_rename(self) -> None:
        chat = self.selected_id()
        if chat is None:
            return
        self.app.push_screen(AskText("Rename chat", self.store.get(chat).title),
                             lambda title: self._rename(chat, title))

    def _rename(self, chat: int, title: str | None) -> None:
        if title:
            try:
                self.store.rename(chat, title)
            except history.HistoryError as exc:
                self.notify(str(exc), severity="error")
            self.refresh_list()

    def action_delete(self) -> None:
        chat = self.selected_id()
        if chat is None:
            return
        title = self.store.get(chat).title
        self.app.push_screen(Confirm(f"Delete “{title}”? This cannot be undone."),
                             lambda yes: self._delete(chat, yes))

    def _delete(self, chat: int, yes: bool | None) -> None:
        if yes:
            try:
                self.store.delete(chat)
            except history.HistoryError as exc:
                self.notify(str(exc), severity="error")
            self.refresh_list()

    def action_export(self) -> None:
        chat = self.selected_id()
        if chat is None:
            return
        try:
            path = self.store.export_to_file(chat)
        except history.HistoryError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"exported to {path}", title="chat exported", timeout=8)
