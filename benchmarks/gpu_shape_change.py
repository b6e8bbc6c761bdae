"""Does a decode cost more when its batch size differs from the previous decode's?

Speculative rounds verify a different number of tokens almost every round; plain decoding always decodes one.
llama.cpp reuses a decode's graph (and the CUDA backend its captured CUDA graph) only for the same shape, so a
changed size pays a rebuild. This times target decodes of n = 1..6 tokens three ways: the same n repeated, n
varying at random, and n varying with 1B-drafter steps in between (as in a round). Measured on an H100 with the
8B-shape files of `gpu_files.py`: one token 3.71 ms repeated, 4.96 ms when the size varies (docs/benchmarks.md).

    python -m benchmarks.gpu_shape_change --folder /data/pair --out shape.json
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import random
import statistics
import time

from benchmarks import gpu_files
from dspark_chat.engine import llama as engine_llama

PREFIX = 200  # tokens in the KV cache, like the benchmark's prompt
FILLER = 5


def measure(target: str, drafter: str, n_gpu_layers: int, sizes: int = 6, reps: int = 10, draws: int = 120) -> dict:
    t_model = engine_llama.Model(target, n_gpu_layers=n_gpu_layers)
    d_model = engine_llama.Model(drafter, n_gpu_layers=n_gpu_layers)
    t_ctx, d_ctx = engine_llama.Context(t_model, 4096, 512), engine_llama.Context(d_model, 4096, 512)
    try:
        t_ctx.decode([FILLER] * PREFIX, 0, "none")
        d_ctx.decode([FILLER] * PREFIX, 0, "none")

        def verify(n: int) -> float:
            t0 = time.perf_counter()
            t_ctx.decode([FILLER] * n, PREFIX, "all")
            seconds = time.perf_counter() - t0
            t_ctx.remove_from(PREFIX)
            return seconds

        def drafter_steps(j: int) -> None:
            for i in range(j):
                d_ctx.decode([FILLER], PREFIX + i, "last")
            d_ctx.remove_from(PREFIX)

        out: dict[str, dict[int, float]] = {"same_n": {}}
        for n in range(1, sizes + 1):
            verify(n)
            out["same_n"][n] = 1e3 * statistics.median(verify(n) for _ in range(reps))
        rng = random.Random(0)
        order = [rng.randint(1, sizes) for _ in range(draws)]
        for name, steps in (("varying_n", 0), ("after_drafter_step", 1), ("after_3_drafter_steps", 3)):
            seen: dict[int, list[float]] = {}
            for n in order:
                drafter_steps(steps)
                seen.setdefault(n, []).append(verify(n))
            out[name] = {n: 1e3 * statistics.median(v) for n, v in sorted(seen.items())}
        return out
    finally:
        t_ctx.close(), d_ctx.close(), t_model.close(), d_model.close()


def main(argv=None) -> int:
    ap = gpu_files.probe_parser("benchmarks.gpu_shape_change", __doc__, "a060",
                                "which model drafter steps between verifies")
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    gpu_files.report(measure(manifest["target"], manifest["model_drafters"][args.alpha_tag], args.n_gpu_layers),
                     args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
