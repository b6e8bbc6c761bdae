"""The first check of a model path, before any reader or llama.cpp touches it: one line for the common mistakes
(a typo, a folder, an unreadable or empty file, something that is not GGUF). Pure Python, no native library."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelLoadError

GGUF_MAGIC = b"GGUF"


def check_gguf_file(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelLoadError(f"expected a .gguf file, got a directory: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        what = "an empty file" if not magic else "not a GGUF file (bad magic)"
        raise ModelLoadError(f"{path} is {what}")
