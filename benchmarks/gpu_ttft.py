"""How long until the first token of a long prompt? Plain and speculative sessions of one pair, prompt by length.

A DSpark pair copies the target's features while it evaluates a prompt and injects them into its drafter. For each
prompt length this probe times the prefill and the time to the first token of a fresh session (no prefix reused),
plain and speculative, median of `--reps` after one warm-up; then one more speculative run split where its prefill
goes: waiting for each target batch, and the drafter's share (copying the batch's features, and launching their
injection, which for a prompt's batch waits until the target's next batch is launched). Run it twice,
DSPARK_DEVICE_ARGMAX=0 and =1, to compare both ways on one machine (run W: the device argmax's 64-token prompt
batches made a 4096-token prompt's first token 1.5x as late; whole batches since).

    DSPARK_DEVICE_ARGMAX=1 python -m benchmarks.gpu_ttft --folder /data/pair --kind dspark --lengths 256 1024 4096
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import statistics
import time

from benchmarks import gpu_files
from dspark_chat.engine.events import collect
from dspark_chat.engine.llama import cuda_graphs_enabled
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.session import GenerateParams

GREEDY = GenerateParams(2, SamplingParams(temperature=0.0))


def prompt_of(base: list[int], n: int) -> list[int]:
    """n tokens: the manifest's prompt (BOS first) repeated without its BOS."""
    body = base[1:] or base
    out = base[:1]
    while len(out) < n:
        out += body[: n - len(out)]
    return out


def measure(target: str, drafter: str, n_gpu_layers: int, lengths: list[int], reps: int, prompt_ids: list[int]
            ) -> dict:
    n_ctx = max(lengths) + 64
    options = PairOptions(n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, cuda_graphs=cuda_graphs_enabled())
    with Pair(target, drafter, options) as pair:
        result = {"mode": pair.mode, "device_argmax": pair.target_ctx.rows_argmax is not None, "reps": reps,
                  "rows": []}
        for n in lengths:
            prompt = prompt_of(prompt_ids, n)
            for name, session in (("plain", pair.plain_session()), ("speculative", pair.session())):
                runs = []
                for _ in range(reps + 1):  # the first allocates and captures this length's shapes
                    session.reset()  # a fresh conversation: nothing of the prompt is reused
                    done, _ = collect(session.generate(prompt, GREEDY))
                    runs.append((done.stats.prefill_s, done.stats.ttft_s))
                timed = runs[1:]
                row = {"prompt_tokens": n, "session": name,
                       "prefill_ms": 1e3 * statistics.median(p for p, _ in timed),
                       "ttft_ms": 1e3 * statistics.median(t for _, t in timed),
                       "runs_ms": [[round(1e3 * p, 2), round(1e3 * t, 2)] for p, t in timed]}
                if name == "speculative" and pair.drafter is not None:
                    session.reset()
                    row["prefill_split_ms"] = prefill_split(pair, session, prompt)
                result["rows"].append(row)
        return result


def prefill_split(pair: Pair, session, prompt: list[int]) -> dict:
    """One generation of GREEDY's two tokens whose drafter sees each target batch only after the device finished
    it: milliseconds spent waiting for the target's batches, in the drafter's observe_target (features copied;
    injection launched, except for a prompt's batches) and in its inject_backlog (a prompt batch's injection,
    launched after the target's next batch), over the prompt's batches and the first round's."""
    drafter, target = pair.drafter, pair.target_ctx
    spent = {"target_wait_ms": 0.0, "drafter_observe_ms": 0.0, "drafter_inject_ms": 0.0, "batches": 0}
    observe, inject = drafter.observe_target, drafter.inject_backlog

    def timed_observe(*args, **kwargs):
        t0 = time.perf_counter()
        target.synchronize()
        t1 = time.perf_counter()
        observe(*args, **kwargs)
        spent["target_wait_ms"] += 1e3 * (t1 - t0)
        spent["drafter_observe_ms"] += 1e3 * (time.perf_counter() - t1)
        spent["batches"] += 1

    def timed_inject():
        t0 = time.perf_counter()
        inject()
        spent["drafter_inject_ms"] += 1e3 * (time.perf_counter() - t0)

    drafter.observe_target, drafter.inject_backlog = timed_observe, timed_inject
    try:
        done, _ = collect(session.generate(prompt, GREEDY))
    finally:
        del drafter.observe_target, drafter.inject_backlog
    spent["prefill_ms"] = 1e3 * done.stats.prefill_s
    return spent


def main(argv=None) -> int:
    ap = gpu_files.probe_parser(__name__, __doc__, "a080", "which alpha's drafter (e.g. a080)")
    ap.add_argument("--kind", choices=("dspark", "model"), default="dspark")
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    drafters = manifest["dspark_drafters" if args.kind == "dspark" else "model_drafters"]
    result = measure(manifest["target"], drafters[args.alpha_tag], args.n_gpu_layers, args.lengths, args.reps,
                     manifest["prompt_ids"])
    result.update(kind=args.kind, alpha_tag=args.alpha_tag)
    gpu_files.report(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
