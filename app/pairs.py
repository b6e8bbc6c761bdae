"""Which models a command runs: flags first, then the configuration, then the embedded default pair."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.pair import Pair
from dspark_chat.models import paths

from .options import pair_options


def resolve_models(args: argparse.Namespace, config: dict | None = None) -> tuple[str, str | None]:
    """(target path, drafter spec) for this command."""
    target = getattr(args, "target", None) or (config or {}).get("target")
    drafter = getattr(args, "drafter", None) or (config or {}).get("drafter")
    if not target:
        raise DSparkError("no target model: pass --target PATH")
    return str(target), drafter


def stderr_progress(quiet: bool = False) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            sys.stderr.write(f"dspark-chat: {message}\n")
            sys.stderr.flush()

    return say


def open_pair(args: argparse.Namespace, config: dict | None = None, progress: Callable[[str], None] | None = None) -> Pair:
    target, drafter = resolve_models(args, config)
    return Pair(target, drafter, pair_options(args, config, cache_dir=paths.cache_dir()), progress=progress)
