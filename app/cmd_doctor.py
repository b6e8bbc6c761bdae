"""`dspark-chat doctor`: what this machine and this install can do, and what to do about what is missing.

Versions (Python, llama-cpp-python, the llama.cpp it was built from), the backend of the build (CPU, CUDA, Metal,
Vulkan, ...) and whether GPU offload works, threads, where files live, whether the default pair loads, whether
libllama exports the calls native DSpark drafters need. Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys

from .term import paint

MARKS = {"ok": ("ok", "green"), "info": ("info", "cyan"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}
NAME_WIDTH = 19


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check this install and machine, and say what to fix",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object with every finding and check")
    p.add_argument("--expect-backend", metavar="NAME",
                   help="fail unless the build has this backend (CPU, CUDA, Metal, Vulkan, ...): for install scripts")
    p.add_argument("--no-load", action="store_true", help="do not load the default pair or try GPU offload (fast)")
    try:
        from .options import add_model_options  # imports the engine, so llama-cpp-python
    except Exception:  # doctor must start on a broken llama-cpp-python: that is what it explains
        p.add_argument("--target", metavar="PATH")
        p.add_argument("--drafter", metavar="PATH|ngram|none|auto")
    else:
        add_model_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .diagnose import run_all

    report = run_all(args, expect_backend=args.expect_backend, load_pair=not args.no_load)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report))
    return 0 if report.ok else 1


def render(report) -> str:
    out = sys.stdout
    lines = [f"dspark-chat {report.facts.get('dspark_chat', '?')} doctor", ""]
    for check in report.checks:
        word, colour = MARKS[check.status]
        lines.append(f"{paint(f'{word:<4}', colour, out)}  {check.name:<{NAME_WIDTH}}{check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"{'':<6}{'':<{NAME_WIDTH}}{paint('->', colour, out)} {check.fix}")
    failed = [c.name for c in report.checks if c.status == "fail"]
    lines.append("")
    lines.append(paint("all good", "green", out) if not failed
                 else paint(f"{len(failed)} problem(s): {', '.join(failed)}", "red", out))
    return "\n".join(lines)
