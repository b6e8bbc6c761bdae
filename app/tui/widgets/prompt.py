"""The prompt: a multi-line editor where Enter sends, and Shift+Enter or Ctrl+J start a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("shift+enter", "ctrl+j")  # ctrl+j works in every terminal; shift+enter where keys are reported
PLACEHOLDER = "Message · Enter sends · Ctrl+J new line · F1 help"


class PromptInput(TextArea):
    """Posts Submitted on Enter and RecallLast on Up in an empty prompt; everything else is a normal editor."""

    class Submitted(Message):
        def __init__(self, prompt: "PromptInput", text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    class RecallLast(Message):
        """Up in an empty prompt: the user wants to edit the last message."""

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", compact=True,
                         highlight_cursor_line=False, placeholder=PLACEHOLDER, **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self._consume(event)
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            self._consume(event)
            self.insert("\n")
            return
        if event.key == "up" and not self.text:
            self._consume(event)
            self.post_message(self.RecallLast())
            return
        await super()._on_key(event)

    @staticmethod
    def _consume(event: events.Key) -> None:
        event.stop()
        event.prevent_default()
