"""Downloads from the Hugging Face hub: one GGUF at a time, resumable across runs, verified before use.

huggingface_hub does the talking: it resolves a file (HEAD on /{repo}/resolve/{revision}/{file}, following the
hub's redirects to its CDN), turns the hub's answers into typed errors, and streams the bytes with retries that
resume after a dropped connection. What we add on top:

- a partial file (`FILE.part`, with the version it belongs to in `FILE.part.json`) that survives an interrupted
  run, so the next `pull` continues where the last one stopped (recent huggingface_hub versions start over);
- a free-space check before starting, a size check and, when the hub publishes one, a sha256 check at the end;
- files in our own data folder (`models_dir()/hub/OWNER/REPO/FILE`), where `list` and `rm` can manage them; a
  file already in the Hugging Face cache (from `hf download`) is used in place, never fetched twice;
- one-line errors for every way a download fails, and `HF_HUB_OFFLINE` / `HF_ENDPOINT` read at call time.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

from dspark_chat.engine.errors import DSparkError, ModelLoadError

from . import paths
from .gguf_info import SPLIT_NAME, format_bytes, read_info
from .hub_errors import (
    DiskFullError, DownloadError, DownloadInterrupted, DownloadStopped, interrupted, metadata_failed, not_a_hub,
    transfer_errors, transfer_failed,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
METADATA_TIMEOUT_S = 10.0
PART_SUFFIX = ".part"
HASH_CHUNK_BYTES = 8 << 20
PROGRESS_POLL_S = 0.5
SHA256 = re.compile(r"^[0-9a-f]{64}$")

Say = Callable[[str], None]
OnBytes = Callable[[str, int, int], None]  # file name, bytes done, bytes total


@dataclass(frozen=True)
class Remote:
    """One file in one Hugging Face repository."""

    repo: str
    file: str
    revision: str = "main"

    @property
    def ref(self) -> str:
        return f"{self.repo}/{self.file}"


# -- where things are -----------------------------------------------------------------------------------------

def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at import)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, following the same variables as huggingface_hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def hub_dir() -> Path:
    return paths.models_dir() / "hub"


def local_path(remote: Remote) -> Path:
    """Where `pull` puts a file."""
    return hub_dir().joinpath(*remote.repo.split("/"), *remote.file.split("/"))


def parse_ref(text: str) -> Remote | None:
    """OWNER/REPO/FILE.gguf, hf.co/OWNER/REPO/FILE.gguf or a hub URL (…/resolve/REV/FILE); None otherwise."""
    text = text.strip()
    if "://" in text:
        parsed = urlparse(text)
        parts = [unquote(p) for p in parsed.path.split("/") if p]
        if len(parts) >= 5 and parts[2] in ("resolve", "blob"):
            return Remote(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]), parts[3])
        return None
    for prefix in ("hf.co/", "huggingface.co/"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    parts = [p for p in text.split("/") if p]
    if len(parts) >= 3 and parts[-1].lower().endswith(".gguf") and not text.startswith(("/", ".", "~")):
        return Remote(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]))
    return None


def shards(remote: Remote) -> list[Remote]:
    """Every file of a split model (llama.cpp's NAME-0000k-of-0000N.gguf), or the file itself."""
    m = SPLIT_NAME.search(remote.file)
    if not m:
        return [remote]
    count = int(m.group(2))
    stem = remote.file[: m.start()]
    return [Remote(remote.repo, f"{stem}-{i:05d}-of-{count:05d}.gguf", remote.revision) for i in range(1, count + 1)]


def in_hf_cache(remote: Remote) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return None
    try:
        found = try_to_load_from_cache(remote.repo, remote.file, cache_dir=str(hf_cache_dir()),
                                       revision=remote.revision)
    except (ValueError, OSError):
        return None
    return Path(found) if isinstance(found, str) else None


def _ours(remote: Remote) -> Path | None:
    path = local_path(remote)
    return path if path.is_file() else None


def find_local(remote: Remote) -> Path | None:
    """The complete local copy of a file (every shard present), ours first, then the Hugging Face cache."""
    for locate in (_ours, in_hf_cache):
        found = [locate(r) for r in shards(remote)]
        if all(found):
            return found[0]
    return None


# -- downloading ----------------------------------------------------------------------------------------------

def download(remote: Remote, say: Say | None = None, on_bytes: OnBytes | None = None, bar: bool = True) -> Path:
    """The local path of `remote`, downloading it (every shard of a split model) when it is not here yet.

    `say` gets one-line messages; `on_bytes` gets (file, done, total) twice a second while bytes flow; `bar`
    shows huggingface_hub's own progress bar on a terminal.
    """
    say = say or (lambda _m: None)
    found = find_local(remote)
    if found:
        return found
    if offline():
        raise DownloadError(f"{remote.ref} is not downloaded and HF_HUB_OFFLINE is set: "
                            f"unset it (or go online) to pull it")
    parts = shards(remote)
    for i, part in enumerate(parts, 1):
        if not (local_path(part).is_file() or in_hf_cache(part)):
            if len(parts) > 1:
                say(f"shard {i} of {len(parts)}: {part.file}")
            _download_file(part, say, on_bytes, bar)
    path = local_path(parts[0]) if local_path(parts[0]).is_file() else find_local(remote)
    try:
        read_info(path)  # a hub can serve anything: make sure it is a whole GGUF before calling it done
    except ModelLoadError as exc:
        raise DownloadError(f"downloaded {remote.file} but it is not a usable GGUF: {exc}") from None
    return path


@dataclass
class _FileMeta:
    url: str
    size: int | None
    etag: str | None
    commit: str | None


def _download_file(remote: Remote, say: Say, on_bytes: OnBytes | None, bar: bool) -> Path:
    meta = _metadata(remote)
    dest = local_path(remote)
    part = dest.with_name(dest.name + PART_SUFFIX)
    part_meta = dest.with_name(dest.name + PART_SUFFIX + ".json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _lock(dest):
        done = _resumable_bytes(part, part_meta, meta)
        if meta.size is not None:
            _check_space(dest.parent, meta.size - done, remote.file)
        part_meta.write_text(json.dumps({"etag": meta.etag, "size": meta.size, "commit": meta.commit}))
        if done:
            say(f"resuming {remote.file} at {format_bytes(done)} of {format_bytes(meta.size or 0)}")
        else:
            say(f"downloading {remote.file} ({format_bytes(meta.size) if meta.size else 'size unknown'}) "
                f"from {remote.repo}")
        watcher = _Watcher(part, remote.file, meta.size or 0, on_bytes) if on_bytes else None
        try:
            with part.open("ab") as f:
                _http_get(meta.url, f, done, meta.size, remote.file, bar)
        except KeyboardInterrupt:
            raise DownloadStopped(interrupted(remote.file, _size(part), meta.size, "stopped")) from None
        except transfer_errors() as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise DiskFullError(f"disk full while downloading {remote.file} to {dest.parent}; free some space "
                                    f"and pull again to resume") from None
            raise transfer_failed(exc, remote.repo, remote.file, _size(part), meta.size) from None
        finally:
            if watcher:
                watcher.stop()
        _verify(part, meta, remote, say)
        os.replace(part, dest)
        part_meta.unlink(missing_ok=True)
    say(f"saved {dest}")
    return dest


def _metadata(remote: Remote) -> _FileMeta:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(remote.repo, remote.file, revision=remote.revision, endpoint=endpoint())
    try:
        meta = get_hf_file_metadata(url, timeout=METADATA_TIMEOUT_S, **_endpoint_kwarg(get_hf_file_metadata))
    except transfer_errors() as exc:
        hint = _gguf_hint(remote) if _is_missing_entry(exc) else ""
        raise metadata_failed(exc, _host(), remote.repo, remote.file, remote.revision, hint) from None
    if not meta.etag or not meta.commit_hash:
        raise not_a_hub(_host())
    etag = meta.etag.strip('"').lower()
    return _FileMeta(meta.location or url, meta.size, etag, meta.commit_hash)


def _is_missing_entry(exc: BaseException) -> bool:
    from huggingface_hub.errors import EntryNotFoundError

    return isinstance(exc, EntryNotFoundError)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _endpoint_kwarg(fn) -> dict:
    return {"endpoint": endpoint()} if "endpoint" in inspect.signature(fn).parameters else {}


def _resumable_bytes(part: Path, part_meta: Path, meta: _FileMeta) -> int:
    """How much of a partial file from an earlier run can be kept: all of it if it is the same file version."""
    if not part.exists():
        return 0
    try:
        saved = json.loads(part_meta.read_text())
    except (OSError, ValueError):
        saved = {}
    size = part.stat().st_size
    if saved.get("etag") == meta.etag and saved.get("size") == meta.size and (meta.size is None or size <= meta.size):
        return size
    part.unlink()  # another version of the file (or unknown): start over
    return 0


def _check_space(folder: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DiskFullError(f"not enough disk space for {name}: {format_bytes(needed)} needed, "
                            f"{format_bytes(free)} free in {folder}")


def _http_get(url: str, f, done: int, size: int | None, name: str, bar: bool) -> None:
    from huggingface_hub import file_download
    from huggingface_hub.utils import build_hf_headers

    kwargs = {"resume_size": done, "headers": build_hf_headers(), "expected_size": size,
              "displayed_filename": name}
    if not bar:
        if "tqdm_class" in inspect.signature(file_download.http_get).parameters:
            kwargs["tqdm_class"] = _SilentBar
    file_download.http_get(url, f, **kwargs)


class _SilentBar:
    """A tqdm stand-in that shows nothing (the TUI and scripts draw their own progress)."""

    def __init__(self, *args, **kwargs):
        self.n = kwargs.get("initial", 0)

    def update(self, n=1):
        self.n += n

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Watcher:
    """Reports the partial file's growth from a thread: works whatever progress API the hub library has."""

    def __init__(self, part: Path, name: str, total: int, on_bytes: OnBytes):
        self._stop = threading.Event()
        self._args = (part, name, total, on_bytes)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        part, name, total, on_bytes = self._args
        while not self._stop.wait(PROGRESS_POLL_S):
            try:
                on_bytes(name, part.stat().st_size, total)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        part, name, total, on_bytes = self._args
        try:
            on_bytes(name, part.stat().st_size, total)
        except OSError:
            pass


def _verify(part: Path, meta: _FileMeta, remote: Remote, say: Say) -> None:
    size = part.stat().st_size
    if meta.size is not None and size != meta.size:
        raise DownloadInterrupted(interrupted(remote.file, size, meta.size, "the transfer ended early"))
    if meta.etag and SHA256.match(meta.etag):  # large (LFS) files: the hub's etag is the content's sha256
        say(f"checking the sha256 of {remote.file}")
        digest = hashlib.sha256()
        with part.open("rb") as f:
            while chunk := f.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        if digest.hexdigest() != meta.etag:
            part.unlink()
            part.with_name(part.name + ".json").unlink(missing_ok=True)
            raise DownloadError(f"{remote.file} arrived damaged (sha256 mismatch); the copy was removed, pull again")


def _gguf_hint(remote: Remote) -> str:
    try:
        files = repo_gguf_files(remote.repo, remote.revision)
    except DSparkError:
        return ""
    if not files:
        return " (it has no .gguf files)"
    shown = ", ".join(files[:6]) + (", …" if len(files) > 6 else "")
    return f" (its GGUF files: {shown})"


def repo_gguf_files(repo: str, revision: str = "main") -> list[str]:
    """The .gguf files of a repository (GET /api/models/{repo}/tree/{revision}?recursive=true)."""
    if offline():
        raise DownloadError(f"cannot list {repo}: HF_HUB_OFFLINE is set")
    from huggingface_hub import HfApi

    try:
        names = HfApi(endpoint=endpoint()).list_repo_files(repo, revision=revision)
    except transfer_errors() as exc:
        raise metadata_failed(exc, _host(), repo, "", revision) from None
    return sorted(n for n in names if n.lower().endswith(".gguf") and "mmproj" not in n.lower())


def pick_gguf(repo: str, files: list[str], prefer: tuple[str, ...] = ("Q4_K_M", "Q4_K_S", "Q8_0")) -> str:
    """The file `pull OWNER/REPO` fetches: the first shard of the preferred quantization present."""
    firsts = [f for f in files if not SPLIT_NAME.search(f) or SPLIT_NAME.search(f).group(1) == "00001"]
    for quant in prefer:
        hits = [f for f in firsts if quant.lower() in f.lower()]
        if len(hits) == 1:
            return hits[0]
    if len(firsts) == 1:
        return firsts[0]
    if not firsts:
        raise DownloadError(f"{repo} has no .gguf files")
    shown = ", ".join(firsts[:8]) + (", …" if len(firsts) > 8 else "")
    raise DownloadError(f"{repo} has several GGUF files; name one: {shown}")


def _host() -> str:
    return urlparse(endpoint()).netloc or endpoint()


class _lock:
    """Keeps two pulls of one file from appending to the same partial file."""

    def __init__(self, dest: Path):
        # lock files live apart, out of the way of `list` and `rm`
        self.path = hub_dir() / ".locks" / dest.relative_to(hub_dir()).with_name(dest.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._inner = None

    def __enter__(self):
        try:
            from huggingface_hub.utils import WeakFileLock

            self._inner = WeakFileLock(str(self.path))
            self._inner.__enter__()
        except ImportError:  # pragma: no cover
            self._inner = None
        return self

    def __exit__(self, *exc):
        if self._inner is not None:
            self._inner.__exit__(*exc)
        return False  # the lock file stays: removing it while another pull waits on it would break the lock


def partials() -> list[Path]:
    """Unfinished downloads (for `list` and `rm`)."""
    root = hub_dir()
    return sorted(root.rglob(f"*.gguf{PART_SUFFIX}")) if root.exists() else []
