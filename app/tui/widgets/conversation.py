"""The scrolling column of messages; it stays pinned to the newest text while an answer streams.

Every mounted message costs each repaint a little (Textual lays out the whole column), so only the newest
SHOWN_MESSAGES stay mounted; a line at the top brings the earlier ones back on request. Nothing is dropped from
the store: this is only what the screen holds.
"""

from __future__ import annotations

from textual import on
from textual.containers import VerticalScroll
from textual.widgets import Button

from ... import history
from .message import MessageView

SHOWN_MESSAGES = 24  # messages kept on screen; older ones behind the "earlier messages" button


class ConversationView(VerticalScroll):
    colour_drafts = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._hidden: list[history.Message] = []  # stored messages not mounted (oldest first)

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, messages: list[history.Message]) -> None:
        """Replace what is shown with a stored conversation (its newest SHOWN_MESSAGES)."""
        await self.remove_children()
        visible = [m for m in messages if m.role != "system"]
        self._hidden, visible = visible[:-SHOWN_MESSAGES], visible[-SHOWN_MESSAGES:]
        widgets = [self.view_of(m) for m in visible]
        if self._hidden:
            widgets.insert(0, self._earlier_button())
        if widgets:
            await self.mount_all(widgets)
        self.anchor()
        self.call_after_refresh(self.scroll_end, animate=False)  # once the new messages have their heights

    def _earlier_button(self) -> Button:
        return Button(f"{len(self._hidden)} earlier messages · show them", id="earlier", compact=True)

    @on(Button.Pressed, "#earlier")
    async def show_earlier(self) -> None:
        hidden, self._hidden = self._hidden, []
        await self.query_one("#earlier").remove()
        await self.mount_all([self.view_of(m) for m in hidden], before=0)

    def view_of(self, m: history.Message) -> MessageView:
        return MessageView(m.role, m.content, m.status, message_id=m.id, model=m.model, stats=m.stats,
                           draft_spans=m.draft_spans, colour_drafts=self.colour_drafts)

    async def add(self, view: MessageView) -> MessageView:
        view.colour_drafts = self.colour_drafts
        await self.mount(view)
        await self._trim()
        self.anchor()
        return view

    async def _trim(self) -> None:
        """Keep the mounted column short: the oldest views go behind the button (they are stored already)."""
        views = self.messages()
        extra = len(views) - SHOWN_MESSAGES
        if extra <= 0:
            return
        for view in views[:extra]:
            self._hidden.append(view.as_message())
            await view.remove()
        button = self.query("#earlier")
        if button:
            button.first().label = f"{len(self._hidden)} earlier messages · show them"
        else:
            await self.mount(self._earlier_button(), before=0)

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def set_colour_drafts(self, on: bool) -> None:
        self.colour_drafts = on
        for view in self.query(MessageView):
            view.colour_drafts = on

    async def remove_from(self, message_id: int) -> None:
        """Remove a message and all later ones (regenerate, edit and resend)."""
        doomed = [v for v in self.query(MessageView) if v.message_id is not None and v.message_id >= message_id]
        for view in doomed:
            await view.remove()
