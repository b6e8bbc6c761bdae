"""The host's share of a speculative round, split by the engine's steps, without a profiler's slowdown.

`gpu_host_profile.py` names functions but cProfile inflates small ones several times; this probe wraps a few
steps of the round (the drafter's draft, launch and feature copy, the scheduler's plan, choice and bookkeeping,
the target's verify, the text stream) and adds up each one's host time, less the decodes it waited for, as
`gpu_bench` counts Python: every decode is waited for and its time is not Python's. Generations of `--tokens`
greedy tokens, `--reps` of them after a warm-up; the total's median per round and each step's mean.

    python -m benchmarks.gpu_host_segments --folder /data/pair --kind dspark --alpha-tag a080 --fixed-draft 6
    python -m benchmarks.gpu_host_segments --folder /data/pair --kind ngram
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy-using imports: see engine/__init__.py on CUDA builds)

import statistics
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import gpu_files
from benchmarks.gpu_bench import DecodeClock, generate
from benchmarks.gpu_host_profile import warm_session
from dspark_chat.engine import session as session_module
from dspark_chat.engine.textstream import TextStream


class Segments:
    """Host seconds per wrapped step, each less the waited-for decodes inside it (nested steps count in both)."""

    def __init__(self, clock: DecodeClock):
        self.clock = clock
        self.seconds: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[object, str, bool, object]] = []

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        spans, seconds = self.clock.spans, self.seconds

        def timed(*args, **kwargs):
            n0, t0 = len(spans), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - t0 - sum(d for _, d in spans[n0:])

        own = vars(owner)  # a module's, a class's or an instance's own names
        self._restore.append((owner, name, name in own, own.get(name)))
        setattr(owner, name, timed)

    def unwrap(self) -> None:
        for owner, name, had, original in reversed(self._restore):
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # the wrapper shadowed a method of the instance's class
        self._restore.clear()


def measure(target: str, drafter: str, n_gpu_layers: int, tokens: int, reps: int, prompt_ids: list[int],
            fixed_draft: int | None = None) -> dict:
    with warm_session(target, drafter, n_gpu_layers, tokens, prompt_ids, fixed_draft=fixed_draft) as (
            pair, session, prompt):
        per_round, rounds = [], 0
        with DecodeClock() as clock:
            seg = Segments(clock)
            steps = [(session_module, "verify_greedy", "verify (argmax)"),
                     (session_module, "verify_greedy_tokens", "verify (the device's argmaxes)"),
                     (session.target, "decode", "target decode (host part)"),
                     (session.target, "decode_argmax", "target decode_argmax (host part, tokens read)"),
                     (session.target, "remove_from", "target remove_from"),
                     (session.scheduler, "plan", "scheduler plan"), (session.scheduler, "choose", "scheduler choose"),
                     (session.scheduler, "observe", "scheduler observe"), (TextStream, "push", "text stream")]
            for name in ("draft", "launch", "observe_target"):
                if hasattr(session.drafter, name):
                    steps.append((session.drafter, name, f"drafter {name}"))
            for owner, name, label in steps:
                seg.wrap(owner, name, label)
            try:
                for _ in range(reps):
                    clock.spans.clear()
                    done, _ = generate(session, prompt, tokens)
                    st = done.stats
                    inside, _ = clock.inside(st.t_decode_start, st.t_end)
                    per_round.append(1e3 * (st.decode_seconds - inside) / st.rounds)
                    rounds += st.rounds
            finally:
                seg.unwrap()
        steps_ms = {k: 1e3 * v / rounds for k, v in sorted(seg.seconds.items(), key=lambda kv: -kv[1])}
        return {"mode": pair.mode, "device_argmax": pair.target_ctx.rows_argmax is not None, "tokens": tokens,
                "reps": reps, "rounds": rounds,
                "python_ms_per_round": statistics.median(per_round), "python_ms_per_round_runs": per_round,
                "steps_ms_per_round": steps_ms}


def main(argv=None) -> int:
    ap = gpu_files.probe_parser(__name__, __doc__, "a080", "which alpha's drafter (e.g. a080)")
    ap.add_argument("--kind", choices=("dspark", "model", "ngram"), default="dspark",
                    help="ngram: the n-gram drafter on gpu_bench's repetitive prompt (--alpha-tag is ignored)")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fixed-draft", type=int, help="draft and verify this many tokens every round (a CPU proxy, "
                    "whose scheduler would not draft)")
    args = ap.parse_args(argv)
    manifest = gpu_files.read_manifest(args.folder)
    if args.kind == "ngram":
        drafter, prompt_ids = "ngram", manifest["ngram_ids"]
    else:
        drafter = manifest["dspark_drafters" if args.kind == "dspark" else "model_drafters"][args.alpha_tag]
        prompt_ids = manifest["prompt_ids"]
    result = measure(manifest["target"], drafter, args.n_gpu_layers, args.tokens, args.reps, prompt_ids,
                     args.fixed_draft)
    result.update(kind=args.kind, alpha_tag=args.alpha_tag, folder=str(Path(args.folder)))
    gpu_files.report(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
