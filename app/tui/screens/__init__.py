"""Screens of the chat UI: the chat itself, and the modal ones it opens (chats, settings, models, help)."""
