"""How fast does the host read a verify's logits right after the GPU copied them? np.argmax against two max reductions.

Greedy verification takes an argmax of each verified row (128256 logits). On this project's CPU VM, rows just
written by llama.cpp's CPU backend are still in cache and np.argmax reads one in 0.01 ms; rows out of cache take
0.05-0.06 ms, where a check by two max reductions (`row[:x].max() < row[x] >= row[x:].max()`) is 10-20% faster.
On a GPU host the rows arrive by DMA into pinned memory, as llama.cpp's CUDA backend copies them. This probe needs
only the CUDA runtime (no llama.cpp build): it copies five random rows to the device once, then per trial copies
them back into pinned host memory (cudaMemcpy, synchronous) and times both checks over four rows, alternating
which goes first, and the same with pageable memory and with rows already in cache. Without CUDA it times rows
pushed out of the caches and rows in cache.
On an H200 host (docs/benchmarks.md run S) np.argmax won on pinned rows (0.147 against 0.162 ms for four rows),
where llama.cpp's CUDA backend puts its logits.

    python -m benchmarks.gpu_argmax_cold --out argmax-cold.json
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import json
import statistics
import time

import numpy as np

ROWS, VOCAB, CHECKED = 5, 128256, 4
D2H, H2D = 2, 1  # cudaMemcpyKind


def cudart() -> ctypes.CDLL | None:
    names = [ctypes.util.find_library("cudart")] + sorted(glob.glob("/usr/local/cuda*/lib64/libcudart.so*"))
    for name in filter(None, names):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None  # a CPU host: only the rows out of cache and in cache are timed


def by_argmax(rows: np.ndarray, drafts: list[int]) -> int:
    return sum(int(rows[i].argmax()) == x for i, x in enumerate(drafts))


def by_max(rows: np.ndarray, drafts: list[int]) -> int:
    kept = 0
    for i, x in enumerate(drafts):
        row, v = rows[i], rows[i, x]
        kept += bool((x == 0 or row[:x].max() < v) and row[x:].max() <= v)
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rt = cudart()
    n_bytes = ROWS * VOCAB * 4
    src = np.random.default_rng(0).normal(0, 3, (ROWS, VOCAB)).astype(np.float32)
    drafts = [int(r.argmax()) for r in src[:CHECKED]]  # every check passes: the rows are read to the end
    flush = np.ones(64 << 20, np.uint8)  # 64 MB read between trials pushes earlier rows out of the caches
    pageable_rows = src.copy()
    cases = [("out of cache", pageable_rows, True), ("in cache", pageable_rows, False)]
    dev, pinned = ctypes.c_void_p(), ctypes.c_void_p()
    if rt is not None and rt.cudaMalloc(ctypes.byref(dev), ctypes.c_size_t(n_bytes)) != 0:
        rt = None  # a CUDA runtime without a usable GPU
    if rt is not None:
        assert rt.cudaMallocHost(ctypes.byref(pinned), ctypes.c_size_t(n_bytes)) == 0
        assert rt.cudaMemcpy(dev, src.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(n_bytes), H2D) == 0
        pinned_rows = np.ctypeslib.as_array(ctypes.cast(pinned, ctypes.POINTER(ctypes.c_float)), (ROWS, VOCAB))
        cases[:1] = [("pinned, just copied", pinned_rows, True), ("pageable, just copied", pageable_rows, True)]

    def refresh(buf: np.ndarray) -> None:
        flush.sum()
        if rt is not None:
            assert rt.cudaMemcpy(buf.ctypes.data_as(ctypes.c_void_p), dev, ctypes.c_size_t(n_bytes), D2H) == 0

    result = {}
    for name, buf, fresh in cases:
        times = {"argmax": [], "max": []}
        for trial in range(args.trials):
            order = (("argmax", by_argmax), ("max", by_max))[:: 1 if trial % 2 else -1]
            for key, check in order:
                if fresh:
                    refresh(buf)
                else:
                    check(buf, drafts)  # a warm read first: the timed one finds the rows in cache
                t0 = time.perf_counter()
                assert check(buf, drafts) == CHECKED
                times[key].append(1e3 * (time.perf_counter() - t0))
        result[name] = {k: round(statistics.median(v), 4) for k, v in times.items()}
        print(f"{name:22s} ms for {CHECKED} rows: argmax {result[name]['argmax']:.3f}  two max {result[name]['max']:.3f}")
    with open(args.out, "w") as f:
        json.dump({"cuda": rt is not None, "rows": CHECKED, "vocab": VOCAB, "trials": args.trials,
                   "median_ms": result}, f, indent=1)


if __name__ == "__main__":
    main()
