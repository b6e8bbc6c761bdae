"""What the chat UI costs the decoder: tokens/s of the engine alone against the same answers inside the app.

Two measurements, each interleaved (engine, app, engine, app, ...) so a machine that gets busier or quieter during
the run moves both sides alike:

- in-process: the engine consuming `stream_reply` with no UI, then the Textual app (App.run_test, headless: layout
  and compositing run, only the terminal writes are skipped) answering the same prompt, in one process;
- terminal (--terminal): `dspark-chat ask --json` against the real app in a tmux terminal (tmux must be installed).

Both sides report the engine's own decode tokens/s (GenerationStats.tokens_per_s; the app's come from the answers
it stored). Usage:

    python benchmarks/ui_overhead.py --target MODEL.gguf [--drafter ngram] [--threads N] [--reps 5] [--terminal]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dspark_chat.app.chat_settings import ChatSettings, ModelSpec
from dspark_chat.app.history import HistoryStore
from dspark_chat.app.tui.app import NEW, ChatApp, Launch
from dspark_chat.engine.chat import stream_reply
from dspark_chat.engine.events import Done
from dspark_chat.engine.pair import Pair
from dspark_chat.models import paths

PROMPT = ("Write a Python function that checks whether a number is prime, explain how it works, "
          "and show three examples of calling it.")
ANSWER_TIMEOUT_S = 600


def engine_once(pair: Pair, settings: ChatSettings) -> tuple[float, int]:
    done = None
    for event in stream_reply(pair.session(), [{"role": "user", "content": PROMPT}], settings.generate_params(),
                              threading.Event()):
        if isinstance(event, Done):
            done = event
    return done.stats.tokens_per_s, done.stats.tokens


async def app_once(pilot, app: ChatApp) -> tuple[float, int]:
    await pilot.press("ctrl+n")
    await asyncio.sleep(0.05)
    app.chat.prompt.text = PROMPT
    await pilot.press("enter")
    t0 = time.monotonic()
    while True:  # until the answer of this chat is stored as done
        await asyncio.sleep(0.02)
        if app.chat.conversation_id is not None and not app.chat.generating:
            last = app.store.get(app.chat.conversation_id).messages[-1]
            if last.role == "assistant" and last.status == "done":
                return last.stats["tokens_per_s"], last.stats["tokens"]
        if time.monotonic() - t0 > ANSWER_TIMEOUT_S:
            raise SystemExit("the app did not finish its answer")


async def in_process(spec: ModelSpec, settings: ChatSettings, reps: int, db: Path) -> dict:
    pair = Pair(spec.target, spec.drafter, spec.pair_options(paths.cache_dir()))
    engine_once(pair, settings)  # warm-up (first decodes allocate)
    app = ChatApp(HistoryStore(db), Launch(spec, settings, NEW))
    engine, ui = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.model_state != "ready":
            await asyncio.sleep(0.05)
            if app.model_state == "failed":
                raise SystemExit("the app could not load the model")
        await app_once(pilot, app)  # warm-up
        for _ in range(reps):
            engine.append(engine_once(pair, settings))
            ui.append(await app_once(pilot, app))
    pair.close()
    return {"engine": engine, "app": ui}


def terminal(spec: ModelSpec, settings: ChatSettings, reps: int, db: Path) -> dict:
    if shutil.which("tmux") is None:
        raise SystemExit("--terminal needs tmux")
    base = [sys.executable, "-m", "dspark_chat.app.cli"]
    model = ["--target", spec.target, "--drafter", spec.drafter or "none", "--ctx-size", str(spec.ctx_size),
             "--temperature", str(settings.temperature), "--max-tokens", str(settings.max_tokens)]
    if spec.threads:
        model += ["--threads", str(spec.threads)]
    sock = str(db.with_suffix(".sock"))

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-S", sock, *args], check=True, capture_output=True, text=True).stdout

    chat = " ".join(f"'{a}'" for a in [*base, "chat", "--new", "--db", str(db), *model])
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", "120", "-y", "40", f"TERM=xterm-256color {chat}")
    engine, ui = [], []
    try:
        t0 = time.monotonic()
        while "ready" not in tmux("capture-pane", "-p", "-t", "ui"):
            time.sleep(0.2)
            if time.monotonic() - t0 > ANSWER_TIMEOUT_S:
                raise SystemExit("the app in tmux did not get ready")
        for i in range(reps + 1):  # the first round warms both up
            out = subprocess.run([*base, "ask", PROMPT, "--json", *model], check=True, capture_output=True,
                                 text=True).stdout
            stats = json.loads(out)["stats"]
            if i:
                engine.append((stats["tokens_per_s"], stats["tokens"]))
            tmux("send-keys", "-t", "ui", "C-n")
            time.sleep(0.2)
            tmux("send-keys", "-t", "ui", "-l", PROMPT)
            tmux("send-keys", "-t", "ui", "Enter")
            ui.append(_wait_stored_answer(db, i + 1))
        ui = ui[1:]
    finally:
        subprocess.run(["tmux", "-S", sock, "kill-server"], capture_output=True)
    return {"engine": engine, "app": ui}


def _wait_stored_answer(db: Path, n: int) -> tuple[float, int]:
    """The n-th finished answer's numbers, read without opening a store (that would touch the app's rows)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < ANSWER_TIMEOUT_S:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = conn.execute("SELECT stats FROM messages WHERE role = 'assistant' AND status = 'done' "
                            "AND stats IS NOT NULL ORDER BY id").fetchall()
        conn.close()
        if len(rows) >= n:
            stats = json.loads(rows[n - 1][0])
            return stats["tokens_per_s"], stats["tokens"]
        time.sleep(0.3)
    raise SystemExit("the app in tmux did not finish its answer")


def report(name: str, runs: dict) -> str:
    e = [tps for tps, _ in runs["engine"]]
    a = [tps for tps, _ in runs["app"]]
    ratio = statistics.median(a) / statistics.median(e)
    pairs = [y / x for x, y in zip(e, a)]
    tokens = sorted({n for _, n in runs["engine"] + runs["app"]})
    return (f"| {name} | {len(e)} | {statistics.median(e):.1f} | {statistics.median(a):.1f} | {ratio:.3f} | "
            f"{min(pairs):.3f}–{max(pairs):.3f} | {tokens[0]}–{tokens[-1]} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--drafter", default="ngram")
    p.add_argument("--threads", type=int)
    p.add_argument("--ctx-size", type=int, default=2048)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--terminal", action="store_true", help="also measure the app in a real terminal (tmux)")
    args = p.parse_args()
    spec = ModelSpec(args.target, None if args.drafter == "none" else args.drafter, ctx_size=args.ctx_size,
                     threads=args.threads)
    settings = ChatSettings(temperature=0.0, max_tokens=args.max_tokens)
    work = Path(tempfile.mkdtemp(prefix="ui-overhead-"))
    os.environ.setdefault("DSPARK_CHAT_HOME", str(work / "home"))
    rows = [report("in-process, headless app", asyncio.run(in_process(spec, settings, args.reps, work / "a.db")))]
    if args.terminal:
        rows.append(report("terminal (tmux) vs `ask`", terminal(spec, settings, args.reps, work / "b.db")))
    print(f"target {Path(args.target).name}, drafter {args.drafter}, threads {args.threads or 'all'}, "
          f"greedy, max {args.max_tokens} tokens, load average {os.getloadavg()[0]:.1f}")
    print("| measurement | runs | engine alone tok/s (median) | in the app tok/s (median) | app / engine | "
          "per-run ratio range | tokens |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
