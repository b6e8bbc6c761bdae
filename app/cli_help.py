"""The words of `dspark-chat --help`: exit codes, examples per command, and a formatter that keeps them as written.

Kept apart from the dispatch in cli.py so the help reads as one text, and docs/cli.md can be checked against it.
"""

from __future__ import annotations

import argparse
import shutil

from dspark_chat.engine.errors import ContextOverflowError, DecodeError, IncompatibleDrafterError, ModelLoadError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DISK_FULL = 7
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h: a bug of ours
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C

EXIT_CODES: list[tuple[int, str]] = [
    (EXIT_OK, "success"),
    (EXIT_ERROR, "error; the one-line message says what (no prompt, drafter missing, download failed, ...)"),
    (EXIT_USAGE, "usage: unknown command, unknown flag, or a value out of range"),
    (ModelLoadError.exit_code, "model load: file missing, unreadable, truncated, corrupt or unsupported"),
    (IncompatibleDrafterError.exit_code, "incompatible drafter: its vocabulary or features do not fit the target"),
    (ContextOverflowError.exit_code, "context overflow: the conversation does not fit --ctx-size"),
    (DecodeError.exit_code, "decode: llama.cpp refused to evaluate a batch (out of memory?)"),
    (EXIT_DISK_FULL, "disk full while writing a model, a cache or the history"),
    (EXIT_INTERNAL, "internal error: a bug; rerun with --verbose and report the traceback"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl+C)"),
]

ENVIRONMENT = [
    ("DSPARK_CHAT_HOME", "keep config, data and caches under this folder instead of the platform's places"),
    ("NO_COLOR", "no colour in any output (https://no-color.org)"),
    ("HF_HUB_OFFLINE=1", "never touch the network; only local and already downloaded models"),
    ("HF_ENDPOINT", "another Hugging Face hub (a mirror) for pull"),
]

DESCRIPTION = """\
Offline terminal chat with lossless DSpark speculative decoding on llama.cpp.

A small drafter proposes tokens, a calibrated confidence and a scheduler fed with costs
measured on this machine decide how many to check, and the target model verifies them in
one pass: the same answer as the target alone, sooner. With no command, dspark-chat
opens the chat on the configured models (or the embedded default, no network needed)."""

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("dspark-chat", "chat with the default models"),
        ('dspark-chat ask "Why is the sky blue?"', "one answer on stdout"),
        ("dspark-chat doctor", "what this machine and this install can do"),
    ],
    "chat": [
        ("dspark-chat", "the same as `dspark-chat chat`: the most recent chat"),
        ("dspark-chat chat --new --system 'Answer briefly.'", "a new chat with a system prompt"),
        ("dspark-chat chat --target qwen3-8b --drafter auto --n-gpu-layers -1", "a pulled model, all on the GPU"),
    ],
    "ask": [
        ('dspark-chat ask "Write a haiku about rain"', "answer with the default models"),
        ("git diff | dspark-chat ask --system 'Review this patch'", "the prompt from stdin"),
        ('dspark-chat ask --raw "def fib(n):" --target gemma3-270m-f16 --drafter gemma3-270m --temperature 0',
         "plain completion, greedy"),
        ('dspark-chat ask "hello" --json --max-tokens 32', "one JSON object: text, tokens, stats"),
    ],
    "bench": [
        ("dspark-chat bench --target gemma3-270m-f16 --drafter gemma3-270m --prompts benchmarks/prompts-raw.jsonl",
         "model drafter against plain decoding"),
        ("dspark-chat bench --target smollm2-135m --drafter ngram --prompts benchmarks/prompts-chat.jsonl --json",
         "n-gram drafter, machine-readable"),
    ],
    "pull": [
        ("dspark-chat pull qwen3-8b", "a catalog model and the drafter it pairs with"),
        ("dspark-chat pull bartowski/Qwen_Qwen3-8B-GGUF", "a repository: its Q4_K_M file"),
        ("dspark-chat pull OWNER/REPO/FILE.gguf", "one file"),
    ],
    "list": [
        ("dspark-chat list", "models here, with the drafters that fit each"),
        ("dspark-chat list --all --json", "plus the catalog, for scripts"),
    ],
    "rm": [
        ("dspark-chat rm qwen3-0.6b", "delete a downloaded or derived model"),
    ],
    "doctor": [
        ("dspark-chat doctor", "a readable report with what to do about each problem"),
        ("dspark-chat doctor --json", "the same as one JSON object"),
        ("dspark-chat doctor --expect-backend CUDA", "exit 1 unless this build offloads to CUDA"),
    ],
}


def _table(rows: list[tuple[str, str]], indent: int = 2, gap: int = 2, width: int | None = None) -> str:
    left = max(len(a) for a, _ in rows)
    lines = []
    for a, b in rows:
        if width and indent + left + gap + len(b) > width or len(a) > 48:
            lines.append(f"{' ' * indent}{a}\n{' ' * (indent + 4)}{b}")
        else:
            lines.append(f"{' ' * indent}{a:<{left}}{' ' * gap}{b}")
    return "\n".join(lines)


def examples(command: str) -> str:
    """Each example with its purpose as an aligned shell comment (copy-pasteable), or on its own line if long."""
    rows = EXAMPLES.get(command)
    if not rows:
        return ""
    width = help_width()
    short = [cmd for cmd, why in rows if 2 + len(cmd) + 4 + len(why) <= width]
    column = max((len(c) for c in short), default=0)
    lines = []
    for cmd, why in rows:
        if cmd in short and 2 + column + 4 + len(why) <= width:
            lines.append(f"  {cmd:<{column}}  # {why}")
        else:
            lines.append(f"  # {why}\n  {cmd}")
    return "examples:\n" + "\n".join(lines)


def main_epilog() -> str:
    codes = _table([(str(code), meaning) for code, meaning in EXIT_CODES])
    env = _table(ENVIRONMENT)
    return (f"{examples('')}\n\nexit codes:\n{codes}\n\nenvironment:\n{env}\n\n"
            "`dspark-chat COMMAND --help` shows each command's options and examples.")


def command_epilog(command: str) -> str:
    parts = [examples(command)] if command in EXAMPLES else []
    parts.append("Exit codes: 0 ok, 1 error, 2 usage, 3 model load, 4 incompatible drafter, 5 context overflow,\n"
                 "6 decode, 7 disk full, 70 internal, 130 interrupted (`dspark-chat --help` explains them).")
    return "\n\n".join(parts)


def help_width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 100))


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's layout, but descriptions and epilogs keep their line breaks and options line up further right."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=34, width=help_width())

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if isinstance(action, argparse._SubParsersAction):
            text = text.split("\n", 1)[1]  # drop the lone "COMMAND" line above the list of commands
        return text
