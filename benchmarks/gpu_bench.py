"""GPU benchmark: dspark-chat against plain decoding and llama.cpp's own speculative decoding, at realistic shapes.

Why: no real weights reach a GPU box without network, so this builds synthetic successor-chain files of real
shape (an 8B-shape target, a 1B-shape model drafter and a DSpark drafter, tests/tools/synth.py) whose greedy
acceptance is alpha by construction, then measures on the same files, prompt and token count:
  * plain decoding and dspark-chat (model drafter, native DSpark drafter, n-gram drafter on a repetitive prompt):
    tokens/s, acceptance, mean accepted length, the scheduler's choices, Python time per round outside
    llama_decode, and whether the output equals plain decoding's (lossless at real shapes);
  * llama.cpp's `llama-speculative-simple` with its default settings and a sweep for its best ones, and
    `llama-bench` for llama.cpp's own plain speed;
  * the target's verify cost curve T_verify(n), n = 1..32.

    python -m benchmarks.gpu_bench all --folder /data/pair --llama-bin build/bin --out results/ --n-gpu-layers 99
    python -m benchmarks.gpu_bench all --folder /tmp/p --shape tiny --out /tmp/r     # CPU smoke test

Costs on such files are real; acceptance of real text is not (see docs/benchmarks.md).
"""

from __future__ import annotations

# llama.cpp before numpy: with a CUDA build, loading libllama after numpy crashed model loads (std::ostream
# inside llama_model::print_info resolved into libggml-cuda's copy of libstdc++ code), see docs/benchmarks.md.
import llama_cpp  # isort: skip

import argparse
import dataclasses
import faulthandler
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path

from dspark_chat.app.options import on_off
from dspark_chat.engine import device_argmax
from dspark_chat.engine import llama as engine_llama
from dspark_chat.engine.events import Done, Step, collect
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.session import GenerateParams
from .gpu_files import ALPHAS, PROMPT_WORDS, SHAPES, build_files, tag

GREEDY = SamplingParams(temperature=0.0)
CURVE_PREFIX = 256  # tokens in the KV cache while timing T_verify(n)
CURVE_MAX = 32
CURVE_REPS = 7
PIPELINED = {"auto": (None,), "on": (True,), "off": (False,), "ab": (False, True)}  # --pipelined: model, DSpark


def ids_to_text(model, ids) -> str:
    # the tokenizer adds the leading word marker itself (add_space_prefix)
    return model.detokenize(ids).lstrip(" ")


# -- timing llama_decode from outside --------------------------------------------------------------------------


class DecodeClock:
    """Wraps llama_cpp.llama_decode (what engine/llama.py calls) to time each decode to completion.

    The wrapper waits for the device (llama_synchronize) so the time is the decode's, not its launch's; it is
    installed only for the instrumented runs, never for the tokens/s runs."""

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        self._orig = None

    def __enter__(self):
        orig = self._orig = llama_cpp.llama_decode
        sync = llama_cpp.llama_synchronize

        def timed(ctx, batch):
            t0 = time.perf_counter()
            rc = orig(ctx, batch)
            sync(ctx)
            self.spans.append((t0, time.perf_counter() - t0))
            return rc

        llama_cpp.llama_decode = timed
        return self

    def __exit__(self, *exc):
        llama_cpp.llama_decode = self._orig

    def inside(self, t_from: float, t_to: float) -> tuple[float, int]:
        spans = [d for t, d in self.spans if t_from <= t <= t_to]
        return sum(spans), len(spans)


class HostClock:
    """Times llama.cpp's calls as the engine makes them, without waiting for the device: decode launches and the
    waits for logits. The rest of the decode loop is the host's time outside llama.cpp as the engine really runs
    (no decode made synchronous). Host work that the device overlaps still counts in full: it shortens the next
    wait, not the time outside the calls."""

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        self._saved = None

    def _timed(self, fn):
        def timed(*args):
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.spans.append((t0, time.perf_counter() - t0))
        return timed

    def inside(self, t_from: float, t_to: float) -> float:
        return sum(d for t, d in self.spans if t_from <= t <= t_to)

    def __enter__(self):
        # the waits for the device: for logits, or for the tokens a device argmax took (engine/device_argmax.py)
        self._saved = llama_cpp.llama_decode, engine_llama._get_logits_address, device_argmax._sampled_token
        llama_cpp.llama_decode = self._timed(self._saved[0])
        engine_llama._get_logits_address = self._timed(self._saved[1])
        device_argmax._sampled_token = self._timed(self._saved[2])
        return self

    def __exit__(self, *exc):
        llama_cpp.llama_decode, engine_llama._get_logits_address, device_argmax._sampled_token = self._saved


# -- dspark-chat --------------------------------------------------------------------------------------------


def generate(session, prompt, max_tokens) -> tuple[Done, list[Step]]:
    return collect(session.generate(prompt, GenerateParams(max_tokens, GREEDY)))


def python_row(target: str, drafter: str | None, prompt: list[int], max_tokens: int, options: PairOptions,
               reps: int, shapes: str = "auto") -> dict:
    """Plain and speculative decoding of one prompt on one pair, from one process and one KV cache.

    shapes: "auto" keeps the engine's own choice of decode shapes; "varying" turns off the DSpark drafter's
    fixed shapes and the model drafter's one-token catch-up (an A/B of that choice in one run)."""
    with Pair(target, drafter, options) as pair:
        if shapes == "varying" and pair.mode in ("dspark", "dflash"):
            pair.drafter.fixed_shapes = False
        elif shapes == "varying" and pair.mode == "model":
            pair.drafter.cost.shape_change = 0.0
        plain_s, spec_s = pair.plain_session(), pair.session()
        generate(plain_s, prompt, 32)  # warm-up: allocations, CUDA graphs
        generate(spec_s, prompt, max_tokens)  # warm-up and a first calibration, as a returning user has
        plain_tps, spec_tps = [], []
        plain_done = None
        identical = True
        for _ in range(reps):
            plain_done, _ = generate(plain_s, prompt, max_tokens)
            plain_tps.append(plain_done.stats.tokens_per_s)
        traces = []
        for _ in range(reps):
            done, steps = generate(spec_s, prompt, max_tokens)
            spec_tps.append(done.stats.tokens_per_s)
            traces.append(round_trace(steps))
            identical &= done.tokens == plain_done.tokens
        st = done.stats
        drafting = [s for s in steps if s.drafted]
        reached = sum(min(s.verified, s.accepted + 1) for s in steps)
        with DecodeClock() as clock:
            d2, _ = generate(spec_s, prompt, max_tokens)
            p2, _ = generate(plain_s, prompt, max_tokens)
        unused = getattr(pair.drafter, "launched_unused", 0)
        with HostClock() as host:
            d3, _ = generate(spec_s, prompt, max_tokens)
        unused = getattr(pair.drafter, "launched_unused", 0) - unused
        s2, s3 = d2.stats, d3.stats
        in_llama = host.inside(s3.t_decode_start, s3.t_end)
        in_dec, n_dec = clock.inside(s2.t_decode_start, s2.t_end)
        p_in, _ = clock.inside(p2.stats.t_decode_start, p2.stats.t_end)
        row = {
            "mode": pair.mode,
            "device_argmax": pair.target_ctx.rows_argmax is not None,  # the target's greedy tokens from the GPU
            "plain_tps": statistics.median(plain_tps),
            "dspark_tps": statistics.median(spec_tps),
            "plain_tps_runs": plain_tps, "dspark_tps_runs": spec_tps,
            "identical_to_plain": identical and d2.tokens == plain_done.tokens,
            "tokens": st.tokens, "rounds": st.rounds, "spec_rounds": st.spec_rounds,
            "drafted": st.drafted, "verified": st.verified, "accepted": st.accepted,
            "acceptance_rate": st.acceptance_rate,
            "alpha_measured": st.accepted / reached if reached else None,
            "mean_accepted_len": st.mean_accepted_len,
            "tokens_per_round": st.tokens_per_round,
            "draft_ms_per_drafting_round": 1e3 * st.draft_s / len(drafting) if drafting else None,
            "verify_ms_per_round": 1e3 * st.verify_s / st.rounds if st.rounds else None,
            "scheduler_verified_k": dict(sorted(Counter(s.verified for s in steps).items())),
            "scheduler_drafted_n": dict(sorted(Counter(s.drafted for s in steps).items())),
            "round_traces": traces,
            "round_ms": 1e3 * s2.decode_seconds / s2.rounds,
            "python_ms_per_round": 1e3 * (s2.decode_seconds - in_dec) / s2.rounds,
            "python_share": (s2.decode_seconds - in_dec) / s2.decode_seconds,
            # the host's time outside llama.cpp's calls without synchronous decodes (HostClock; overlapped included)
            "host_ms_per_round": 1e3 * (s3.decode_seconds - in_llama) / s3.rounds,
            "host_share": (s3.decode_seconds - in_llama) / s3.decode_seconds,
            # what the GPU does not hide, estimated: a round of the last tokens/s run (nothing waited for) less a
            # round's time inside the instrumented run's waited-for decodes (docs/benchmarks.md run N)
            "host_unhidden_ms_per_round": 1e3 * (st.decode_seconds / st.rounds - in_dec / s2.rounds),
            "host_unhidden_share": 1.0 - (in_dec / s2.rounds) / (st.decode_seconds / st.rounds),
            "decodes_per_round": n_dec / s2.rounds,
            "plain_python_ms_per_token": 1e3 * (p2.stats.decode_seconds - p_in) / max(1, p2.stats.rounds),
            "target_ms_verify_1": 1e3 * pair.verify_cost(1),
            "target_ms_verify_9": 1e3 * pair.verify_cost(9),
            "target_ms_verify_17": 1e3 * pair.verify_cost(17),
            "text": plain_done.text,
        }
        drafter_obj = pair.drafter
        if row["mode"] in ("dspark", "dflash"):
            row["drafter_ms_block_16"] = 1e3 * drafter_obj.block_cost(16)
            row["drafter_ms_inject_1"] = 1e3 * drafter_obj.inject_cost(1)
            row["feature_capture_switches"] = drafter_obj.capture_switches
            row["fixed_shapes"] = drafter_obj.fixed_shapes
            row["pipelined"] = drafter_obj.pipelined  # blocks launched ahead of their round (launch-ahead)
            row["launched_ahead_collected"] = drafter_obj.launched_collected
            row["launched_ahead_abandoned"] = drafter_obj.launched_abandoned
            row["graph_tokens_blocks"] = drafter_obj.graph_tokens  # drafts read from a patched graph (no argmax)
        elif row["mode"] == "model":
            row["drafter_ms_per_token"] = 1e3 * drafter_obj.cost(1)
            row["drafter_ms_shape_change"] = 1e3 * drafter_obj.cost.shape_change
            row["catch_up_2_split"] = drafter_obj._split_catch_up(2)
            row["pipelined"] = drafter_obj.pipelined
            row["launched_unused_per_round"] = unused / max(1, s3.rounds)
        return row


def round_trace(steps) -> str:
    """Each round of a generation as one character: '.' a plain step, 'o' drafts all cut before verifying,
    1-9 the drafts verified, '+' ten or more (when drafting stopped and resumed, at a glance)."""
    def char(step) -> str:
        if not step.verified:
            return "o" if step.drafted else "."
        return str(step.verified) if step.verified < 10 else "+"
    return "".join(char(step) for step in steps)


def verify_curve(target: str, n_gpu_layers: int, n_ctx: int, threads: int | None, n_max: int) -> dict:
    """T_verify(n): one decode of n tokens, logits for all, after CURVE_PREFIX tokens; median of CURVE_REPS."""
    model = engine_llama.Model(target, n_gpu_layers=n_gpu_layers)
    ctx = engine_llama.Context(model, n_ctx, 512, threads)
    try:
        filler = model.tokenize(" a", add_special=False)[-1]
        ctx.decode([filler] * CURVE_PREFIX, 0, "none")
        ctx.decode([filler], CURVE_PREFIX, "all")
        ctx.remove_from(CURVE_PREFIX)
        out = {}
        for n in range(1, n_max + 2):
            times = []
            for _ in range(CURVE_REPS):
                t0 = time.perf_counter()
                ctx.decode([filler] * n, CURVE_PREFIX, "all")
                times.append(time.perf_counter() - t0)
                ctx.remove_from(CURVE_PREFIX)
            out[n] = 1e3 * statistics.median(times)
        return {"prefix": CURVE_PREFIX, "ms": out, "relative": {n: t / out[1] for n, t in out.items()}}
    finally:
        ctx.close()
        model.close()


# -- llama.cpp ----------------------------------------------------------------------------------------------

SPEED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s")
COUNTS = {k: re.compile(rf"{k}\s*=\s*([\d.]+)") for k in ("n_draft", "n_predict", "n_drafted", "n_accept")}


def llamacpp_spec(bin_dir: Path, target: str, drafter: str | None, prompt_text: str, n: int, ngl: int,
                  extra: list[str], ctx: int) -> dict:
    cmd = [str(bin_dir / "llama-speculative-simple"), "-m", target, "-p", prompt_text, "-n", str(n),
           "--temp", "0", "-ngl", str(ngl), "-c", str(ctx), "--seed", "1", *extra]
    if drafter:
        cmd += ["-md", drafter, "-ngld", str(ngl)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300)
    log = proc.stdout + proc.stderr
    res = {"args": extra, "rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 2)}
    m = SPEED.search(log)
    if proc.returncode != 0 or not m:
        res["error"] = log[-1500:]
        return res
    res["tokens"], res["tps"] = int(m.group(1)), float(m.group(3))
    for k, rx in COUNTS.items():
        mm = rx.search(log)
        if mm:
            res[k] = float(mm.group(1))
    if res.get("n_drafted"):
        res["acceptance_rate"] = res["n_accept"] / res["n_drafted"]
    res["stdout"] = proc.stdout
    res["log_tail"] = proc.stderr[-2500:]  # llama.cpp's own statistics, kept for a second look
    return res


def llamacpp_bench(bin_dir: Path, target: str, n: int, ngl: int) -> dict:
    cmd = [str(bin_dir / "llama-bench"), "-m", target, "-p", "0", "-n", str(n), "-d", str(PROMPT_WORDS),
           "-ngl", str(ngl), "-r", "3", "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300)
    try:
        data = json.loads(proc.stdout)
        return {"tps": data[0]["avg_ts"], "args": cmd[2:]}
    except (ValueError, KeyError, IndexError):
        return {"error": (proc.stdout + proc.stderr)[-1500:], "args": cmd[2:]}


def sweep_llamacpp(bin_dir, target, drafter, text, n, ngl, ctx, configs, our_text, deadline) -> dict:
    runs = []
    for extra in configs:
        if time.time() > deadline and runs:
            break
        r = llamacpp_spec(bin_dir, target, drafter, text, n, ngl, extra, ctx)
        out = r.pop("stdout", "")
        r["same_text_as_plain"] = bool(our_text) and our_text.strip()[:300] in out
        runs.append(r)
    ok = [r for r in runs if "tps" in r]
    best = max(ok, key=lambda r: r["tps"]) if ok else None
    return {"default": runs[0] if runs else None, "best": best, "runs": runs}


# A plain llama drafter needs its type named: without --spec-type the tool finds no speculative type for it and
# stops ("failed to initialize speculative decoding"). The first entry is llama.cpp's default (n_max 3, p_min 0).
_SIMPLE, _DSPARK = ["--spec-type", "draft-simple"], ["--spec-type", "draft-dspark"]
MODEL_CONFIGS = [_SIMPLE] + [_SIMPLE + c for c in (
    ["--spec-draft-n-max", "2"], ["--spec-draft-n-max", "5"], ["--spec-draft-n-max", "8"],
    ["--spec-draft-n-max", "16"], ["--spec-draft-n-max", "16", "--spec-draft-p-min", "0.75"])]
# Shorter blocks too: near alpha 0.6 a DSpark drafter's expected run is about two tokens, where n_max 2-4 may win.
DSPARK_CONFIGS = [_DSPARK] + [_DSPARK + c for c in (
    ["--spec-draft-n-max", "2"], ["--spec-draft-n-max", "4"], ["--spec-draft-n-max", "4", "--spec-draft-p-min", "0.5"],
    ["--spec-draft-n-max", "8"], ["--spec-draft-n-max", "16"], ["--spec-draft-n-max", "16", "--spec-draft-p-min", "0.5"],
    ["--spec-draft-n-max", "8", "--spec-draft-p-min", "0.5"])]
# Every n-gram type at its defaults (they draft up to 48-64 tokens), then shorter lookup keys, which match sooner.
NGRAM_CONFIGS = [["--spec-type", "ngram-simple"], ["--spec-type", "ngram-mod"], ["--spec-type", "ngram-map-k"],
                 ["--spec-type", "ngram-cache"],
                 ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "4", "--spec-ngram-simple-size-m", "32"],
                 ["--spec-type", "ngram-mod", "--spec-ngram-mod-n-match", "8"]]


# -- the whole run ------------------------------------------------------------------------------------------


def run_all(args) -> dict:
    t_start = time.time()
    deadline = t_start + args.budget_s
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    shapes = SHAPES[args.shape]
    alphas = tuple(args.alphas)
    manifest = build_files(Path(args.folder), shapes, alphas, args.quant, args.keep_f16, log)
    target = manifest["target"]
    ngl = args.n_gpu_layers
    # pinned for the whole process, plain column included: the engine's automatic choice (graphs_policy) would
    # otherwise follow the pairs' history in the cost cache and change what a row measures from run to run
    graphs = engine_llama.cuda_graphs_enabled() if args.cuda_graphs is None else args.cuda_graphs
    engine_llama.set_cuda_graphs(graphs)
    options = PairOptions(n_ctx=args.ctx, n_gpu_layers=ngl, threads=args.threads, cache_dir=out_dir / "cache",
                          cuda_graphs=graphs)
    tmodel = engine_llama.Model(target, n_gpu_layers=0)
    prompt_text = ids_to_text(tmodel, manifest["prompt_ids"])
    ngram_text = ids_to_text(tmodel, manifest["ngram_ids"])
    prompt = tmodel.tokenize(prompt_text)
    ngram_prompt = tmodel.tokenize(ngram_text)
    round_trip = ngram_prompt[1:] == manifest["ngram_ids"]
    tmodel.close()
    bin_dir = Path(args.llama_bin) if args.llama_bin and args.llamacpp else None
    if bin_dir and not (bin_dir / "llama-speculative-simple").exists():
        log(f"no llama-speculative-simple in {bin_dir}: llama.cpp rows skipped")
        bin_dir = None
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": platform.node(), "device": args.device or gpu_name(),
        "llama_cpp_python": llama_cpp.__version__, "shape": args.shape, "quant": args.quant,
        "n_gpu_layers": ngl, "cuda_graphs": engine_llama.cuda_graphs_enabled(),
        # packaging/patch_llama.py's switch in a patched build ("0": the stock key); None: not set
        "cuda_graph_per_shape": os.environ.get("GGML_CUDA_GRAPH_PER_SHAPE"),
        "rows_argmax_patch": device_argmax.patched(),
        "max_tokens": args.max_tokens, "prompt_tokens": len(prompt),
        "ngram_prompt_tokens": len(ngram_prompt), "ngram_prompt_round_trip": round_trip,
        "build_s": manifest["build_s"], "rows": [],
    }
    save = lambda: (out_dir / "results.json").write_text(json.dumps(result, indent=1))  # noqa: E731

    if args.curve:
        log("T_verify curve")
        result["verify_curve"] = verify_curve(target, ngl, args.ctx, args.threads, args.curve_max)
        save()
    if bin_dir and args.curve:
        result["llamacpp_plain"] = llamacpp_bench(bin_dir, target, args.max_tokens, ngl)
        log(f"llama-bench plain: {result['llamacpp_plain'].get('tps')}")
    rows = []

    def add(row: dict) -> None:
        finish_row(row)
        rows.append(row)
        result["rows"] = rows
        result["wall_s"] = round(time.time() - t_start, 1)
        save()
        log(summary_line(row))

    # native DSpark rows last: a row that hangs (it did once on the GPU) must not cost the others
    kinds = [k for k in ("model", "ngram", "dspark") if k in args.kinds]
    for kind in kinds:
        if kind == "ngram":
            log("n-gram row")
            row = {"alpha": None, "drafter_kind": "ngram", "drafter": "ngram",
                   "prompt": "repetitive (chain walk, repeated)"}
            row.update(python_row(target, "ngram", ngram_prompt, args.max_tokens, options, args.reps))
            if bin_dir:
                row["llamacpp"] = sweep_llamacpp(bin_dir, target, None, ngram_text, args.max_tokens, ngl, args.ctx,
                                                 NGRAM_CONFIGS, row["text"], deadline + 120)
            add(row)
            continue
        files, configs = ((manifest["model_drafters"], MODEL_CONFIGS) if kind == "model"
                          else (manifest["dspark_drafters"], DSPARK_CONFIGS))
        # --pipelined ab: each model-drafter and DSpark row twice, sequential then pipelined (one process)
        variants = PIPELINED[args.pipelined]
        for a in alphas:
            drafter = files[tag(a)]
            for variant in variants:
                log(f"alpha {a} {kind}: dspark-chat" + ("" if variant is None else f" (pipelined={variant})"))
                # a stack in the log every few minutes if a row stalls (the first DSpark run hung without a trace)
                faulthandler.dump_traceback_later(args.stall_dump_s, repeat=True)
                row = {"alpha": a, "drafter_kind": kind, "drafter": Path(drafter).name, "shapes": args.shapes}
                row_options = dataclasses.replace(options, pipelined_drafting=variant)
                row.update(python_row(target, drafter, prompt, args.max_tokens, row_options, args.reps, args.shapes))
                faulthandler.cancel_dump_traceback_later()
                if bin_dir and variant == variants[-1]:
                    log(f"alpha {a} {kind}: llama.cpp")
                    row["llamacpp"] = sweep_llamacpp(bin_dir, target, drafter, prompt_text, args.max_tokens, ngl,
                                                     args.ctx, configs, row["text"], deadline)
                add(row)
    (out_dir / "summary.md").write_text(markdown(result))
    print(markdown(result))
    return result


def finish_row(row: dict) -> None:
    """The flat comparison fields every row carries (the JSON contract of the GPU issue)."""
    lc = row.get("llamacpp") or {}
    default, best = lc.get("default") or {}, lc.get("best") or {}
    row["llamacpp_tps"] = default.get("tps")
    row["llamacpp_best_tps"] = best.get("tps")
    row["llamacpp_best_args"] = best.get("args")
    row["llamacpp_acceptance_rate"] = default.get("acceptance_rate")
    row["speedup"] = row["dspark_tps"] / row["plain_tps"]
    row["vs_llamacpp_best"] = row["dspark_tps"] / best["tps"] if best.get("tps") else None
    row.pop("text", None)


def summary_line(row: dict) -> str:
    f = lambda x: "-" if x is None else f"{x:.3g}"  # noqa: E731
    return (f"{row['drafter_kind']:6s} alpha={row['alpha']} plain={f(row['plain_tps'])} "
            f"dspark={f(row['dspark_tps'])} ({f(row['speedup'])}x) llama.cpp={f(row['llamacpp_tps'])}"
            f"/best {f(row['llamacpp_best_tps'])} acc={f(row['acceptance_rate'])} "
            f"len={f(row['mean_accepted_len'])} py={f(row['python_ms_per_round'])}ms/round "
            f"({f(100 * row['python_share'])}%) host={f(row['host_ms_per_round'])}ms/round "
            f"({f(100 * row['host_share'])}%) pipelined={row.get('pipelined', '-')} "
            f"same={row['identical_to_plain']}")


def markdown(result: dict) -> str:
    f = lambda x, d=1: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    lines = [
        "| drafter | alpha | plain t/s | dspark-chat t/s | x plain | llama.cpp default t/s | llama.cpp best t/s "
        "(settings) | dspark-chat / llama.cpp best | acceptance | mean accepted len | Python ms/round (share) "
        "| lossless |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        best_args = " ".join(r.get("llamacpp_best_args") or []) or "default"
        lines.append(
            f"| {r['drafter_kind']} | {f(r['alpha'])} | {f(r['plain_tps'])} | {f(r['dspark_tps'])} "
            f"| {f(r['speedup'], 2)} | {f(r['llamacpp_tps'])} | {f(r['llamacpp_best_tps'])} ({best_args}) "
            f"| {f(r['vs_llamacpp_best'], 2)} | {f(r['acceptance_rate'], 3)} | {f(r['mean_accepted_len'], 2)} "
            f"| {f(r['python_ms_per_round'], 2)} ({f(100 * r['python_share'])}%) "
            f"| {'yes' if r['identical_to_plain'] else 'NO'} |")
    curve = result.get("verify_curve", {}).get("ms", {})
    if curve:
        lines += ["", "| n | " + " | ".join(str(n) for n in curve) + " |",
                  "|---|" + "---|" * len(curve),
                  "| ms | " + " | ".join(f"{t:.2f}" for t in curve.values()) + " |"]
    return "\n".join(lines) + "\n"


def gpu_name() -> str:
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.strip()
    return platform.processor() or "cpu"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("all", help="build the files (if needed) and measure everything")
    for p in (a,):
        p.add_argument("--folder", type=Path, required=True, help="where the synthetic files go")
        p.add_argument("--shape", choices=sorted(SHAPES), default="gpu")
        p.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
        p.add_argument("--quant", default="Q4_K_M", help="quantization of target and model drafter ('' for F16)")
        p.add_argument("--keep-f16", action="store_true")
    a.add_argument("--out", type=Path, required=True, help="results.json, summary.md and the cost cache")
    a.add_argument("--llama-bin", help="folder with llama-speculative-simple and llama-bench")
    a.add_argument("--n-gpu-layers", type=int, default=99)
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--ctx", type=int, default=2048)
    a.add_argument("--reps", type=int, default=2)
    a.add_argument("--budget-s", type=float, default=1e9, help="after this, llama.cpp sweeps run defaults only")
    a.add_argument("--threads", type=int, help="CPU threads (default: all)")
    a.add_argument("--curve-max", type=int, default=CURVE_MAX, help="T_verify(n) for n = 1..this + 1")
    a.add_argument("--device", help="device name for the report (default: nvidia-smi)")
    a.add_argument("--kinds", nargs="+", choices=("model", "ngram", "dspark"), default=["model", "ngram", "dspark"],
                   help="drafter kinds to measure (run in this order: model, n-gram, DSpark)")
    a.add_argument("--shapes", choices=("auto", "varying"), default="auto",
                   help="varying: without the drafters' fixed decode shapes (an A/B of the engine's choice)")
    a.add_argument("--cuda-graphs", type=on_off, metavar="on|off",
                   help="llama.cpp's CUDA graphs for this whole process, plain column included (default: as set)")
    a.add_argument("--pipelined", choices=sorted(PIPELINED), default="auto",
                   help="model drafter steps launched before their confidence is computed (auto: on a GPU), DSpark "
                        "blocks launched before the round before hands out its text (auto: on); ab: each model and "
                        "DSpark row sequential, then pipelined")
    a.add_argument("--no-llamacpp", dest="llamacpp", action="store_false", help="skip llama.cpp's runs")
    a.add_argument("--no-curve", dest="curve", action="store_false", help="skip T_verify(n) and llama-bench")
    a.add_argument("--stall-dump-s", type=float, default=180, help="Python stacks to the log while a row stalls")
    args = ap.parse_args(argv)
    args.quant = args.quant or None
    run_all(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
