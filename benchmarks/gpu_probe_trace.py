"""Where do the milliseconds of a rare drafting round go? A round-by-round trace of one pair.

At alpha 0 the scheduler stops drafting and probes the drafter now and then. On an H100 a DSpark probe round's
drafting took 29-60 ms (run L, docs/benchmarks.md) against 2.5-4 ms for a steady round, enough to cost a 256-token
generation 6%. This script runs the benchmark's greedy generations on one pair and times every llama.cpp call
of the drafter's context (feature injection, block launch, the wait for its logits, KV clears and rollbacks) and
of the target's, per round, and prints the rounds that drafted or switched the target's feature copy, with the
scheduler's state after each generation.

    python -m benchmarks.gpu_probe_trace --folder /data/files --alpha 0 --runs 4 --out trace.json
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.gpu_bench import GREEDY, GenerateParams, ids_to_text, tag
from dspark_chat.engine import llama as engine_llama
from dspark_chat.engine.pair import Pair, PairOptions

CONTEXT_CALLS = ("decode", "submit", "result", "decode_embeddings", "clear", "remove_from")
DRAFTER_CALLS = ("draft", "launch", "observe_target", "abandon")
SLOW_CALL_MS = 5.0  # a round with any call this slow is traced even without a draft (a launch for the next round)


class CallClock:
    """Seconds spent in each timed method of some contexts, per round (instance attributes shadow the class's)."""

    def __init__(self):
        self.now: dict[str, float] = defaultdict(float)

    def wrap(self, obj, name: str, methods: tuple[str, ...] = CONTEXT_CALLS) -> None:
        for method in methods:
            inner = getattr(obj, method)

            def timed(*args, _inner=inner, _key=f"{name}.{method}", **kwargs):
                t0 = time.perf_counter()
                try:
                    return _inner(*args, **kwargs)
                finally:
                    self.now[_key] += time.perf_counter() - t0

            setattr(obj, method, timed)

    def take(self) -> dict[str, float]:
        out = {k: round(1e3 * v, 3) for k, v in self.now.items() if v > 0}
        self.now.clear()
        return out


def trace(target: str, drafter: str, prompt: list[int], max_tokens: int, runs: int, options: PairOptions) -> dict:
    with Pair(target, drafter, options) as pair:
        session = pair.session()
        sched = pair.scheduler
        clock = CallClock()
        clock.wrap(pair.target_ctx, "target")
        clock.wrap(pair.drafter.ctx, "drafter")
        clock.wrap(pair.drafter, "dspark", DRAFTER_CALLS)
        capture = pair.drafter.capture_features

        def timed_capture(on: bool) -> bool:
            t0 = time.perf_counter()
            switched = capture(on)
            if switched:
                clock.now["switch.set"] += time.perf_counter() - t0
                clock.now["switch.to_on" if on else "switch.to_off"] += 1e-3  # a marker: 1 "ms" per switch
            return switched

        session._capture = timed_capture
        out = []
        for run in range(runs):
            rounds = []
            before = (0.0, 0.0)  # the generation's draft and verify seconds before this round
            n_round = 0
            clock.take()
            done = None
            for ev in session.generate(prompt, GenerateParams(max_tokens, GREEDY)):
                calls = clock.take()
                if not hasattr(ev, "drafted"):
                    done = ev
                    break
                st = ev.stats
                draft_ms, verify_ms = 1e3 * (st.draft_s - before[0]), 1e3 * (st.verify_s - before[1])
                # rounds that drafted, switched the copy, or spent a millisecond somewhere unusual
                if (ev.drafted or draft_ms > 1.0 or any(k.startswith("switch") for k in calls)
                        or max(calls.values(), default=0.0) > SLOW_CALL_MS):
                    rounds.append({"round": n_round, "drafted": ev.drafted, "verified": ev.verified,
                                   "accepted": ev.accepted, "draft_ms": round(draft_ms, 3),
                                   "verify_ms": round(verify_ms, 3), "calls_ms": calls})
                n_round += 1
                before = (st.draft_s, st.verify_s)
            run_row = {
                "run": run, "tokens_per_s": done.stats.tokens_per_s, "rounds": done.stats.rounds,
                "scheduler": {"probe_wait": sched._probe_wait(), "since_spec": sched._since_spec,
                              "switch_cost_ms": 1e3 * sched.switch_cost, "copy_share": sched.copy_share,
                              "verify_1_ms": 1e3 * sched.verify_cost(1)},
                "capture_switches": pair.drafter.capture_switches,
                "traced_rounds": rounds,
            }
            print(json.dumps({k: v for k, v in run_row.items() if k != "traced_rounds"}), flush=True)
            for r in rounds:
                print("   ", json.dumps(r), flush=True)
            out.append(run_row)
        return {"runs": out}


def main(argv: list[str] | None = None) -> int:
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--folder", required=True, type=Path, help="the files of benchmarks.gpu_files")
    a.add_argument("--alpha", type=float, default=0.0)
    a.add_argument("--runs", type=int, default=4)
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--n-gpu-layers", type=int, default=99)
    a.add_argument("--ctx", type=int, default=4096)
    a.add_argument("--out", type=Path)
    args = a.parse_args(argv)
    manifest = json.loads((args.folder / "manifest.json").read_text())
    target = manifest["target"]
    drafter = manifest["dspark_drafters"][tag(args.alpha)]
    tmodel = engine_llama.Model(target, n_gpu_layers=0)
    prompt = tmodel.tokenize(ids_to_text(tmodel, manifest["prompt_ids"]))
    tmodel.close()
    options = PairOptions(n_ctx=args.ctx, n_gpu_layers=args.n_gpu_layers, cache_dir=args.folder / "trace-cache")
    result = trace(target, drafter, prompt, args.max_tokens, args.runs, options)
    result.update(alpha=args.alpha, drafter=Path(drafter).name)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
