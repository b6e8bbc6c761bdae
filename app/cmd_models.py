"""`dspark-chat pull | list | rm`: get models from the Hugging Face hub, see what is here, delete what is not needed.

Paths go to stdout (one a line) and messages to stderr, so scripts can use `$(dspark-chat pull qwen3-8b)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from dspark_chat.engine.errors import DSparkError
from dspark_chat.models import catalog, embedded, hub, library, pairing
from dspark_chat.models.gguf_info import GGUFInfo, format_bytes, read_info

PROGRESS_STEP_PERCENT = 10  # without a terminal, one progress line per this many percent
PROGRESS_EVERY_S = 30.0  # ... or at least this often on a slow link


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pull", help="download a model (and its drafter) from the Hugging Face hub",
                       description="Download a model from the Hugging Face hub into dspark-chat's data folder. "
                                   "An interrupted download resumes when the command runs again; with "
                                   "HF_HUB_OFFLINE set nothing is fetched. Prints the local path.")
    p.add_argument("name", metavar="NAME|OWNER/REPO[/FILE.gguf]",
                   help="a catalog name (`dspark-chat list --all`), a repository file, or a repository "
                        "(its Q4_K_M GGUF is picked)")
    p.add_argument("--no-drafter", action="store_true", help="only the model, not the drafter the catalog pairs "
                                                              "with it")
    p.set_defaults(run=run_pull)

    p = sub.add_parser("list", help="models on this machine, with their compatible drafters",
                       description="Models on this machine: embedded (shipped with the package), derived (made "
                                   "here from another), downloaded (by pull, or in the Hugging Face cache) and local "
                                   "(other .gguf files in the models folder), each with the drafters that fit it.")
    p.add_argument("--json", action="store_true", help="print a JSON array: name, path, size, arch, quant, source, "
                                                       "drafters, ...")
    p.add_argument("--all", action="store_true", help="also list the catalog models not downloaded yet")
    p.set_defaults(run=run_list)

    p = sub.add_parser("rm", help="delete a downloaded or derived model",
                       description="Delete a downloaded, derived or local model (every shard, and unfinished "
                                   "downloads of it). Embedded models and the Hugging Face cache are left alone.")
    p.add_argument("name", metavar="NAME|PATH", help="a name from `dspark-chat list`, or a path")
    p.set_defaults(run=run_rm)


# -- pull -----------------------------------------------------------------------------------------------------

def say(message: str) -> None:
    sys.stderr.write(f"dspark-chat: {message}\n")
    sys.stderr.flush()


class LineProgress:
    """Progress as plain lines for logs and pipes (a terminal gets huggingface_hub's bar instead)."""

    def __init__(self):
        self._last: dict[str, tuple[int, float]] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if total <= 0:
            return
        percent = min(100, done * 100 // total)
        step = percent - percent % PROGRESS_STEP_PERCENT
        last_step, last_time = self._last.get(name, (-1, 0.0))
        now = time.monotonic()
        if step > last_step or (percent < 100 and now - last_time > PROGRESS_EVERY_S):
            self._last[name] = (max(step, last_step), now)
            say(f"{name}: {percent}% ({format_bytes(done)} of {format_bytes(total)})")


def _fetch(remote: hub.Remote) -> str:
    tty = sys.stderr.isatty()
    path = hub.download(remote, say=say, on_bytes=None if tty else LineProgress(), bar=tty)
    return str(path)


def _remote_for(name: str) -> tuple[hub.Remote, catalog.Entry | None]:
    entry = catalog.find(name)
    if entry:
        return hub.Remote(entry.repo, entry.file, entry.revision), entry
    remote = hub.parse_ref(name)
    if remote:
        return remote, catalog.by_ref(remote.repo, remote.file)
    parts = [p for p in name.strip().split("/") if p]
    if len(parts) == 2 and not name.lower().endswith(".gguf"):
        files = hub.repo_gguf_files(name.strip())
        remote = hub.Remote(name.strip(), hub.pick_gguf(name.strip(), files))
        return remote, catalog.by_ref(remote.repo, remote.file)
    raise DSparkError(f"no model named {name!r} in the catalog{catalog.suggest(name)}; pass a catalog name "
                      f"(`dspark-chat list --all`), OWNER/REPO/FILE.gguf or OWNER/REPO")


def run_pull(args: argparse.Namespace) -> int:
    builtin = embedded.find(args.name)
    if builtin:
        # built-in models need no download; a derived one is made now so the first chat starts at once
        print(builtin.materialize(say))
        return 0
    remote, entry = _remote_for(args.name)
    target_path = _fetch(remote)
    print(target_path)
    if args.no_drafter or not entry or not entry.drafters:
        return 0
    drafter = catalog.get(entry.drafters[0])
    try:
        drafter_path = _fetch(hub.Remote(drafter.repo, drafter.file, drafter.revision))
    except DSparkError as exc:
        # the model itself is here and usable (n-gram drafting needs nothing): say so, do not fail the pull
        say(f"warning: could not get the drafter {drafter.name}: {exc}")
        return 0
    print(drafter_path)
    verdict = pairing.check_pair(read_info(target_path), read_info(drafter_path))
    say(f"drafter {drafter.name} fits {entry.name}" if verdict else f"warning: {verdict.reason}")
    return 0


# -- list -----------------------------------------------------------------------------------------------------

def _rows(include_catalog: bool) -> list[dict]:
    models = library.local_models()
    infos = {id(m): m.info() for m in models}
    present = [(m, infos[id(m)]) for m in models if infos[id(m)] is not None]
    name_of = {info.path: m.name for m, info in present}
    rows = []
    for m in models:
        info = infos[id(m)]
        rows.append(_row(m, info, _drafters(m, info, present, name_of)))
    if include_catalog:
        rows += [_row(m, None, [*m.entry.drafters, pairing.NGRAM]) for m in library.catalog_models()]
    return rows


def _drafters(model: library.LocalModel, info: GGUFInfo | None, present, name_of) -> list[str]:
    if info is not None:
        names = [name_of[o.path] for o in pairing.compatible(info, [i for _, i in present])]
    elif model.builtin:
        names = list(model.builtin.drafters)  # not made yet: the pairing it is made for
    else:
        names = []
    return names + [pairing.NGRAM]


def _row(m: library.LocalModel, info: GGUFInfo | None, drafters: list[str]) -> dict:
    e, b = m.entry, m.builtin
    size = info.file_size if info else (b.size if b else int((e.size_gb if e else 0) * 1e9))
    return {
        "name": m.name,
        "path": str(m.path) if m.path and m.present else None,
        "size": size,
        "arch": info.arch if info else (b.arch if b else None),
        "quant": info.quant if info else (b.quant if b else e.quant if e else None),
        "params": info.n_params if info else None,
        "source": m.source,
        "present": m.present,
        "chat": info.has_chat_template if info else (b.chat if b else bool(e and e.chat)),
        "role": e.role if e else ("native" if info and info.is_native_drafter else None),
        "drafters": drafters,
        "unreadable": bool(m.present and info is None),
        "note": (b.description if b else e.note if e else ""),
    }


def run_list(args: argparse.Namespace) -> int:
    rows = _rows(args.all)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'NAME':<26} {'SOURCE':<10} {'SIZE':>8} {'ARCH':<8} {'QUANT':<8} DRAFTERS")
    for r in rows:
        state = "" if r["present"] else ("  (made on first use)" if r["source"] in ("embedded", "derived")
                                         else "  (pull to download)")
        if r["unreadable"]:
            state = "  (unreadable: damaged or unfinished)"
        print(f"{r['name']:<26} {r['source']:<10} {format_bytes(r['size']):>8} {r['arch'] or '-':<8} "
              f"{r['quant'] or '-':<8} {', '.join(r['drafters']) or '-'}{state}")
    for part in hub.partials():
        say(f"unfinished download: {part} (pull again to resume, or rm it)")
    return 0


# -- rm -------------------------------------------------------------------------------------------------------

def run_rm(args: argparse.Namespace) -> int:
    removed = library.remove(args.name)
    for path, _size in removed:
        print(f"removed {path}")
    say(f"freed {format_bytes(sum(size for _, size in removed))}")
    return 0
