"""The Textual chat UI: an App, its screens and widgets. Run it through `dspark-chat` (app/cmd_chat.py)."""
