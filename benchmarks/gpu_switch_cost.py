"""What a switch of the target's feature copy costs: the decodes right after it against steady steps.

A native DSpark drafter reads the inputs of a few target layers; the target keeps them only while it copies them
(`llama_set_embeddings_layer_inp`), and the engine turns that copy off while the drafter is not drafting. Stock
llama.cpp re-plans the context's whole graph memory at each switch (16-20 ms an H100 decode in run M);
packaging/patch_feature_switch.py only rebuilds the next graph. This times one-token target decodes: steady with
the copy off and on, and the first and second decode after each switch, in one process (the patch reads
DSPARK_CHEAP_FEATURE_SWITCH once per process: run it once per setting to compare them on one build).

    python -m benchmarks.gpu_switch_cost --folder /data/pair --out switch.json
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import os
import statistics
import time

from benchmarks import gpu_files
from dspark_chat.engine import dflash_bindings as native
from dspark_chat.engine import llama as engine_llama

PREFIX = 200  # tokens in the KV cache, like the benchmark's prompt
FILLER = 5
STEADY = 10  # steps between switches


def measure(target: str, dspark_drafter: str, n_gpu_layers: int, cycles: int = 12) -> dict:
    drafter = engine_llama.Model(dspark_drafter, n_gpu_layers=0)
    layers = native.target_layer_ids(drafter.ptr)
    drafter.close()
    model = engine_llama.Model(target, n_gpu_layers=n_gpu_layers)
    ctx = engine_llama.Context(model, 4096, 512)
    try:
        ctx.decode([FILLER] * PREFIX, 0, "none")
        pos = PREFIX

        def step() -> float:
            nonlocal pos
            t0 = time.perf_counter()
            ctx.decode([FILLER], pos, "last")
            pos += 1
            return 1e3 * (time.perf_counter() - t0)

        times: dict[str, list[float]] = {"steady_off": [], "steady_on": [], "first_after_switch": [],
                                         "second_after_switch": []}
        on = False
        for _ in range(2 * cycles):
            on = not on
            for layer in layers:
                native.set_layer_input_output(ctx.ptr, layer, on)
            times["first_after_switch"].append(step())
            times["second_after_switch"].append(step())
            for _ in range(STEADY):
                times["steady_on" if on else "steady_off"].append(step())
        ms = {name: statistics.median(v) for name, v in times.items()}
        steady = statistics.median(times["steady_on"] + times["steady_off"])
        return {"cheap_switch_env": os.environ.get("DSPARK_CHEAP_FEATURE_SWITCH"), "layers": layers,
                "median_ms": ms,
                "switch_extra_ms": ms["first_after_switch"] + ms["second_after_switch"] - 2.0 * steady}
    finally:
        ctx.close(), model.close()


def main(argv=None) -> int:
    ap = gpu_files.probe_parser("benchmarks.gpu_switch_cost", __doc__, "a000", "whose target layers are copied")
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    gpu_files.report(measure(manifest["target"], manifest["dspark_drafters"][args.alpha_tag], args.n_gpu_layers),
                     args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
