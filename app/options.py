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
    "n_gpu_layers": -1,  # every layer on the GPU when the build has one (CPU builds ignore it), as Ollama does
    "threads": None,  # one per physical core we may use (engine/cpu_cores.py)
    "max_tokens": 512,
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "seed": None,
    "draft_max": None,  # the engine's choice: 16, or 32 where the verify cost curve is flat (GPUs)
    "draft_fixed": None,
    "cuda_graphs": None,  # the engine's choice per pair (engine/graphs_policy.py)
}


def int_at_least(low: int):
    """An argparse type: an integer >= low, refused with a one-line usage error (exit 2) otherwise."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {number}")
        return number

    return parse


def on_off(text: str) -> bool:
    """An argparse type: on/off (also true/false, yes/no, 1/0)."""
    word = text.strip().lower()
    if word in ("on", "true", "yes", "1"):
        return True
    if word in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def float_between(low: float, high: float, low_open: bool = False, high_open: bool = False):
    """An argparse type: a float in [low, high] (either end open), refused with a one-line usage error otherwise."""
    shown = f"{'(' if low_open else '['}{low:g}, {'inf' if high == float('inf') else f'{high:g}'}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if number != number or number < low or number > high or (low_open and number == low) or (
                high_open and number == high):
            raise argparse.ArgumentTypeError(f"must be in {shown}, got {text}")
        return number

    return parse


INF = float("inf")
MIN_CTX = 128  # tokens: below this no chat template and answer fit


def add_model_options(p: argparse.ArgumentParser, drafter_default: str | None = None) -> None:
    g = p.add_argument_group("models")
    g.add_argument("--target", metavar="NAME|PATH",
                   help="target model: a name from `dspark-chat list` or a GGUF path (default: configured, else the "
                        "embedded SmolLM2 chat model)")
    g.add_argument("--drafter", metavar="NAME|PATH|ngram|none|auto", default=drafter_default,
                   help="drafter: a GGUF (name or path) with the target's vocabulary (a model or a native DSpark "
                        "drafter), 'ngram' (prompt lookup), 'none' (plain decoding) or 'auto' (best compatible local "
                        "one; the default for a chosen --target)")
    g.add_argument("--ctx-size", type=int_at_least(MIN_CTX), metavar="N", help=f"context window in tokens (default {DEFAULTS['ctx_size']})")
    g.add_argument("--n-gpu-layers", type=int_at_least(-1), metavar="N", help="layers offloaded to the GPU (-1: all, the default; 0: none)")
    g.add_argument("--threads", type=int_at_least(1), metavar="N", help="CPU threads (default: one per physical core)")
    g.add_argument("--cuda-graphs", type=on_off, metavar="on|off",
                   help="llama.cpp's CUDA graphs for this process (default: the engine's choice per pair, off only "
                        "for a native DSpark drafter that keeps drafting; docs/cli.md)")
    s = p.add_argument_group("speculation")
    s.add_argument("--draft-max", type=int_at_least(0), metavar="N", help="most drafts per round (default 16, or 32 where verifying 33 tokens costs at most 4 single steps, as on GPUs)")
    s.add_argument("--draft-fixed", type=int_at_least(0), metavar="N",
                   help="verify exactly N drafts every round instead of the cost-aware choice (experiments)")


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--max-tokens", type=int_at_least(1), metavar="N", help=f"most tokens to generate (default {DEFAULTS['max_tokens']})")
    g.add_argument("--temperature", type=float_between(0, INF), metavar="T", help=f"0 = greedy (default {DEFAULTS['temperature']})")
    g.add_argument("--top-k", type=int_at_least(0), metavar="K", help=f"0 = off (default {DEFAULTS['top_k']})")
    g.add_argument("--top-p", type=float_between(0, 1, low_open=True), metavar="P", help=f"1 = off (default {DEFAULTS['top_p']})")
    g.add_argument("--min-p", type=float_between(0, 1, high_open=True), metavar="P", help=f"0 = off (default {DEFAULTS['min_p']})")
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
    from dspark_chat.engine.errors import UsageError

    ctx = value(args, "ctx_size", config)
    if ctx < MIN_CTX:
        raise UsageError(f"--ctx-size must be at least {MIN_CTX}, got {ctx}")
    draft_max = value(args, "draft_max", config)
    if draft_max is not None and draft_max < 0:
        raise UsageError(f"--draft-max must be >= 0, got {draft_max}")
    return PairOptions(
        n_ctx=ctx,
        n_gpu_layers=value(args, "n_gpu_layers", config),
        threads=value(args, "threads", config),
        schedule=ScheduleConfig(max_draft=draft_max, fixed_draft=value(args, "draft_fixed", config)),
        cache_dir=cache_dir,
        cuda_graphs=value(args, "cuda_graphs", config),
    )
