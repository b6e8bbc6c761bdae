"""How long until the first token of a long prompt? Plain and speculative sessions of one pair, prompt by length.

A DSpark pair copies the target's features while it evaluates a prompt. With the target's argmax on the device
(the default on patched GPU builds) every position of such a batch is an output that takes four n_vocab-wide rows
of llama.cpp's output buffer, so the engine evaluates the prompt in batches of at most `device_argmax.MAX_ROWS`
tokens instead of whole batches (engine/session.py). This probe times what that costs: for each prompt length, the
prefill and the time to the first token of a fresh session (no prefix reused), plain and speculative, median of
`--reps` after one warm-up. Run it twice, DSPARK_DEVICE_ARGMAX=0 and =1, to compare both ways on one machine.

    DSPARK_DEVICE_ARGMAX=1 python -m benchmarks.gpu_ttft --folder /data/pair --kind dspark --lengths 256 1024 4096
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import statistics

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
                result["rows"].append({
                    "prompt_tokens": n, "session": name,
                    "prefill_ms": 1e3 * statistics.median(p for p, _ in timed),
                    "ttft_ms": 1e3 * statistics.median(t for _, t in timed),
                    "runs_ms": [[round(1e3 * p, 2), round(1e3 * t, 2)] for p, t in timed]})
        return result


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
