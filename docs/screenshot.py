"""Regenerate docs/screenshot.svg: the chat answering a question on the embedded SmolLM2 model.

    python docs/screenshot.py --target PATH/TO/SmolLM2-135M-Instruct.Q4_1.gguf [--prompt TEXT] [--out docs/screenshot.svg]

It runs the real app headless (Textual's App.run_test) with the real engine, so the numbers in the stats bar
are what this machine did.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from dspark_chat.app.chat_settings import ChatSettings, ModelSpec
from dspark_chat.app.history import HistoryStore
from dspark_chat.app.tui.app import NEW, ChatApp, Launch

QUESTION = "Write a Python function that checks whether a number is prime, with a short explanation."
SIZE = (110, 36)


async def shoot(target: str, drafter: str, out: Path, threads: int | None, question: str = QUESTION) -> None:
    db = Path(tempfile.mkdtemp(prefix="dspark-shot-")) / "h.sqlite3"
    spec = ModelSpec(target, drafter, ctx_size=2048, threads=threads)
    app = ChatApp(HistoryStore(db), Launch(spec, ChatSettings(temperature=0.0, max_tokens=400), NEW))
    async with app.run_test(size=SIZE) as pilot:
        while app.model_state != "ready":
            if app.model_state == "failed":
                raise SystemExit("the model did not load")
            await asyncio.sleep(0.1)
        app.chat.prompt.text = question
        await pilot.press("enter")
        await asyncio.sleep(0.5)
        while app.chat.generating:
            await asyncio.sleep(0.1)
        await pilot.pause(0.5)
        app.chat.prompt.focus()
        await pilot.pause(0.2)
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--drafter", default="ngram")
    p.add_argument("--threads", type=int)
    p.add_argument("--prompt", default=QUESTION, help="what to ask (default: %(default)r)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("screenshot.svg"))
    args = p.parse_args()
    asyncio.run(shoot(args.target, args.drafter, args.out, args.threads, args.prompt))


if __name__ == "__main__":
    main()
