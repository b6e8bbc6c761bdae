"""Where does a drafting round's time go? Decode by decode, launch and wait apart, with and without CUDA graphs.

llama.cpp's CUDA backend captures a decode's work as a CUDA graph and replays it, but only after the same shape
came twice in a row (a warm-up call, then a capture); a decode of another shape runs uncaptured and resets that.
This probe times, on the 8B-shape files of `gpu_files.py`:
  * target: decodes of n tokens by their place in a run of equal sizes after a change (1st, 2nd, 3rd, ...);
  * 1B model drafter: one-token steps after a two-token catch-up, against steps that never change shape;
  * DSpark drafter: rounds of feature injection + block decode with sizes varying as in real rounds, against
    fixed sizes (padded injection, full block), and the block decode repeated alone, by block size;
  * the host's argmax over a block's logits (16 x 128256 floats).
Each decode is split into launch (the llama_decode call: graph build, allocation, kernel launches or a graph
replay) and wait (until its logits are on the host). Run it twice, the second time with GGML_CUDA_DISABLE_GRAPHS=1
(`--no-graphs` does that in a child process), to see what the captured graphs are worth.

    python -m benchmarks.gpu_drafter_costs --folder /data/pair --out drafter_costs.json [--no-graphs]
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import gpu_files
from dspark_chat.engine import llama as engine_llama
from dspark_chat.engine.pair import Pair, PairOptions

PREFIX = 200  # tokens in the KV cache, like the benchmark's prompt
FILLER = 5
CYCLES = 12


def timed(ctx: engine_llama.Context, tokens, pos0: int, outputs: str = "all") -> tuple[float, float]:
    """(launch ms, wait ms) of one token decode."""
    t0 = time.perf_counter()
    ctx.submit(tokens, pos0, outputs)
    t1 = time.perf_counter()
    ctx.result() if outputs != "none" else llama_cpp.llama_synchronize(ctx.ptr)
    t2 = time.perf_counter()
    return 1e3 * (t1 - t0), 1e3 * (t2 - t1)


def timed_embeddings(ctx: engine_llama.Context, rows: np.ndarray, pos0: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    ctx.decode_embeddings(rows, pos0)
    t1 = time.perf_counter()
    llama_cpp.llama_synchronize(ctx.ptr)
    t2 = time.perf_counter()
    return 1e3 * (t1 - t0), 1e3 * (t2 - t1)


def summary(pairs: list[tuple[float, float]]) -> dict:
    launch = statistics.median(p[0] for p in pairs)
    wait = statistics.median(p[1] for p in pairs)
    total = statistics.median(p[0] + p[1] for p in pairs)
    return {"launch_ms": round(launch, 3), "wait_ms": round(wait, 3), "total_ms": round(total, 3)}


def by_place(ctx, runs: list[tuple[int, int]], outputs: str, cycles: int = CYCLES) -> dict:
    """Decodes in runs of (size, count), cycled: the time of each decode by its run and place in the run."""
    places: dict[str, list[tuple[float, float]]] = {}
    for _ in range(cycles):
        for r, (n, count) in enumerate(runs):
            for i in range(count):
                places.setdefault(f"run{r}:n={n}#{i + 1}", []).append(timed(ctx, [FILLER] * n, PREFIX, outputs))
                ctx.remove_from(PREFIX)
    return {k: summary(v) for k, v in places.items()}


def probe_target_and_drafter(target: str, drafter: str, ngl: int) -> dict:
    out = {}
    for role, path, outputs in (("target", target, "all"), ("model_drafter", drafter, "last")):
        model = engine_llama.Model(path, n_gpu_layers=ngl)
        ctx = engine_llama.Context(model, 2048, 512)
        try:
            ctx.decode([FILLER] * PREFIX, 0, "none")
            if role == "target":
                out[role] = {"1 then 5": by_place(ctx, [(1, 4), (5, 4)], outputs),
                             "9 only": by_place(ctx, [(9, 4)], outputs, cycles=4)}
            else:
                # a round: a two-token catch-up, then one-token steps; against steps only
                out[role] = {"catch-up 2 then steps": by_place(ctx, [(2, 1), (1, 5)], outputs),
                             "steps only": by_place(ctx, [(1, 6)], outputs, cycles=4)}
        finally:
            ctx.close()
            model.close()
    return out


def probe_dspark(target: str, dspark: str, ngl: int, cache: Path) -> dict:
    options = PairOptions(n_ctx=2048, n_gpu_layers=ngl, cache_dir=cache)
    with Pair(target, dspark, options) as pair:
        drafter = pair.drafter
        ctx, spec = drafter.ctx, drafter.spec
        width = drafter._pending.shape[1]
        full = drafter.inject_rows
        rows = np.zeros((full, width), dtype=np.float32)
        ctx.clear()
        base = PREFIX
        ctx.decode_embeddings(np.zeros((base, width), dtype=np.float32), 0)
        rng = np.random.default_rng(0)
        out: dict = {"fixed_shapes_chosen": drafter.fixed_shapes, "inject_rows": full,
                     "profiled_block_ms": {n: round(1e3 * drafter.block_cost(n), 3) for n in (1, 2, 5, 9, 13, 16)},
                     "profiled_block_shape_change_ms": round(1e3 * drafter.block_cost.shape_change, 3)}

        def rounds(fixed: bool, count: int = 3 * CYCLES) -> dict:
            inject, block = [], []
            for _ in range(count):
                m = int(rng.integers(1, full // 2 + 1))
                n = spec.block_size if fixed else int(rng.integers(2, spec.block_size + 1))
                inject.append(timed_embeddings(ctx, rows[: full if fixed else m], base))
                ctx.remove_from(base + m)
                block.append(timed(ctx, np.full(n, spec.mask_id, dtype=np.int32), base + m))
                ctx.remove_from(base)
            return {"inject": summary(inject), "block": summary(block),
                    "round_ms": round(statistics.median(a[0] + a[1] + b[0] + b[1] for a, b in zip(inject, block)),
                                      3)}

        rounds(False, 4), rounds(True, 4)  # warm-up of both patterns
        out["rounds_varying"] = rounds(False)
        out["rounds_fixed"] = rounds(True)
        alone = {}
        for n in (2, 5, 9, 13, spec.block_size):
            seen = []
            for _ in range(CYCLES):
                seen.append(timed(ctx, np.full(n, spec.mask_id, dtype=np.int32), base))
                ctx.remove_from(base)
            alone[n] = summary(seen[2:])
        out["block_repeated"] = alone
        seen = []
        for _ in range(CYCLES):
            seen.append(timed_embeddings(ctx, rows[:5], base))
            ctx.remove_from(base)
        out["inject_5_repeated"] = summary(seen[2:])
        logits = ctx.decode(np.full(spec.block_size, spec.mask_id, dtype=np.int32), base, "all")
        t0 = time.perf_counter()
        for _ in range(10):
            logits.argmax(axis=1)
        out["host_argmax_ms"] = round(1e2 * (time.perf_counter() - t0), 3)
        ctx.remove_from(base)
    return out


def main(argv=None) -> int:
    ap = gpu_files.probe_parser("benchmarks.gpu_drafter_costs", __doc__, "a080",
                                "which drafters (their costs do not depend on it)")
    ap.add_argument("--no-graphs", action="store_true", help="also measure with GGML_CUDA_DISABLE_GRAPHS=1")
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    target = manifest["target"]
    result = {"cuda_graphs": os.environ.get("GGML_CUDA_DISABLE_GRAPHS") is None}
    result.update(probe_target_and_drafter(target, manifest["model_drafters"][args.alpha_tag], args.n_gpu_layers))
    with tempfile.TemporaryDirectory() as tmp:
        result["dspark"] = probe_dspark(target, manifest["dspark_drafters"][args.alpha_tag], args.n_gpu_layers,
                                        Path(tmp))
        if args.no_graphs:
            child_out = Path(tmp) / "child.json"
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.gpu_drafter_costs", "--folder", str(args.folder),
                 "--alpha-tag", args.alpha_tag, "--n-gpu-layers", str(args.n_gpu_layers), "--out", str(child_out)],
                env={**os.environ, "GGML_CUDA_DISABLE_GRAPHS": "1"}, capture_output=True, text=True)
            result["without_cuda_graphs"] = (json.loads(child_out.read_text()) if child_out.exists()
                                             else {"error": child.stderr[-2000:]})
    gpu_files.report(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
