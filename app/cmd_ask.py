"""`dspark-chat ask`: one prompt in, one answer out (stdin when no prompt is given). Scripts use --json."""

from __future__ import annotations

import argparse
import json
import sys
import threading

from dspark_chat.engine.chat import raw_tokens, stream_reply
from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.events import Done, Step
from dspark_chat.engine.session import GenerateParams
from dspark_chat.models.config import load_config

from .options import add_model_options, add_sampling_options, sampling_params, value
from .pairs import open_pair, stderr_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer one prompt and exit", description=__doc__)
    p.add_argument("prompt", nargs="?", help="the prompt (read from stdin when absent)")
    p.add_argument("--raw", action="store_true", help="plain completion of the prompt, no chat template")
    p.add_argument("--system", metavar="TEXT", help="system prompt")
    p.add_argument("--json", action="store_true", help="print one JSON object: text, tokens, stats")
    p.add_argument("--stats", action="store_true", help="print a line of statistics to stderr at the end")
    add_model_options(p)
    add_sampling_options(p)
    p.set_defaults(run=run)


def read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None:
        return args.prompt
    if sys.stdin is None or sys.stdin.isatty():
        raise DSparkError("no prompt: pass PROMPT or pipe it on stdin")
    return sys.stdin.read()


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args)
    if not prompt.strip():
        raise DSparkError("the prompt is empty")
    config = load_config().as_options()
    sampling = sampling_params(args, config)
    max_tokens = value(args, "max_tokens", config)
    if max_tokens < 1:
        raise DSparkError(f"--max-tokens must be at least 1, got {max_tokens}")
    params = GenerateParams(max_tokens=max_tokens, sampling=sampling, stop=tuple(args.stop))
    with open_pair(args, config, progress=stderr_progress(quiet=args.json)) as pair:
        session = pair.session()
        if args.raw:
            events = session.generate(raw_tokens(pair.target_model, (args.system or "") + prompt), params)
        else:
            messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
                {"role": "user", "content": prompt}
            ]
            events = stream_reply(session, messages, params, threading.Event())
        done = _consume(events, stream=not args.json)
    if args.json:
        print(json.dumps({"text": done.text, "tokens": done.tokens, "finish_reason": done.reason,
                          "stats": done.stats.to_dict()}, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()
    if args.stats:
        print(format_stats(done), file=sys.stderr)
    return 0


def _consume(events, stream: bool) -> Done:
    for ev in events:
        if isinstance(ev, Step):
            if stream:
                sys.stdout.write(ev.text)
                sys.stdout.flush()
        elif isinstance(ev, Done):
            if stream and ev.tail:
                sys.stdout.write(ev.tail)
            return ev
    raise DSparkError("generation ended without a result")


def format_stats(done: Done) -> str:
    s = done.stats
    acc = "n/a" if s.acceptance_rate is None else f"{s.acceptance_rate:.0%} ({s.accepted}/{s.verified})"
    return (f"{s.tokens} tokens, {s.tokens_per_s:.1f} tok/s, mode {s.mode}, acceptance {acc}, "
            f"ttft {s.ttft_s or 0:.2f}s, finish {done.reason}")
