"""Synthetic successor-chain files for the GPU benchmark: an 8B-shape target, 1B-shape model drafters and DSpark
drafters, one of each per alpha, plus the prompts that go with them (manifest.json).

Why a module of its own: it needs no llama.cpp until quantizing, so the F16 files can be written while llama.cpp
is still compiling on the benchmark machine, and quantized once the library exists.

    python -m benchmarks.gpu_files --folder /data/pair              # F16 files only
    python -m benchmarks.gpu_files --folder /data/pair --quant Q4_K_M
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.tools import synth

ALPHAS = (0.0, 0.6, 0.8, 0.9)
CHAIN_SEED = 11
DRAFTER_SEED = 5
PROMPT_WORDS = 200  # prompt length of the drafter rows (tokens after BOS)
NGRAM_WALK = 400  # the n-gram prompt: a chain walk of this many tokens, then its first NGRAM_REPEAT again
NGRAM_REPEAT = 16


@dataclass(frozen=True)
class Shapes:
    target: synth.LlamaShape
    drafter: synth.LlamaShape
    dspark: synth.DFlashShape
    vocab: int


SHAPES = {
    # Llama-3-8B / Llama-3.2-1B shapes with Llama 3's vocabulary size; a 3-layer DSpark drafter at full width.
    "gpu": Shapes(synth.SHAPE_8B, synth.SHAPE_1B, synth.DSPARK_8B, 128256),
    "tiny": Shapes(synth.TINY, synth.TINY, synth.DSPARK_TINY, 32000),
    # tiny layers with the GPU files' vocabulary: a CPU proxy for the host's share of a round (its argmaxes and
    # softmaxes run over 128256 logits per row, as on the GPU)
    "host": Shapes(synth.TINY, synth.TINY, synth.DSPARK_TINY, 128256),
}


# -- files ----------------------------------------------------------------------------------------------------


def tag(alpha: float) -> str:
    return f"a{int(round(alpha * 100)):03d}"


def build_files(folder: Path, shapes: Shapes, alphas, quant: str | None, keep_f16: bool, log,
                jobs: int | None = None) -> dict:
    """Write the F16 files (once), then quantize the target and model drafters to `quant` (once).

    DSpark drafters stay F16: they are small next to the target and released ones ship unquantized."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    if manifest is None or not all(tag(a) in manifest["model_drafters"] for a in alphas):
        manifest = write_f16(folder, shapes, alphas, log, jobs)
        manifest_path.write_text(json.dumps(manifest, indent=1))
    if quant and manifest["quant"] != quant:
        from dspark_chat.engine.llama import quantize  # loads llama.cpp: only now

        def requant(src: str, name: str) -> str:
            src_p = Path(src)
            dst = src_p.with_name(f"{src_p.stem}-{quant.lower()}.gguf")
            t0 = time.perf_counter()
            quantize(src_p, dst, quant)
            manifest["build_s"][f"quantize {name}"] = round(time.perf_counter() - t0, 2)
            log(f"quantize {name}: {manifest['build_s'][f'quantize {name}']} s")
            if not keep_f16:
                src_p.unlink()
            return str(dst)

        manifest["target"] = requant(manifest["target"], "target")
        for key, path in list(manifest["model_drafters"].items()):
            manifest["model_drafters"][key] = requant(path, f"drafter {key}")
        manifest["quant"] = quant
        manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def _timed_build(name: str, build, *args, **kwargs) -> tuple[str, str, float]:
    t0 = time.perf_counter()
    path = build(*args, **kwargs)
    return name, str(path), round(time.perf_counter() - t0, 2)


def write_f16(folder: Path, shapes: Shapes, alphas, log, jobs: int | None = None) -> dict:
    """Every file in a process of its own: the files are independent, and on the benchmark machine this runs
    while llama.cpp compiles, so it only has to be done by the time the build is (9 files: ~2 minutes in parallel
    against ~7 in turn)."""
    tok = synth.synthetic_tokenizer(shapes.vocab)
    chain = synth.SuccessorChain.for_tokenizer(tok, CHAIN_SEED, words_only=True)
    target_path = folder / "chain-target.gguf"
    # what a DSpark drafter needs to know of its target, without waiting for the target's file to exist
    target_info = synth.TargetInfo(target_path, "llama", shapes.target.n_embd, shapes.target.n_layer, tok,
                                   chain.seed)
    tasks = [("write target", synth.build_llama, (target_path, shapes.target, tok),
              {"seed": CHAIN_SEED, "chain": chain})]
    for a in alphas:
        dchain = chain.drafter(a, DRAFTER_SEED)
        tasks.append((f"write dspark {tag(a)}", synth.build_dflash,
                      (folder / f"chain-dspark-{tag(a)}.gguf", target_info, shapes.dspark),
                      {"seed": DRAFTER_SEED, "chain": dchain}))
        tasks.append((f"write drafter {tag(a)}", synth.build_llama,
                      (folder / f"chain-drafter-{tag(a)}.gguf", shapes.drafter, tok),
                      {"seed": DRAFTER_SEED, "chain": dchain}))
    workers = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    timings: dict[str, float] = {}
    paths: dict[str, str] = {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_timed_build, name, fn, *args, **kw) for name, fn, args, kw in tasks]
        for fut in as_completed(futures):
            name, path, seconds = fut.result()
            timings[name], paths[name] = seconds, path
            log(f"{name}: {seconds} s")
    target = paths["write target"]
    dspark = {tag(a): paths[f"write dspark {tag(a)}"] for a in alphas}
    drafters = {tag(a): paths[f"write drafter {tag(a)}"] for a in alphas}
    rng = np.random.default_rng(3)
    words = np.unique(chain.next_id)  # the cycle: whole-word tokens only
    walk = [int(rng.choice(words))]
    for _ in range(NGRAM_WALK - 1):
        walk.append(int(chain.next_id[walk[-1]]))
    return {
        "shapes": {"target": shapes.target.__dict__, "drafter": shapes.drafter.__dict__,
                   "dspark": dict(shapes.dspark.__dict__), "vocab": shapes.vocab},
        "quant": None, "target": str(target), "model_drafters": drafters, "dspark_drafters": dspark,
        "prompt_ids": [int(t) for t in rng.choice(words, PROMPT_WORDS)],
        "ngram_ids": walk + walk[:NGRAM_REPEAT],
        "build_s": timings,
    }


def probe_parser(module: str, doc: str, tag_default: str, tag_help: str) -> argparse.ArgumentParser:
    """The arguments of every probe that runs on these files: their folder, which drafters, GPU layers, --out."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="files of benchmarks.gpu_files (manifest.json)")
    ap.add_argument("--alpha-tag", default=tag_default, help=tag_help)
    ap.add_argument("--n-gpu-layers", type=int, default=99)
    ap.add_argument("--out", type=Path)
    return ap


def read_manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())


def report(result: dict, out: Path | None) -> None:
    """A probe's result as JSON on stdout, and in `out` when given."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        out.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_files", description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gpu")
    ap.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    ap.add_argument("--quant", help="quantize target and model drafters, e.g. Q4_K_M (needs llama.cpp)")
    ap.add_argument("--keep-f16", action="store_true")
    ap.add_argument("--jobs", type=int, help="files written at once (default: one per core, at most one per file)")
    args = ap.parse_args(argv)
    t0 = time.time()
    build_files(args.folder, SHAPES[args.shape], tuple(args.alphas), args.quant, args.keep_f16,
                lambda m: print(f"[{time.time() - t0:7.1f}s] {m}", flush=True), args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
