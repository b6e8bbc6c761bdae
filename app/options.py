"""Options shared by the commands that decode (ask, bench, the chat UI): flags, defaults, and what they build.

Precedence: a flag on the command line, then the configuration file, then DEFAULTS below.
"""

from __future__ import annotations

import argparse
from typing import Any

from dspark_chat.engine.pair import PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig

# Sampling defaults follow llama.cpp's, so answers feel the same as in the tools people compare us with.
DEFAULTS: dict[str, Any] = {
    "ctx_size": 4096,
    "n_gpu_layers": 0,
    "threads": None,  # every core we may use
    "max_tokens": 512,
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "seed": None,
    "draft_max": 16,
    "draft_fixed": None,
}


def add_model_options(p: argparse.ArgumentParser, drafter_default: str | None = None) -> None:
    g = p.add_argument_group("models")
    g.add_argument("--target", metavar="NAME|PATH",
                   help="target model: a name from `dspark-chat list` or a GGUF path (default: configured, else the "
                        "embedded SmolLM2 chat model)")
    g.add_argument("--drafter", metavar="NAME|PATH|ngram|none|auto", default=drafter_default,
                   help="drafter: a GGUF (name or path) with the target's vocabulary (a model or a native DSpark "
                        "drafter), 'ngram' (prompt lookup), 'none' (plain decoding) or 'auto' (best compatible local "
                        "one; the default for a chosen --target)")
    g.add_argument("--ctx-size", type=int, metavar="N", help=f"context window in tokens (default {DEFAULTS['ctx_size']})")
    g.add_argument("--n-gpu-layers", type=int, metavar="N", help="layers offloaded to the GPU (-1: all; default 0)")
    g.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    s = p.add_argument_group("speculation")
    s.add_argument("--draft-max", type=int, metavar="N", help=f"most drafts per round (default {DEFAULTS['draft_max']})")
    s.add_argument("--draft-fixed", type=int, metavar="N",
                   help="verify exactly N drafts every round instead of the cost-aware choice (experiments)")


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--max-tokens", type=int, metavar="N", help=f"most tokens to generate (default {DEFAULTS['max_tokens']})")
    g.add_argument("--temperature", type=float, metavar="T", help=f"0 = greedy (default {DEFAULTS['temperature']})")
    g.add_argument("--top-k", type=int, metavar="K", help=f"0 = off (default {DEFAULTS['top_k']})")
    g.add_argument("--top-p", type=float, metavar="P", help=f"1 = off (default {DEFAULTS['top_p']})")
    g.add_argument("--min-p", type=float, metavar="P", help=f"0 = off (default {DEFAULTS['min_p']})")
    g.add_argument("--seed", type=int, metavar="S", help="random seed (default: fresh each run)")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop at TEXT (repeatable)")


def value(args: argparse.Namespace, name: str, config: dict | None = None) -> Any:
    flag = getattr(args, name, None)
    if flag is not None:
        return flag
    if config and config.get(name) is not None:
        return config[name]
    return DEFAULTS.get(name)


def sampling_params(args: argparse.Namespace, config: dict | None = None) -> SamplingParams:
    return SamplingParams(
        temperature=value(args, "temperature", config),
        top_k=value(args, "top_k", config),
        top_p=value(args, "top_p", config),
        min_p=value(args, "min_p", config),
        seed=value(args, "seed", config),
    ).validate()


def pair_options(args: argparse.Namespace, config: dict | None = None, cache_dir=None) -> PairOptions:
    from dspark_chat.engine.errors import DSparkError

    ctx = value(args, "ctx_size", config)
    if ctx < 128:
        raise DSparkError(f"--ctx-size must be at least 128, got {ctx}")
    draft_max = value(args, "draft_max", config)
    if draft_max < 0:
        raise DSparkError(f"--draft-max must be >= 0, got {draft_max}")
    return PairOptions(
        n_ctx=ctx,
        n_gpu_layers=value(args, "n_gpu_layers", config),
        threads=value(args, "threads", config),
        schedule=ScheduleConfig(max_draft=draft_max, fixed_draft=value(args, "draft_fixed", config)),
        cache_dir=cache_dir,
    )
