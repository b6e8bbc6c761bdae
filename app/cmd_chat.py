"""`dspark-chat chat` (also `dspark-chat` with no command): the terminal chat UI.

Models come from the flags, then the configuration, then the embedded default (app/pairs.py). The conversation
store is opened here, before the UI starts, so a store that cannot be used stops the program with one line.
"""

from __future__ import annotations

import argparse

from dspark_chat.engine.errors import DSparkError
from dspark_chat.models.config import load_config

from .chat_settings import ChatSettings, ModelSpec
from .options import add_model_options, add_sampling_options
from .pairs import resolve_models

DESCRIPTION = ("Open the terminal chat (also what `dspark-chat` with no command does). Models come from the flags, "
               "then the configuration file, then the embedded default. Chats are kept in the data folder "
               "(DSPARK_CHAT_HOME moves it); the most recent one opens unless --new or --conversation says otherwise.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="open the chat (the default command)", description=DESCRIPTION)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--new", action="store_true", help="start with a new chat (default: the most recent one)")
    which.add_argument("--conversation", type=int, metavar="ID", help="open the chat with this id")
    p.add_argument("--system", metavar="TEXT", help="system prompt of new chats")
    p.add_argument("--theme", metavar="NAME", help="a Textual theme, e.g. textual-light, nord, gruvbox")
    p.add_argument("--db", metavar="PATH", help="conversation file (default: history.sqlite3 in the data dir)")
    add_model_options(p)
    add_sampling_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import history
    from .tui.app import LATEST, NEW, ChatApp, Launch

    config = load_config().as_options()
    target, drafter = resolve_models(args, config)
    spec = ModelSpec.from_args(target, drafter, args, config)
    settings = ChatSettings.from_args(args, config)
    with history.HistoryStore(args.db) as store:
        if args.conversation is not None:
            store.get(args.conversation)  # an unknown id is a one-line error, before the screen opens
        which = NEW if args.new else args.conversation if args.conversation is not None else LATEST
        theme = args.theme or config.get("theme")
        app = ChatApp(store, Launch(spec, settings, which, theme))
        app.run()
        if app.return_code not in (None, 0):
            raise DSparkError("the chat UI stopped with an error")
    return 0
