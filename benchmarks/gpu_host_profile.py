"""Where does the host's (Python's) share of a speculative round go? cProfile over real rounds on the GPU files.

The GPU benchmark measures Python per round as the time outside `llama_decode` (each decode waited for); this
probe says which functions spend it. It loads one pair of `gpu_files.py` (target + model or DSpark drafter at one
alpha), warms up as `gpu_bench` does, then profiles one generation of `--tokens` greedy tokens and reports, per
round, the functions with the most own time (a ctypes call's time counts as its Python caller's own: `_launch`
holds llama_decode's launch, `_logits` the wait for the device) and a second, unprofiled generation's Python
milliseconds per round for scale (cProfile itself slows Python down).

    python -m benchmarks.gpu_host_profile --folder /data/pair --kind dspark --alpha-tag a080 --out host.json
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import cProfile
import pstats
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks import gpu_files
from benchmarks.gpu_bench import DecodeClock, generate, ids_to_text
from dspark_chat.engine.llama import cuda_graphs_enabled
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.scheduler import ScheduleConfig

TOP = 25


@contextmanager
def warm_session(target: str, drafter: str, n_gpu_layers: int, tokens: int, prompt_ids: list[int],
                 cache: Path | None = None, fixed_draft: int | None = None):
    """(pair, speculative session, prompt) after the warm-up gpu_bench's rows have: a plain generation (allocations,
    CUDA graphs) and a speculative one (a first calibration)."""
    # graphs as the process has them, not the engine's choice from the pair's history in `cache` (see gpu_bench)
    options = PairOptions(n_ctx=2048, n_gpu_layers=n_gpu_layers, cache_dir=cache, cuda_graphs=cuda_graphs_enabled(),
                          schedule=None if fixed_draft is None else ScheduleConfig(fixed_draft=fixed_draft))
    with Pair(target, drafter, options) as pair:
        prompt = pair.target_model.tokenize(ids_to_text(pair.target_model, prompt_ids))
        session = pair.session()
        generate(pair.plain_session(), prompt, 32)
        generate(session, prompt, tokens)
        yield pair, session, prompt


def profile(target: str, drafter: str, n_gpu_layers: int, tokens: int, prompt_ids: list[int],
            cache: Path | None = None, fixed_draft: int | None = None) -> dict:
    with warm_session(target, drafter, n_gpu_layers, tokens, prompt_ids, cache, fixed_draft) as (pair, session, prompt):
        with DecodeClock() as clock:
            done, _ = generate(session, prompt, tokens)
        st = done.stats
        inside, n_decodes = clock.inside(st.t_decode_start, st.t_end)
        python_ms = 1e3 * (st.decode_seconds - inside) / st.rounds

        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        done, _ = generate(session, prompt, tokens)
        profiler.disable()
        wall = time.perf_counter() - t0
        rounds = done.stats.rounds
        stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, primitive, tottime, cumtime, callers)}
        rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:TOP]
        top = [{"function": f"{Path(file).name}:{line}({name})", "calls_per_round": calls / rounds,
                "own_ms_per_round": 1e3 * own / rounds, "total_ms_per_round": 1e3 * total / rounds}
               for (file, line, name), (calls, _, own, total, _) in rows]
        return {
            "mode": pair.mode, "tokens": done.stats.tokens, "rounds": rounds,
            "drafting_rounds": done.stats.spec_rounds, "decodes_per_round": n_decodes / max(1, st.rounds),
            "python_ms_per_round": python_ms,
            "profiled_ms_per_round": 1e3 * wall / rounds,
            "top_own_time": top,
        }


def main(argv=None) -> int:
    ap = gpu_files.probe_parser(__name__, __doc__, "a080", "which alpha's drafter (e.g. a080)")
    ap.add_argument("--kind", choices=("dspark", "model"), default="dspark")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--cache", type=Path, help="cost cache of an earlier gpu_bench run (OUT/cache): no re-profiling")
    ap.add_argument("--fixed-draft", type=int, help="draft and verify this many tokens every round, whatever they cost "
                    "(a CPU proxy, whose scheduler would not draft: the host's work per drafted token)")
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    drafters = manifest["dspark_drafters" if args.kind == "dspark" else "model_drafters"]
    result = profile(manifest["target"], drafters[args.alpha_tag], args.n_gpu_layers, args.tokens,
                     manifest["prompt_ids"], args.cache, args.fixed_draft)
    result.update(kind=args.kind, alpha_tag=args.alpha_tag)
    gpu_files.report(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
