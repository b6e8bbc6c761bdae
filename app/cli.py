"""`dspark-chat`: the command line. Each command lives in its own module; this one dispatches and turns every
error a user can cause into one line on stderr and a documented exit code (cli_help.EXIT_CODES)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from importlib import import_module

from dspark_chat.engine.errors import DSparkError

from . import cli_help
from .cli_help import EXIT_DISK_FULL, EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE

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

__all__ = ["main", "build_parser", "COMMANDS", "EXIT_DISK_FULL", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _error(f"{message} (see `{self.prog} --help`)", prog=self.prog)
        sys.exit(EXIT_USAGE)


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("dspark-chat")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def version_line() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        llama = dist_version("llama-cpp-python")
    except PackageNotFoundError:
        llama = "missing"
    py = ".".join(map(str, sys.version_info[:3]))
    return f"dspark-chat {version()} (llama-cpp-python {llama}, Python {py})"


def build_parser() -> tuple[argparse.ArgumentParser, set[str], dict[str, str]]:
    """The parser, the commands it knows, and the commands whose module could not load (name -> why)."""
    parser = Parser(prog="dspark-chat", description=cli_help.DESCRIPTION, epilog=cli_help.main_epilog(),
                    formatter_class=cli_help.Formatter)
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("--verbose", action="store_true", default=False,
                        help="show llama.cpp's log and full tracebacks (also after the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    registered: set[str] = set()
    absent: set[str] = set()
    failed: dict[str, str] = {}  # module -> why it could not be imported
    names: set[str] = set()
    broken: dict[str, str] = {}
    for name, module_name in COMMANDS.items():
        if module_name not in registered | absent and module_name not in failed:
            try:
                module = import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    absent.add(module_name)  # a command not built yet
                else:
                    failed[module_name] = _why(exc)
            except Exception as exc:  # llama-cpp-python that cannot load its library, for one
                failed[module_name] = _why(exc)
            else:
                module.register(sub)
                registered.add(module_name)
        if module_name in registered:
            names.add(name)
        elif module_name in failed:
            broken[name] = failed[module_name]
    for name, command in sub.choices.items():
        _polish(name, command)
    return parser, names, broken


def _polish(name: str, command: argparse.ArgumentParser) -> None:
    """What every command shares: the formatter, examples and exit codes, and --verbose after the command."""
    command.formatter_class = cli_help.Formatter
    command.epilog = cli_help.command_epilog(name)
    if "--verbose" not in command._option_string_actions:
        # SUPPRESS: when absent here, the value given before the command (or False) stays
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="show llama.cpp's log and full tracebacks")


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _command_word(argv: list[str]) -> tuple[int, str] | None:
    """Index and text of the first word that is not an option (the command, if any)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return i, arg
    return None


def _with_default_command(argv: list[str], names: set[str], broken: dict[str, str]) -> list[str]:
    """No command given: open the chat (`dspark-chat --target X` means `dspark-chat chat --target X`)."""
    if {"-h", "--help", "--version"} & set(argv):
        if _command_word(argv) is None:
            return argv
    found = _command_word(argv)
    if found and (found[1] in names or found[1] in broken):
        return argv
    if "chat" not in names:
        return argv
    if found:
        i, word = found
        after_option = i > 0 and argv[i - 1].startswith("--") and "=" not in argv[i - 1]
        if not after_option:
            return argv  # an unknown word: argparse says so, with the list of commands
    return ["chat", *argv]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, names, broken = build_parser()
    argv = _with_default_command(argv, names, broken)
    found = _command_word(argv)
    if found and found[1] in broken:
        _error(f"the {found[1]} command cannot start: {broken[found[1]]}; "
               "`dspark-chat doctor` says what is missing")
        return EXIT_ERROR
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    verbose = bool(getattr(args, "verbose", False))
    _route_llama_log(verbose)
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
        return EXIT_ERROR
    except Exception as exc:  # never a traceback for users; --verbose shows it
        if verbose:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return EXIT_INTERNAL


def _route_llama_log(verbose: bool) -> None:
    """llama.cpp's log reaches stderr only with --verbose. A broken llama-cpp-python is `doctor`'s to explain."""
    try:
        from dspark_chat.engine.llama import init_backend
    except Exception:
        return
    init_backend(verbose)


def _error(message: str, prog: str = "dspark-chat") -> None:
    first = next((ln for ln in message.splitlines() if ln.strip()), "") if message else ""
    line = " ".join(first.split()) or "unknown error"
    sys.stderr.write(f"{prog}: error: {line}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
