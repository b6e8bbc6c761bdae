"""Plain vs speculative decoding of the same prompts, side by side in one process.

Both runs share the target model, context and settings; each prompt starts from an empty KV cache in both modes.
Differences in the greedy output are explained, not hidden: the first differing position is teacher-forced and
its logit gap between the two candidate tokens reported (batched and single-token kernels may round differently,
which can flip a near tie).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dspark_chat.engine.chat import fit_to_context, raw_tokens
from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.events import Done
from dspark_chat.engine.pair import Pair
from dspark_chat.engine.session import GenerateParams, Session

WARMUP_TOKENS = 16


@dataclass
class BenchPrompt:
    id: str
    prompt: str | None = None
    messages: list[dict] | None = None


def load_prompts(path: str | Path) -> list[BenchPrompt]:
    path = Path(path)
    if not path.exists():
        raise DSparkError(f"prompts file not found: {path}")
    prompts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DSparkError(f"{path.name} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or ("prompt" not in row and "messages" not in row):
            raise DSparkError(f"{path.name} line {n}: needs 'prompt' or 'messages'")
        prompts.append(BenchPrompt(str(row.get("id", n)), row.get("prompt"), row.get("messages")))
    if not prompts:
        raise DSparkError(f"{path.name} has no prompts")
    return prompts


def prompt_tokens(pair: Pair, p: BenchPrompt, max_tokens: int) -> list[int]:
    if p.messages is not None:
        return fit_to_context(pair.target_model, p.messages, pair.target_ctx.n_ctx, max_tokens)[0]
    return raw_tokens(pair.target_model, p.prompt or "")


def run_once(session: Session, tokens: list[int], params: GenerateParams) -> Done:
    for ev in session.generate(tokens, params):
        if isinstance(ev, Done):
            return ev
    raise DSparkError("generation ended without a result")


def divergence(pair: Pair, prompt: list[int], plain: list[int], spec: list[int]) -> dict | None:
    """Where two greedy outputs first differ, and the target's logit gap between the two tokens there."""
    n = min(len(plain), len(spec))
    i = next((j for j in range(n) if plain[j] != spec[j]), n)
    if i == n and len(plain) == len(spec):
        return None
    out: dict = {"index": i}
    if i < n:
        ctx = pair.target_ctx
        ctx.owner = None  # we take the KV cache over; sessions notice and start afresh
        ctx.clear()
        history = prompt + plain[:i]
        row = np.array(ctx.decode(history, 0, "last")[0])
        ctx.clear()
        out.update(plain_token=plain[i], speculative_token=spec[i],
                   logit_gap=round(float(row[plain[i]] - row[spec[i]]), 5))
    return out


def bench(pair: Pair, prompts: Iterable[BenchPrompt], params: GenerateParams,
          on_row: Callable[[dict], None] | None = None) -> dict:
    prompts = list(prompts)
    plain_s, spec_s = pair.plain_session(), pair.session()
    first = prompt_tokens(pair, prompts[0], params.max_tokens)
    warm = GenerateParams(max_tokens=WARMUP_TOKENS, sampling=params.sampling, stop=params.stop)
    run_once(plain_s, first, warm)
    run_once(spec_s, first, warm)
    rows = []
    for p in prompts:
        toks = prompt_tokens(pair, p, params.max_tokens)
        plain = run_once(plain_s, toks, params)
        spec = run_once(spec_s, toks, params)
        st = spec.stats
        row = {
            "id": p.id,
            "plain": {"tokens": plain.stats.tokens, "tokens_per_s": round(plain.stats.tokens_per_s, 2)},
            "speculative": {
                "tokens": st.tokens,
                "tokens_per_s": round(st.tokens_per_s, 2),
                "acceptance_rate": None if st.acceptance_rate is None else round(st.acceptance_rate, 4),
                "mean_accepted_len": None if st.mean_accepted_len is None else round(st.mean_accepted_len, 3),
                "drafted": st.drafted,
                "verified": st.verified,
                "accepted": st.accepted,
                "rounds": st.rounds,
                "spec_rounds": st.spec_rounds,
            },
            "speedup": round(st.tokens_per_s / plain.stats.tokens_per_s, 3) if plain.stats.tokens_per_s else None,
            "identical": plain.tokens == spec.tokens,
            "_plain_seconds": plain.stats.decode_seconds,
            "_spec_seconds": st.decode_seconds,
        }
        if not row["identical"] and params.sampling.greedy:
            row["divergence"] = divergence(pair, toks, plain.tokens, spec.tokens)
        rows.append(row)
        if on_row:
            on_row(row)
    return {"mode": pair.mode, "rows": [_public(r) for r in rows], "summary": summarize(rows)}


def summarize(rows: list[dict]) -> dict:
    plain_tokens = sum(r["plain"]["tokens"] for r in rows)
    spec_tokens = sum(r["speculative"]["tokens"] for r in rows)
    plain_secs = sum(r["_plain_seconds"] for r in rows)
    spec_secs = sum(r["_spec_seconds"] for r in rows)
    verified = sum(r["speculative"]["verified"] for r in rows)
    accepted = sum(r["speculative"]["accepted"] for r in rows)
    speedups = [r["speedup"] for r in rows if r["speedup"] is not None]
    return {
        "identical": sum(1 for r in rows if r["identical"]),
        "total": len(rows),
        "speedup_median": round(statistics.median(speedups), 3) if speedups else None,
        "speedup_min": round(min(speedups), 3) if speedups else None,
        "plain_tokens_per_s": round(plain_tokens / plain_secs, 2) if plain_secs else None,
        "speculative_tokens_per_s": round(spec_tokens / spec_secs, 2) if spec_secs else None,
        "speedup_total": round((spec_tokens / spec_secs) / (plain_tokens / plain_secs), 3)
        if plain_secs and spec_secs and plain_tokens else None,
        "acceptance_rate": round(accepted / verified, 4) if verified else None,
        "verified": verified,
        "accepted": accepted,
    }


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}
