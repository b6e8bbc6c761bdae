"""Load a target and its drafter, measure their costs, and hand out decoding sessions.

Costs and calibration are per model pair and machine: they are measured once, cached as JSON (when a cache dir
is given) and kept current by every round.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from . import device_argmax
from .calibration import Calibration
from .costs import PROFILE_POINTS, PROFILE_PREFIX, CostCurve, profile_decode
from .drafters import Drafter, ModelDrafter, NgramDrafter
from .errors import DSparkError, IncompatibleDrafterError
from .graphs_policy import automatic_choice
from .llama import (Context, Model, contexts_made, cuda_graphs_enabled, default_threads, library_version,
                    set_cuda_graphs, supports_gpu_offload)
from .scheduler import ScheduleConfig, Scheduler
from .session import Session

NONE_DRAFTERS = (None, "", "none", "plain")
VOCAB_SIZE_MARGIN = 128  # converted checkpoints pad vocabularies differently; ids past the shared range never matter
VOCAB_SAMPLE = 4096  # token texts compared across the shared range


@dataclass
class PairOptions:
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    drafter_gpu_layers: int | None = None  # None: same as the target
    threads: int | None = None
    n_batch: int = 512
    schedule: ScheduleConfig | None = None
    cache_dir: Path | None = None  # where measured costs and calibration persist
    profile: bool = True  # measure costs at load (off: a rough default curve, for quick tools)
    cuda_graphs: bool | None = None  # llama.cpp's CUDA graphs (None: the engine's choice, graphs_policy.py)
    # a model drafter launches each step before computing its confidence (None: where the drafter runs on a GPU,
    # whose decodes return before the device finishes; a CPU decode computes in the call, so nothing overlaps);
    # a native DSpark drafter's next block is launched before a round's text is handed out (None: on; on a CPU
    # it only changes the order of the same work)
    pipelined_drafting: bool | None = None


def check_vocab(target: Model, drafter: Model) -> None:
    """One-line refusal when the drafter's token ids do not mean the target's tokens."""
    if abs(target.n_vocab - drafter.n_vocab) > VOCAB_SIZE_MARGIN:
        raise IncompatibleDrafterError(
            f"drafter {drafter.path.name} has a vocabulary of {drafter.n_vocab} tokens, "
            f"target {target.path.name} has {target.n_vocab}: they cannot be paired"
        )
    shared = min(target.n_vocab, drafter.n_vocab)
    step = max(1, shared // VOCAB_SAMPLE)
    for t in list(range(0, shared, step)) + [shared - 1]:
        if target.token_text(t) != drafter.token_text(t):
            raise IncompatibleDrafterError(
                f"drafter {drafter.path.name} and target {target.path.name} disagree on token {t} "
                f"({drafter.token_text(t)!r} vs {target.token_text(t)!r}): different tokenizers"
            )


T = TypeVar("T")


def _file_key(model: Model, *extra) -> str:
    st = model.path.stat()
    raw = json.dumps([str(model.path.resolve()), st.st_size, int(st.st_mtime), library_version(), *extra])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class Pair:
    def __init__(self, target_path: str | os.PathLike, drafter: str | os.PathLike | None, options: PairOptions,
                 progress: Callable[[str], None] | None = None):
        self.options = options
        say = progress or (lambda _msg: None)
        threads = options.threads or default_threads()
        self.threads = threads
        say(f"loading {Path(target_path).name}")
        self.target_model = Model(target_path, n_gpu_layers=options.n_gpu_layers)
        spec = None if drafter is None else str(drafter)
        self.drafter_model: Model | None = None
        if spec not in NONE_DRAFTERS and spec != "ngram":
            say(f"loading drafter {Path(spec).name}")
            gpu = options.drafter_gpu_layers
            self.drafter_model = Model(spec, n_gpu_layers=options.n_gpu_layers if gpu is None else gpu)
        # calibration (and the drafting history the CUDA graph choice reads) is kept per target and drafter file
        self._drafter_key = _file_key(self.drafter_model) if self.drafter_model else ("ngram" if spec == "ngram"
                                                                                      else None)
        self.calibration = Calibration()
        self._load_calibration()
        self.cuda_graphs_reason = self._set_cuda_graphs(say)  # before the first context: ggml reads it once
        n_ctx = min(options.n_ctx, self.target_model.n_ctx_train or options.n_ctx)
        self.target_ctx = Context(self.target_model, n_ctx, options.n_batch, threads,
                                  rows_argmax=device_argmax.wanted(options.n_gpu_layers, gpu=self._on_gpu()))
        self.drafter: Drafter | None = None
        self._filler = self.target_model.tokenize(" the", add_special=False)[-1]
        self.verify_cost = self._costs(self.target_ctx, "target", say)
        if spec == "ngram":
            self.drafter = NgramDrafter()
        elif self.drafter_model is not None:
            self.drafter = self._load_drafter(self.drafter_model, n_ctx, threads, say)
        draft_cost = self.drafter.expected_cost if self.drafter else (lambda k: 0.0)
        self.scheduler = Scheduler(self.verify_cost, draft_cost, options.schedule or ScheduleConfig(),
                                   self.calibration, getattr(self.drafter, "expected_costs", None))
        self._session: Session | None = None
        self._plain: Session | None = None

    def _set_cuda_graphs(self, say) -> str:
        """The user's choice, else the engine's (graphs_policy); the automatic one only while ggml can still
        take it (the process's first context), and never back on when the environment turned graphs off."""
        if self.options.cuda_graphs is not None:
            set_cuda_graphs(self.options.cuda_graphs)
            return f"CUDA graphs {'on' if self.options.cuda_graphs else 'off'}: as asked"
        native = self.drafter_model is not None and self.drafter_model.arch == "dflash"
        wanted, why = automatic_choice(native, self._on_gpu(), self.calibration)
        if not wanted and cuda_graphs_enabled() and not contexts_made():
            set_cuda_graphs(False)
            say(why)
            return why
        return why if wanted == cuda_graphs_enabled() else ""

    def _on_gpu(self, n_gpu_layers: int | None = None) -> bool:
        """Do the target's layers (or a model's with n_gpu_layers of them offloaded) go to a GPU?"""
        layers = self.options.n_gpu_layers if n_gpu_layers is None else n_gpu_layers
        return layers != 0 and supports_gpu_offload()

    @property
    def mode(self) -> str:
        return self.drafter.kind if self.drafter else "plain"

    def _load_drafter(self, model: Model, n_ctx: int, threads: int, say) -> Drafter:
        if model.arch == "dflash":
            from .dspark_drafter import load_dspark_drafter

            return load_dspark_drafter(self, model, n_ctx, threads, say)
        check_vocab(self.target_model, model)
        on_gpu = self._on_gpu(model.n_gpu_layers)
        # greedy steps' tokens and confidences from the device where the library can give both
        peaks = device_argmax.drafter_wanted(model.n_gpu_layers, gpu=on_gpu)
        ctx = Context(model, n_ctx, self.options.n_batch, threads, rows_argmax=peaks, row_probs=peaks)
        pipelined = self.options.pipelined_drafting
        if pipelined is None:
            pipelined = on_gpu
        return ModelDrafter(ctx, self._costs(ctx, "drafter", say, outputs="last"), pipelined)

    def _costs(self, ctx: Context, role: str, say, outputs: str = "all", max_batch: int | None = None,
               prefix: int | None = None) -> CostCurve:
        if not self.options.profile:
            # a CPU-like guess: cost grows with n; the running scale corrects it within a few rounds
            return CostCurve({1: 0.01, 2: 0.018, 4: 0.03, 8: 0.05, 16: 0.09, 33: 0.18})

        def measure() -> dict:
            points = tuple(n for n in PROFILE_POINTS if max_batch is None or n <= max_batch)
            return profile_decode(ctx, self._filler, points, prefix or PROFILE_PREFIX, outputs=outputs).to_dict()

        # "shape-costs": curves cached before the shape-change and capture costs were profiled are measured again
        return self._timed(ctx, f"{role} costs", say, measure, CostCurve.from_dict, outputs, "shape-costs")

    def _timed(self, ctx: Context, what: str, say, measure: Callable[[], dict], parse: Callable[[dict], T] = dict,
               *key: object) -> T:
        """A measurement of this machine (a dict), cached per model file, context and library version."""
        # costs without CUDA graphs differ from those with them (the default, left out of the key: kept caches stay)
        graphs = () if cuda_graphs_enabled() else ("no-cuda-graphs",)
        name = _file_key(ctx.model, what, *key, ctx.n_ctx, ctx.threads, ctx.model.n_gpu_layers, *graphs)
        cache = self.options.cache_dir / f"costs-{name}.json" if self.options.cache_dir else None
        if cache and cache.exists():
            try:
                return parse(json.loads(cache.read_text()))
            except (ValueError, KeyError, TypeError, OSError):
                pass  # a damaged cache is re-measured
        say(f"measuring {what} on this machine (once)")
        found = measure()
        if cache:
            _write_json(cache, found)
        return parse(found)

    # -- calibration persistence ----------------------------------------------------------------------------
    def _calibration_path(self) -> Path | None:
        if not self.options.cache_dir or not self._drafter_key:
            return None
        return self.options.cache_dir / f"calibration-{_file_key(self.target_model)}-{self._drafter_key}.json"

    def _load_calibration(self) -> None:
        path = self._calibration_path()
        if path and path.exists():
            try:
                self.calibration.load(json.loads(path.read_text()))
            except (ValueError, KeyError, OSError):
                pass

    def save_state(self) -> None:
        path = self._calibration_path()
        if path:
            _write_json(path, self.calibration.to_dict())

    # -- sessions -------------------------------------------------------------------------------------------
    def session(self) -> Session:
        """The pair's one decoding session (one KV cache): conversations share it through prefix reuse."""
        if self._session is None:
            self._session = Session(self.target_ctx, self.drafter, self.scheduler)
        return self._session

    def plain_session(self) -> Session:
        """Plain target decoding on the same KV cache (benchmarks, the lossless checks)."""
        if self._plain is None:
            # a native drafter's feature output stays off: plain decoding is measured as a target alone runs
            self._plain = Session(self.target_ctx, None, Scheduler(self.verify_cost, lambda k: 0.0, ScheduleConfig()),
                                  capture=getattr(self.drafter, "capture_features", None))
        return self._plain

    def close(self) -> None:
        try:
            self.save_state()
        except OSError:
            pass
        if self.drafter:
            self.drafter.close()
        self.target_ctx.close()
        self.target_model.close()
        if self.drafter_model:
            self.drafter_model.close()

    def __enter__(self) -> "Pair":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_json(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
    except OSError:
        pass  # a cache we cannot write is only a slower next start


__all__ = ["Pair", "PairOptions", "check_vocab", "DSparkError"]
