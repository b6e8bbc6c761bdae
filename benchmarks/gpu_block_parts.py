"""Which part of a DSpark block decode costs what per drafted position? Variants of one drafter, side by side.

A DSpark block of n positions cost about 1.1 ms plus 0.24 ms a position on an H100 (docs/benchmarks.md, run E).
Per position llama.cpp runs the drafter's layers and LM head on one more row, copies one more row of logits to the
host, and chains the Markov head (`src/models/dflash.cpp`: a rank-R product over the vocabulary, an add, an argmax
over the vocabulary, concatenations) and the confidence head. This probe writes four variants of the same drafter
shape, with random weights (timing only) and without a target (zero features are injected, as
`profile_round_shapes` does), and times block decodes of n positions in each, the same n repeated so that CUDA
graphs replay (what is left is device time and the logits' copy):
  * dspark: the benchmark's drafter (Markov rank 256, confidence head);
  * no-confidence: the same without the confidence head;
  * rank-16: Markov rank 16 instead of 256;
  * dflash: no Markov head at all (plain DFlash: the layers, the LM head and the logits' copy).
Differences of per-position slopes between variants give each part's cost per position.

    python -m benchmarks.gpu_block_parts --folder /data/parts --out block_parts.json        # writes, then times
    ncu --profile-from-start off --csv --metrics gpu__time_duration.sum \
        python -m benchmarks.gpu_block_parts --folder /data/parts --kernels 16                 # one block, by kernel
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.gpu_files import SHAPES
from dspark_chat.engine import dflash_bindings as native
from dspark_chat.engine import llama as engine_llama
from dspark_chat.engine.dspark_drafter import read_spec
from tests.tools import synth

PREFIX = 200  # positions of injected features before the block, like the benchmark's prompt
REPS = 9  # decodes per block size; the first two warm up (CUDA graphs capture on the second)
SIZES = (1, 2, 4, 8, 9, 12, 16)


def variants(shape: synth.DFlashShape) -> dict[str, synth.DFlashShape]:
    return {
        "dspark": shape,
        "no-confidence": replace(shape, confidence=False),
        "rank-16": replace(shape, markov_rank=16),
        "dflash": replace(shape, markov_rank=0),
    }


def write(folder: Path, shape_name: str, names: list[str] | None = None) -> dict[str, str]:
    """The drafter files (all four variants, or `names`), each in a process of its own (independent, and slow at
    full width)."""
    shapes = SHAPES[shape_name]
    folder.mkdir(parents=True, exist_ok=True)
    tok = synth.synthetic_tokenizer(shapes.vocab)
    target = synth.TargetInfo(folder / "no-target.gguf", "llama", shapes.target.n_embd, shapes.target.n_layer, tok,
                              None)
    paths = {name: folder / f"parts-{name}.gguf" for name in variants(shapes.dspark) if not names or name in names}
    todo = {name: path for name, path in paths.items() if not path.exists()}
    with ProcessPoolExecutor(max(1, len(todo)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(synth.build_dflash, str(path) + ".tmp", target, variants(shapes.dspark)[name], 1)
                   for name, path in todo.items()]
        for fut, path in zip(futures, todo.values()):
            fut.result()
            Path(str(path) + ".tmp").rename(path)
    return {name: str(path) for name, path in paths.items()}


@contextmanager
def _injected(path: str, n_gpu_layers: int):
    """The drafter loaded with PREFIX positions of zero features in its KV cache: (model, context, mask token)."""
    model = engine_llama.Model(path, n_gpu_layers=n_gpu_layers)
    ctx = engine_llama.Context(model, 1024, 512, None)
    try:
        width = len(native.target_layer_ids(model.ptr)) * model.n_embd
        ctx.decode_embeddings(np.zeros((PREFIX, width), dtype=np.float32), 0)
        yield model, ctx, native.mask_token(model.vocab_ptr)
    finally:
        ctx.close()
        model.close()


def time_blocks(path: str, n_gpu_layers: int, sizes=SIZES, reps: int = REPS) -> dict:
    """Median milliseconds of a block decode of n positions (launch to logits on the host), repeated."""
    with _injected(path, n_gpu_layers) as (model, ctx, mask):
        if read_spec(model).has_confidence:  # its output read as the engine reads it
            native.set_nextn_output(ctx.ptr, True, masked=True)
        out = {}
        for n in sizes:
            block = np.full(n, mask, dtype=np.int32)
            seen = []
            for _ in range(reps):
                t0 = time.perf_counter()
                ctx.decode(block, PREFIX, "all")
                seen.append(time.perf_counter() - t0)
                ctx.remove_from(PREFIX)
            out[n] = round(1e3 * statistics.median(seen[2:]), 4)
        return out


def profile_one_block(path: str, n: int, n_gpu_layers: int) -> None:
    """One warm block decode of n positions between cuProfilerStart and Stop, for Nsight Compute's per-kernel
    durations (`ncu --profile-from-start off`); everything before it (loading, injection, warm-up) stays out."""
    import ctypes

    driver = ctypes.CDLL("libcuda.so.1")  # the driver's profiler switch: the context ggml made current is used
    with _injected(path, n_gpu_layers) as (_, ctx, mask):
        block = np.full(n, mask, dtype=np.int32)
        for _ in range(3):
            ctx.decode(block, PREFIX, "all")
            ctx.remove_from(PREFIX)
        driver.cuProfilerStart()
        ctx.decode(block, PREFIX, "all")
        driver.cuProfilerStop()


def slope(ms: dict[int, float], lo: int = 2) -> tuple[float, float]:
    """(ms per position, ms at zero positions) by least squares over the sizes from `lo` on."""
    ns = np.array([n for n in ms if n >= lo], dtype=float)
    ys = np.array([ms[n] for n in ms if n >= lo], dtype=float)
    per, base = np.polyfit(ns, ys, 1)
    return float(per), float(base)


def measure(paths: dict[str, str], n_gpu_layers: int, rank: int) -> dict:
    rows = {}
    for name, path in paths.items():
        ms = time_blocks(path, n_gpu_layers)
        per, base = slope(ms)
        rows[name] = {"block_ms": ms, "ms_per_position": round(per, 4), "ms_base": round(base, 4)}
    per = {name: row["ms_per_position"] for name, row in rows.items()}
    if len(per) < 4:  # some variants only: no decomposition
        return {"variants": rows}
    parts = {
        "layers, LM head and logits copy": per["dflash"],
        "Markov chain at rank 16 (bias product over the vocabulary, argmax, add, concatenations)":
            per["rank-16"] - per["dflash"],
        f"rank {rank} against 16 (the bias product's extra width)": per["dspark"] - per["rank-16"],
        "confidence head": per["dspark"] - per["no-confidence"],
    }
    return {"variants": rows, "ms_per_position_by_part": {k: round(v, 4) for k, v in parts.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_block_parts", description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="where the variant drafters are written (or found)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gpu")
    ap.add_argument("--n-gpu-layers", type=int, default=99)
    ap.add_argument("--variants", nargs="+", choices=["dspark", "no-confidence", "rank-16", "dflash"],
                    help="time only these (default all four; the decomposition needs all four)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--kernels", type=int, metavar="N",
                    help="run one block of N positions of the DSpark variant for a profiler (see above), nothing else")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = write(args.folder, args.shape, args.variants)
    print(f"files written in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.kernels:
        profile_one_block(paths.get("dspark") or next(iter(paths.values())), args.kernels, args.n_gpu_layers)
        return 0
    res = {"shape": args.shape, "n_gpu_layers": args.n_gpu_layers,
           "cuda_graphs": engine_llama.cuda_graphs_enabled(), **measure(paths, args.n_gpu_layers, SHAPES[args.shape].dspark.markov_rank)}
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
