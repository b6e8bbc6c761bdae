"""Which models a command runs: flags first, then the configuration, then the embedded default pair."""

from __future__ import annotations

import argparse
from typing import Callable

from dspark_chat.engine.pair import Pair
from dspark_chat.models import paths
from dspark_chat.models.selection import select_pair

from .options import pair_options
from .progress import Progress


def resolve_models(args: argparse.Namespace, config: dict | None = None,
                   progress: Callable[[str], None] | None = None) -> tuple[str, str | None]:
    """(target path, drafter spec) for this command: flags, then the configuration, then the embedded default.

    Names and paths both work; `--drafter auto` picks the best compatible local drafter. The pair is checked
    from metadata before anything loads (one-line errors for missing, damaged or mismatched files).
    """
    target = getattr(args, "target", None) or (config or {}).get("target")
    drafter = getattr(args, "drafter", None) or (config or {}).get("drafter")
    chosen = select_pair(target, drafter, progress)
    if chosen.note and progress:
        progress(chosen.note)
    return str(chosen.target), chosen.drafter


def stderr_progress(quiet: bool = False) -> Progress:
    """Loading messages on stderr: live lines on a terminal, plain lines in logs, nothing when quiet."""
    return Progress(quiet=quiet)


def open_pair(args: argparse.Namespace, config: dict | None = None, progress: Callable[[str], None] | None = None) -> Pair:
    target, drafter = resolve_models(args, config, progress)
    try:
        return Pair(target, drafter, pair_options(args, config, cache_dir=paths.cache_dir()), progress=progress)
    finally:
        if isinstance(progress, Progress):
            progress.close()  # the live lines end before the answer is written
