"""From what the user asked for to a checked (target, drafter): the one place names, `auto` and defaults meet.

Callers (the CLI commands, the chat UI) pass what the flags and the configuration say, None for "not given".
No target given: the embedded default pair. A drafter not given: the default pair's own drafter for the default
target, `auto` for any other. Every file is checked from its metadata before anything is loaded, so a wrong pair
or a damaged file fails in a fraction of a second with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dspark_chat.engine.errors import ModelLoadError

from . import embedded, library
from .gguf_info import read_info
from .pairing import NGRAM, choose_drafter, require_pair

NO_DRAFTER = ("none", "plain")
AUTO = "auto"


@dataclass(frozen=True)
class Selection:
    target: Path
    drafter: str | None  # a GGUF path, "ngram", or None for plain decoding
    note: str  # one line about how the drafter was chosen ("" when the user named it)


def select_pair(target: str | None, drafter: str | None,
                say: Callable[[str], None] | None = None) -> Selection:
    if target:
        target_path = library.resolve(target, say)
        drafter = drafter or AUTO
    else:
        target_path, default_drafter = embedded.default_pair(say)
        drafter = drafter or default_drafter
    target_info = read_info(target_path)
    if target_info.is_native_drafter:
        raise ModelLoadError(f"{target_path.name} is a native DSpark/DFlash drafter, not a model to chat with: "
                             f"pass it as --drafter")
    spec = drafter.strip()
    if spec.lower() in NO_DRAFTER:
        return Selection(target_path, None, "")
    if spec.lower() == NGRAM:
        return Selection(target_path, NGRAM, "")
    if spec.lower() == AUTO:
        choice = choose_drafter(target_info, library.candidates())
        return Selection(target_path, choice.spec, f"drafter auto: {choice.reason}")
    drafter_path = library.resolve(spec, say)
    require_pair(target_info, read_info(drafter_path))
    return Selection(target_path, str(drafter_path), "")
