"""Shared by the llama.cpp source patches (patch_llama.py, patch_markov_head.py): exact, idempotent text edits of
one file of an unpacked llama-cpp-python sdist, and the one-line command-line contract both scripts keep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence


def apply(sdist: Path, target: Path, mark: str, edits: Sequence[tuple[str, str]], what: str) -> str:
    """'patched' or 'already patched'; ValueError when the file is not the one the edits were written for (each
    original text must occur exactly once)."""
    path = Path(sdist) / target
    if not path.is_file():
        raise ValueError(f"{path} not found: not a llama-cpp-python sdist")
    text = path.read_text(encoding="utf-8")
    if mark in text:
        return "already patched"
    if any(text.count(original) != 1 for original, _ in edits):
        raise ValueError(f"{target} changed upstream: the {what} patch does not apply (build unpatched)")
    for original, patched in edits:
        text = text.replace(original, patched)
    path.write_text(text, encoding="utf-8")
    return "patched"


def cli(argv: list[str] | None, name: str, target: Path, patch: Callable[[Path], str]) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python packaging/{name}.py SDIST_DIR", file=sys.stderr)
        return 2
    try:
        print(f"{target}: {patch(Path(argv[0]))}")
    except (ValueError, OSError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    return 0
