"""Can the drafter run while the target verifies? Times one verify batch and j drafter steps, serial and overlapped.

Why: an autoregressive drafter costing a third of a target step caps what speculation can gain (docs/benchmarks.md).
llama_decode only launches work on GPU backends and each context has its own stream, so the drafter could draft the
next block while the target verifies this one, if the device runs the two side by side. This measures whether it
does, on the benchmark's files, before the engine is built around it:

  serial      target.decode(n) then j drafter steps (decode 1 token, read its argmax)
  overlapped  target.submit(n), the same j drafter steps, then target.result()

    python -m benchmarks.gpu_overlap --folder /tmp/gw/files --out /tmp/gw/out/overlap.json
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  isort: skip  (before numpy: see gpu_bench.py)

import argparse
import json
import statistics
import time
from pathlib import Path

from dspark_chat.engine import llama as engine_llama
from .gpu_files import tag

PREFIX = 256
REPS = 15


def measure(target_path: str, drafter_path: str, ngl: int, ns=(1, 3, 5, 9), js=(1, 2, 3, 4, 6)) -> dict:
    tm = engine_llama.Model(target_path, n_gpu_layers=ngl)
    dm = engine_llama.Model(drafter_path, n_gpu_layers=ngl)
    t = engine_llama.Context(tm, 2048, 512)
    d = engine_llama.Context(dm, 2048, 512)
    filler = tm.tokenize(" a", add_special=False)[-1]
    try:
        for ctx in (t, d):
            ctx.decode([filler] * PREFIX, 0, "none")
            ctx.decode([filler], PREFIX, "last")

        def drafter_steps(j):
            x = filler
            for i in range(j):
                x = int(d.decode([x], PREFIX + 1 + i, "last")[0].argmax())
            d.remove_from(PREFIX + 1)

        def verify(n):
            t.decode([filler] * n, PREFIX + 1, "all")
            t.remove_from(PREFIX + 1)

        def overlapped(n, j):
            t.submit([filler] * n, PREFIX + 1, "all")
            drafter_steps(j)
            t.result()
            t.remove_from(PREFIX + 1)

        def timed(fn, *args):
            fn(*args)  # warm-up: a new batch shape
            times = []
            for _ in range(REPS):
                t0 = time.perf_counter()
                fn(*args)
                times.append(time.perf_counter() - t0)
            return 1e3 * statistics.median(times)

        verify_ms = {n: timed(verify, n) for n in ns}
        draft_ms = {j: timed(drafter_steps, j) for j in js}
        rows = []
        for n in ns:
            for j in js:
                both = timed(overlapped, n, j)
                serial = verify_ms[n] + draft_ms[j]
                rows.append({"n": n, "j": j, "verify_ms": verify_ms[n], "draft_ms": draft_ms[j],
                             "serial_ms": serial, "overlapped_ms": both,
                             "max_ms": max(verify_ms[n], draft_ms[j]),
                             "hidden_share": (serial - both) / min(verify_ms[n], draft_ms[j])})
        return {"prefix": PREFIX, "reps": REPS, "verify_ms": verify_ms, "draft_steps_ms": draft_ms, "rows": rows}
    finally:
        t.close()
        d.close()
        tm.close()
        dm.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_overlap", description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="the gpu_bench files (manifest.json)")
    ap.add_argument("--alpha", type=float, default=0.8, help="which model drafter to load")
    ap.add_argument("--n-gpu-layers", type=int, default=99)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    manifest = json.loads((args.folder / "manifest.json").read_text())
    res = measure(manifest["target"], manifest["model_drafters"][tag(args.alpha)], args.n_gpu_layers)
    for r in res["rows"]:
        print(f"n={r['n']:2d} j={r['j']} verify {r['verify_ms']:.2f} ms, drafter {r['draft_ms']:.2f} ms: serial "
              f"{r['serial_ms']:.2f}, overlapped {r['overlapped_ms']:.2f} (max {r['max_ms']:.2f}), "
              f"hidden {100 * r['hidden_share']:.0f}% of the shorter")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
