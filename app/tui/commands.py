"""Command palette entries (ctrl+p) for every chat action, each with the key that does the same."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Iterable

from textual.app import SystemCommand

if TYPE_CHECKING:
    from .screens.chat import ChatScreen


def chat_commands(chat: "ChatScreen") -> Iterable[SystemCommand]:
    def on_chat(method, **kwargs):
        # the palette calls back on the app's loop; chat actions mount widgets, so they run on the screen's loop
        return lambda: chat.call_later(partial(method, **kwargs))

    yield SystemCommand("New chat", "Start an empty conversation (ctrl+n)", on_chat(chat.action_new_chat))
    yield SystemCommand("Chats", "Open, search, rename or delete saved chats (ctrl+o)", on_chat(chat.action_chats))
    yield SystemCommand("Rename chat", "Give this chat a new title", on_chat(chat.action_rename))
    yield SystemCommand("Delete chat", "Delete this chat for good", on_chat(chat.action_delete))
    yield SystemCommand("Export chat", "Write this chat to a Markdown file", on_chat(chat.action_export))
    yield SystemCommand("Stop", "Stop the answer being written (esc)", on_chat(chat.action_stop))
    yield SystemCommand("Regenerate", "Write the last answer again (ctrl+r)", on_chat(chat.action_regenerate))
    yield SystemCommand("Edit last message", "Edit and resend your last message (ctrl+l)",
                        on_chat(chat.action_edit_last))
    yield SystemCommand("Copy answer", "Copy the last answer to the clipboard", on_chat(chat.copy_last, code=False))
    yield SystemCommand("Copy code block", "Copy a code block of the last answer (again: the next one)",
                        on_chat(chat.copy_last, code=True))
    yield SystemCommand("Settings", "System prompt, sampling, speculation, context (ctrl+s)",
                        on_chat(chat.action_settings))
    yield SystemCommand("Models", "Pick the target model and its drafter (ctrl+t)", on_chat(chat.action_models))
    yield SystemCommand("Colour drafted tokens", "Show which text came from accepted drafts (ctrl+g)",
                        on_chat(chat.action_colour_drafts))
    yield SystemCommand("Help", "Every key of dspark-chat (f1)", on_chat(chat.action_help))
