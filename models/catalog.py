"""The curated catalog (catalog.toml, shipped with the package): names users can type, and where each file lives."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from dspark_chat.engine.errors import DSparkError

from .toml import tomllib

ROLES = ("target", "drafter", "native")


@dataclass(frozen=True)
class Entry:
    name: str
    repo: str
    file: str
    quant: str
    params: str
    size_gb: float
    role: str
    family: str = ""
    chat: bool = False
    drafters: tuple[str, ...] = ()
    target: str | None = None  # native drafters: the model they were trained for (`for` in the file)
    note: str = ""
    revision: str = "main"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.repo}/{self.file}"


def _entry(name: str, raw: dict) -> Entry:
    known = {"repo", "file", "quant", "params", "size_gb", "role", "family", "chat", "drafters", "for", "note",
             "revision"}
    missing = [k for k in ("repo", "file", "quant", "role") if k not in raw]
    if missing or raw.get("role") not in ROLES:
        raise DSparkError(f"catalog entry {name!r} is malformed (missing {', '.join(missing) or 'a valid role'})")
    return Entry(
        name=name, repo=raw["repo"], file=raw["file"], quant=raw["quant"], params=str(raw.get("params", "")),
        size_gb=float(raw.get("size_gb", 0.0)), role=raw["role"], family=raw.get("family", ""),
        chat=bool(raw.get("chat", False)), drafters=tuple(raw.get("drafters", ())), target=raw.get("for"),
        note=raw.get("note", ""), revision=raw.get("revision", "main"),
        extra={k: v for k, v in raw.items() if k not in known},
    )


@lru_cache(maxsize=1)
def entries() -> dict[str, Entry]:
    """Every catalog entry by name, in file order."""
    text = resources.files("dspark_chat.models").joinpath("catalog.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text).get("models", {})
    return {name.lower(): _entry(name.lower(), spec) for name, spec in raw.items()}


def find(name: str) -> Entry | None:
    return entries().get(name.strip().lower())


def by_ref(repo: str, file: str) -> Entry | None:
    """The catalog entry for a repository file, if it is one."""
    for e in entries().values():
        if e.repo.lower() == repo.lower() and e.file == file:
            return e
    return None


def suggest(name: str) -> str:
    """' (did you mean X?)' for a mistyped name, or ''."""
    close = difflib.get_close_matches(name.strip().lower(), list(entries()), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def get(name: str) -> Entry:
    entry = find(name)
    if entry is None:
        raise DSparkError(f"no model named {name!r} in the catalog{suggest(name)}; "
                          f"`dspark-chat list --all` shows every name")
    return entry
