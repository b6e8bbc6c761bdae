"""Measure native DSpark drafting against a model drafter and plain decoding on successor-chain pairs.

Acceptance is known by construction (alpha), so the numbers isolate what the drafting *costs*: drafter decodes
per round, milliseconds per drafted block against milliseconds per model-drafter token, and the end-to-end
tokens/s of plain decoding and of each drafter under the cost-aware scheduler. Runs anywhere the app runs
(the GPU benchmark passes bigger shapes and --n-gpu-layers).

    python -m tests.tools.measure_dspark --folder /tmp/chain --alpha 0.8 --json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from dspark_chat.engine.events import Done, Step, collect
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.session import GenerateParams

from . import synth

# A CPU-sized chain pair whose target costs clearly more than its drafters (a 2-core CPU in a few minutes).
CPU_TARGET = synth.LlamaShape(n_layer=8, n_embd=512, n_ff=1536, n_head=8, n_head_kv=4)
CPU_MODEL_DRAFTER = synth.LlamaShape(n_layer=2, n_embd=128, n_ff=256, n_head=4, n_head_kv=2)
CPU_DSPARK = synth.DFlashShape(n_layer=1, n_ff=512, n_head=8, n_head_kv=4, markov_rank=64)


def generate(session, prompt, max_tokens) -> tuple[Done, list[Step]]:
    return collect(session.generate(prompt, GenerateParams(max_tokens, SamplingParams(temperature=0.0))))


def measure(target: Path, drafter: Path, prompts: list[list[int]], max_tokens: int, options: PairOptions) -> dict:
    with Pair(target, str(drafter), options) as pair:
        plain_s, spec_s = pair.plain_session(), pair.session()
        generate(plain_s, prompts[0], 16)  # warm-up
        generate(spec_s, prompts[0], 16)
        n_decodes0 = pair.drafter.ctx.n_decodes
        rows = {"plain": [0, 0.0], "spec": [0, 0.0]}
        acc = ver = drafted = accepted = rounds = draft_rounds = reached = 0
        draft_s = 0.0
        identical = 0
        for prompt in prompts:
            p, _ = generate(plain_s, prompt, max_tokens)
            s, steps = generate(spec_s, prompt, max_tokens)
            identical += p.tokens == s.tokens
            for key, done in (("plain", p), ("spec", s)):
                rows[key][0] += done.stats.tokens
                rows[key][1] += done.stats.decode_seconds
            st = s.stats
            ver += st.verified
            accepted += st.accepted
            drafted += st.drafted
            rounds += st.rounds
            draft_s += st.draft_s
            draft_rounds += sum(1 for x in steps if x.drafted)
            reached += sum(min(x.verified, x.accepted + 1) for x in steps)
        drafter = pair.drafter
        decodes = drafter.ctx.n_decodes - n_decodes0
        out = {
            "kind": pair.mode,
            "plain_tps": rows["plain"][0] / rows["plain"][1],
            "spec_tps": rows["spec"][0] / rows["spec"][1],
            "identical": f"{identical}/{len(prompts)}",
            "drafted": drafted, "verified": ver, "accepted": accepted,
            "acceptance_rate": accepted / ver if ver else None,
            "alpha_measured": accepted / reached if reached else None,
            "mean_accepted_len": accepted / draft_rounds if draft_rounds else None,
            "rounds": rounds, "drafting_rounds": draft_rounds,
            "drafter_decodes_per_drafting_round": decodes / draft_rounds if draft_rounds else None,
            "draft_ms_per_drafting_round": 1e3 * draft_s / draft_rounds if draft_rounds else None,
            "target_ms_verify_1": 1e3 * pair.verify_cost(1),
            "target_ms_verify_17": 1e3 * pair.verify_cost(17),
        }
        if out["kind"] in ("dspark", "dflash"):
            out["drafter_ms_block_16"] = 1e3 * drafter.block_cost(16)
            out["drafter_ms_inject_1"] = 1e3 * drafter.inject_cost(1)
        else:
            out["drafter_ms_per_token"] = 1e3 * drafter.cost(1)
        out["speedup"] = out["spec_tps"] / out["plain_tps"]
        return out


def machine() -> dict:
    """Where the numbers were taken: they mean nothing without it."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.tools.measure_dspark", description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="where the chain pair is built (or found)")
    ap.add_argument("--alpha", type=float, default=0.8)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--threads", type=int, help="CPU threads (default: one per physical core)")
    ap.add_argument("--quant", help="re-quantize the pair, e.g. Q4_K_M")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    pair = synth.build_chain_pair(args.folder, args.alpha, target_shape=CPU_TARGET,
                                  drafter_shape=CPU_MODEL_DRAFTER, dspark_shape=CPU_DSPARK,
                                  tokenizer=synth.synthetic_tokenizer(args.vocab), quant=args.quant)
    built = time.perf_counter() - t0
    prompts = [[1, 1000 + 97 * i] for i in range(args.prompts)]
    options = PairOptions(n_ctx=2048, n_gpu_layers=args.n_gpu_layers, threads=args.threads)
    results = [measure(pair.target, d, prompts, args.max_tokens, replace(options))
               for d in (pair.model_drafter, pair.dspark_drafter)]
    for r in results:
        r["alpha"] = args.alpha
    if args.json:
        print(json.dumps({"build_s": built, "machine": machine(), "results": results}, indent=1))
    else:
        for r in results:
            print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
