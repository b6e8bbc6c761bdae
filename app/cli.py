"""`dspark-chat`: the command line. Each command lives in its own module; this one dispatches and turns every
error a user can cause into one line on stderr and a documented exit code."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from importlib import import_module

from dspark_chat.engine.errors import DSparkError

# command name -> module (each has register(subparsers) and run(args) -> int)
COMMANDS = {
    "chat": "dspark_chat.app.cmd_chat",
    "ask": "dspark_chat.app.cmd_ask",
    "bench": "dspark_chat.app.cmd_bench",
    "pull": "dspark_chat.app.cmd_models",
    "list": "dspark_chat.app.cmd_models",
    "rm": "dspark_chat.app.cmd_models",
    "doctor": "dspark_chat.app.cmd_doctor",
}

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
EXIT_DISK_FULL = 7


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("dspark-chat")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    parser = argparse.ArgumentParser(
        prog="dspark-chat",
        description="Offline terminal chat with lossless DSpark speculative decoding. "
        "With no command, opens the chat on the configured (or embedded) models.",
    )
    parser.add_argument("--version", action="version", version=f"dspark-chat {version()}")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's log and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    registered: set[str] = set()
    names: set[str] = set()
    for name, module_name in COMMANDS.items():
        if module_name not in registered:
            try:
                module = import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    continue  # a command not built yet
                raise
            module.register(sub)
            registered.add(module_name)
        names.add(name)
    return parser, names


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, names = build_parser()
    if "chat" in names and not any(a in names for a in argv) and not {"-h", "--help", "--version"} & set(argv):
        top = [a for a in argv if a == "--verbose"]  # top-level flags stay before the command
        argv = [*top, "chat", *(a for a in argv if a != "--verbose")]  # no command: open the chat
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    verbose = bool(getattr(args, "verbose", False))
    from dspark_chat.engine.llama import init_backend

    init_backend(verbose)
    try:
        return int(args.run(args) or 0)
    except DSparkError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`| head`): not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            _error(f"disk full while writing {exc.filename or 'a file'}; free some space and try again")
            return EXIT_DISK_FULL
        if verbose:
            raise
        _error(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
        return 1
    except Exception as exc:  # never a traceback for users; --verbose shows it
        if verbose:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return EXIT_INTERNAL


def _error(message: str) -> None:
    sys.stderr.write(f"dspark-chat: error: {message.splitlines()[0] if message else 'unknown error'}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
