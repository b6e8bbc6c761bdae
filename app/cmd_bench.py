"""`dspark-chat bench`: plain vs speculative decoding on a prompt set, side by side in one process."""

from __future__ import annotations

import argparse
import json
import sys

from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.llama import cuda_graphs_enabled
from dspark_chat.engine.session import GenerateParams
from dspark_chat.models.config import load_config

from .benchmark import bench, load_prompts
from .options import INF, add_model_options, float_between, int_at_least, sampling_params
from .pairs import open_pair, stderr_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure speculative against plain decoding", description=__doc__)
    p.add_argument("--prompts", required=True, metavar="FILE.jsonl",
                   help="one JSON object a line: id and prompt (raw completion) or messages (chat)")
    p.add_argument("--max-tokens", type=int_at_least(1), default=128, metavar="N", help="tokens per prompt (default 128)")
    p.add_argument("--temperature", type=float_between(0, INF), default=0.0, metavar="T", help="default 0 (greedy)")
    p.add_argument("--top-k", type=int_at_least(0), metavar="K")
    p.add_argument("--top-p", type=float_between(0, 1, low_open=True), metavar="P")
    p.add_argument("--min-p", type=float_between(0, 1, high_open=True), metavar="P")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--limit", type=int_at_least(1), metavar="N", help="only the first N prompts")
    p.add_argument("--json", action="store_true", help="print one JSON object with every row and a summary")
    add_model_options(p, drafter_default="ngram")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    prompts = load_prompts(args.prompts)[: args.limit or None]
    if args.max_tokens < 1:
        raise DSparkError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    params = GenerateParams(max_tokens=args.max_tokens, sampling=sampling_params(args))
    if args.drafter in (None, "none", "plain"):
        raise DSparkError("bench compares against plain decoding: pick a --drafter (a GGUF path or ngram)")
    quiet = args.json
    # the configuration sets models, threads and speculation limits; sampling stays as the flags say (reproducible)
    with open_pair(args, load_config().as_options(), progress=stderr_progress(quiet)) as pair:
        if not quiet:
            print(f"target {pair.target_model.path.name}  drafter {pair.mode}"
                  f"{'' if not pair.drafter_model else ' ' + pair.drafter_model.path.name}  "
                  f"threads {pair.threads}  max tokens {args.max_tokens}  temperature {params.sampling.temperature}")
            print(f"{'id':<12} {'plain tok/s':>11} {'spec tok/s':>10} {'ratio':>6} {'accept':>7} "
                  f"{'acc/round':>9} {'same':>5}")
        result = bench(pair, prompts, params, on_row=None if quiet else _print_row)
    result["settings"] = {"target": str(pair.target_model.path), "drafter": args.drafter,
                          "max_tokens": args.max_tokens, "temperature": params.sampling.temperature,
                          "threads": pair.threads, "cuda_graphs": cuda_graphs_enabled()}
    if quiet:
        print(json.dumps(result))
    else:
        _print_summary(result["summary"])
    return 0


def _fmt(x, pattern: str) -> str:
    return "-" if x is None else format(x, pattern)


def _print_row(r: dict) -> None:
    s = r["speculative"]
    print(f"{r['id']:<12} {r['plain']['tokens_per_s']:>11.1f} {s['tokens_per_s']:>10.1f} "
          f"{_fmt(r['speedup'], '.2f'):>6} {_fmt(s['acceptance_rate'], '.0%'):>7} "
          f"{_fmt(s['mean_accepted_len'], '.2f'):>9} {'yes' if r['identical'] else 'NO':>5}")
    sys.stdout.flush()


def _print_summary(s: dict) -> None:
    print(f"identical {s['identical']}/{s['total']}  plain {_fmt(s['plain_tokens_per_s'], '.1f')} tok/s  "
          f"speculative {_fmt(s['speculative_tokens_per_s'], '.1f')} tok/s  "
          f"ratio {_fmt(s['speedup_total'], '.2f')} (median {_fmt(s['speedup_median'], '.2f')}, "
          f"min {_fmt(s['speedup_min'], '.2f')})  acceptance {_fmt(s['acceptance_rate'], '.1%')} "
          f"({s['accepted']}/{s['verified']})")
