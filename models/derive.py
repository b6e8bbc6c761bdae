"""Models made on this machine from another model: re-quantizations (an F16 target from a shipped Q4_K_M).

A derived file is written once, atomically (a temporary name, then a rename), and reused; a leftover that does not
parse as a whole GGUF is made again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from dspark_chat.engine.errors import DSparkError, ModelLoadError

from .gguf_info import format_bytes, read_info

# bytes per parameter of the formats we derive, and room for the header and the vocabulary
BYTES_PER_PARAM = {"F32": 4.0, "F16": 2.0, "Q8_0": 1.07, "Q4_K_M": 0.6, "Q2_K": 0.33}
HEADER_SLACK_BYTES = 64 << 20


def is_complete(path: Path) -> bool:
    try:
        read_info(path)
        return True
    except ModelLoadError:
        return False


def derive(src: Path, quant: str, dst: Path, say: Callable[[str], None] | None = None) -> Path:
    """`dst`: `src` re-quantized to `quant`, made now if it is not there yet."""
    say = say or (lambda _m: None)
    if dst.is_file() and is_complete(dst):
        return dst
    from dspark_chat.engine.llama import quantize  # loads llama.cpp: only when there is work to do

    info = read_info(src)
    needed = int(info.n_params * BYTES_PER_PARAM.get(quant, 2.0)) + HEADER_SLACK_BYTES
    dst.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dst.parent).free
    if needed > free:
        raise DSparkError(f"not enough disk space to derive {dst.name}: about {format_bytes(needed)} needed, "
                          f"{format_bytes(free)} free in {dst.parent}")
    say(f"deriving {dst.name} from {src.name} (once; about {format_bytes(needed - HEADER_SLACK_BYTES)})")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        quantize(src, tmp, quant)
        if not is_complete(tmp):
            raise ModelLoadError(f"deriving {dst.name} produced an unreadable file (is the disk full?)")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    say(f"saved {dst}")
    return dst
