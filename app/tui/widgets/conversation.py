"""The scrolling column of messages; it stays pinned to the newest text while an answer streams."""

from __future__ import annotations

from textual.containers import VerticalScroll

from ... import history
from .message import MessageView


class ConversationView(VerticalScroll):
    colour_drafts = False

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, messages: list[history.Message]) -> None:
        """Replace what is shown with a stored conversation."""
        await self.remove_children()
        views = [self.view_of(m) for m in messages if m.role != "system"]
        if views:
            await self.mount_all(views)
        self.scroll_end(animate=False)
        self.anchor()

    def view_of(self, m: history.Message) -> MessageView:
        return MessageView(m.role, m.content, m.status, message_id=m.id, model=m.model, stats=m.stats,
                           draft_spans=m.draft_spans, colour_drafts=self.colour_drafts)

    async def add(self, view: MessageView) -> MessageView:
        view.colour_drafts = self.colour_drafts
        await self.mount(view)
        self.anchor()
        return view

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
