"""Native DSpark and DFlash drafters (GGUF arch `dflash`): a whole block of drafts from ONE drafter decode.

Such a drafter is not a small language model run token by token. It reads hidden features of the target (the
inputs of a few chosen target layers), which it keeps in its own KV cache at the target's positions, and decodes
`[last committed token, mask, mask, ...]` in one non-causal pass; every block position comes out at once. A DSpark
drafter adds a Markov head (each position sees the previous position's draft, so the block is semi-autoregressive)
and a confidence head (a per-position acceptance score), see the vendored llama.cpp's `src/models/dflash.cpp`.

The protocol per round (the session drives it through the Drafter interface of `drafters.py`):
  * observe_target: the target just decoded some tokens; copy the features of the kept ones (their rows of the
    target layers' inputs) into a pending buffer. Rolled-back positions are dropped here too.
  * draft: inject the pending features into the drafter's KV cache (one embeddings decode), then decode the block
    (one token decode), read the argmax block and the confidences, and remove the block from the KV cache again.
Injection is deferred to the next draft, so rounds where the scheduler decodes plainly cost no drafter work,
except that a backlog of `inject_rows` positions is injected at once: a probe after a long plain stretch with the
copy on otherwise began with one decode of a size the drafter had never run (61-79 ms on an H100, run L).
  * launch (optional, `pipelined`): the session plans the next round as soon as the scheduler has seen this one,
    and starts its injection and block decode before handing out this round's text; the next `draft` collects the
    block, so the text stream and the caller's work overlap the device's block instead of delaying it.

Copying features costs every target decode (measured on an H100: 3.89 against 3.75 ms a step), so the session
turns the copy off while the scheduler is not drafting (`capture_features`). Positions decoded meanwhile have no
features; the drafter then restarts its KV cache at the first position it has features for again, a window of
recent context instead of the whole conversation. Drafts only get worse for it, never wrong: the target verifies.
Drafts are argmax (deterministic), so `Draft.dists` is None even in sampling mode: verification treats them as
point masses, which keeps sampling exact whatever the scheduler cuts.

Fixed shapes: llama.cpp's CUDA backend replays a captured graph only while a context's decodes keep their shape;
a round that injects m positions and decodes a block of n, with m and n changing every round, pays a rebuild and
runs uncaptured. With `fixed_shapes` every injection writes `inject_rows` positions, or `bulk_rows` for a
backlog such as a prompt (padding rows are removed again at once), and every block has the full size, so the
graphs may be replayed. Whether that pays depends on
the backend, so `load_dspark_drafter` times both patterns on the machine (`profile_round_shapes`) and keeps the
cheaper one; on CPUs, where a shape change costs nothing, it keeps the smaller blocks without timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from . import dflash_bindings as native
from .costs import CostCurve
from .drafters import Draft
from .errors import IncompatibleDrafterError
from .llama import Context, Model, first_eog
from .peak import PeakFinder

if TYPE_CHECKING:
    from .pair import Pair

# Target architectures whose graph (in the vendored llama.cpp of llama-cpp-python 0.3.36) records each layer's
# input, which is what the drafter reads. Asking any other graph for layer inputs aborts the process inside
# llama.cpp, so we refuse those targets up front (gemma3, for instance, does not record them).
LAYER_INPUT_ARCHS = frozenset({
    "llama", "qwen3", "qwen3moe", "qwen35", "qwen35moe", "qwen3next", "qwen4exp", "gpt-oss", "gemma4", "lfm2",
    "deepseek4", "mimo2", "minimax-01", "minimax-m2", "nemotron_h", "bailingmoe3", "hunyuan_vl", "nanbeige",
    "muse-glimmer",
})
DEFAULT_BLOCK_SIZE = 16  # llama.cpp's default when a drafter does not say
INJECT_PROFILE_POINTS = (1, 2, 4, 8, 16, 33)
# with fixed shapes a backlog (a prompt) is injected this many steady injections' rows at a time instead of 17 rows
# a decode (241 decodes for a 4096-token prompt, each a drafter pass over its weights); the H100s of the runs chose
# varying shapes, which inject a prompt's batch in one decode
BULK_INJECT_CHUNKS = 8
SHAPE_CHANGE_WORTH_TIMING = 0.05  # of a full block's cost: below it (CPUs) fixed shapes cannot pay
ROUND_PROFILE_ROUNDS = 12


@dataclass(frozen=True)
class NativeSpec:
    """What a dflash GGUF says about how to drive it."""

    layer_ids: tuple[int, ...]
    block_size: int
    mask_id: int
    has_markov: bool  # DSpark
    has_confidence: bool
    anchor_first: bool  # slot 0 (the last committed token) predicts the first draft: a block of n gives n drafts
    causal: bool

    @property
    def kind(self) -> str:
        return "dspark" if self.has_markov else "dflash"

    @property
    def max_drafts(self) -> int:
        return self.block_size if self.anchor_first else self.block_size - 1


def _flag(model: Model, key: str, default: bool) -> bool:
    raw = model.meta(key)
    return default if raw is None else raw.strip().lower() == "true"


def _tensor_names(path: Path) -> set[str]:
    from gguf import GGUFReader

    return {t.name for t in GGUFReader(str(path)).tensors}


def read_spec(drafter: Model) -> NativeSpec:
    tensors = _tensor_names(drafter.path)
    has_markov = "markov_w1.weight" in tensors
    raw_block = drafter.meta("dflash.block_size")
    block = int(raw_block) if raw_block and raw_block.strip().isdigit() else DEFAULT_BLOCK_SIZE
    return NativeSpec(
        layer_ids=tuple(native.target_layer_ids(drafter.ptr)),
        block_size=block,
        mask_id=native.mask_token(drafter.vocab_ptr),
        has_markov=has_markov,
        has_confidence=has_markov and "conf_proj.weight" in tensors
        and _flag(drafter, "dflash.has_confidence_head", True),
        anchor_first=has_markov and _flag(drafter, "dflash.sample_from_anchor", True),
        causal=_flag(drafter, "dflash.attention.causal", False),
    )


def check_compatible(target: Model, drafter: Model, spec: NativeSpec, owns_embeddings: bool) -> None:
    """One-line refusals for every way a dflash drafter can fail to fit its target."""
    name, tname = drafter.path.name, target.path.name
    if not spec.layer_ids:
        raise IncompatibleDrafterError(f"drafter {name} names no target layers to read (dflash.target_layers)")
    bad = [i for i in spec.layer_ids if not 0 <= i < target.n_layer]
    if bad:
        raise IncompatibleDrafterError(
            f"drafter {name} reads target layers {list(spec.layer_ids)}, but {tname} has {target.n_layer} "
            f"layers (0..{target.n_layer - 1}): it was made for a deeper target"
        )
    features = len(spec.layer_ids) * target.n_embd
    expected = len(spec.layer_ids) * drafter.n_embd
    if features != expected:
        raise IncompatibleDrafterError(
            f"drafter {name} takes {expected} features per token ({len(spec.layer_ids)} layers x {drafter.n_embd}), "
            f"but {tname} gives {features} ({len(spec.layer_ids)} x {target.n_embd}): made for another target"
        )
    if target.arch not in LAYER_INPUT_ARCHS:
        raise IncompatibleDrafterError(
            f"native drafters cannot read {tname}: llama.cpp does not expose layer inputs for arch "
            f"'{target.arch}' in this build (use a model drafter or ngram)"
        )
    if spec.mask_id < 0 or spec.mask_id >= drafter.n_vocab:
        raise IncompatibleDrafterError(f"drafter {name} has no mask token (tokenizer.ggml.mask_token_id)")
    if spec.max_drafts < 1:
        raise IncompatibleDrafterError(f"drafter {name} has a block size of {spec.block_size}: nothing to draft")
    if native.selector_top_k(drafter.ptr) > 0:
        raise IncompatibleDrafterError(f"drafter {name} is a DFlash2 (selector) drafter, which is not supported yet")
    if drafter.meta("dflash.rope.dimension_sections") is not None:
        raise IncompatibleDrafterError(f"drafter {name} uses M-RoPE positions (vision targets): not supported yet")
    if not owns_embeddings and drafter.n_embd != target.n_embd:
        raise IncompatibleDrafterError(
            f"drafter {name} borrows the target's embeddings but is {drafter.n_embd} wide, {tname} {target.n_embd}"
        )


def injection_sizes(n_batch: int, max_drafts: int) -> tuple[int, int]:
    """The steady injection's rows (a verify keeps at most max_drafts + 1 positions) and a backlog's (fixed shapes)."""
    steady = min(n_batch, max_drafts + 1)
    return steady, min(n_batch, BULK_INJECT_CHUNKS * steady)


def profile_injection(ctx: Context, width: int, points: Sequence[int] = INJECT_PROFILE_POINTS) -> CostCurve:
    """Seconds to write n positions of target features into the drafter's KV cache (each size twice)."""
    points = sorted(set(points))
    zeros = np.zeros((max(points), width), dtype=np.float32)
    ctx.clear()
    ctx.decode_embeddings(zeros[:1], 0)  # warm-up: the first decode allocates
    found: dict[int, float] = {}
    for n in points:
        if n > ctx.n_batch:
            break
        best = float("inf")
        for _ in range(2):
            ctx.remove_from(1)
            t0 = time.perf_counter()
            ctx.decode_embeddings(zeros[:n], 1)
            best = min(best, time.perf_counter() - t0)
        found[n] = best
    ctx.clear()
    return CostCurve(found)


def profile_round_shapes(ctx: Context, width: int, spec: NativeSpec, rounds: int = ROUND_PROFILE_ROUNDS
                         ) -> dict[str, float]:
    """Median seconds of a drafting round's decodes (inject, then block, waiting for its logits) when their sizes
    vary as in real rounds, and when both have fixed sizes (padded injection, full block)."""
    inject_rows = injection_sizes(ctx.n_batch, spec.max_drafts)[0]
    rows = np.zeros((inject_rows, width), dtype=np.float32)
    base = 4  # positions of features before the rounds, like a short prompt
    rng = np.random.default_rng(0)

    def one_round(m: int, n_inject: int, n_block: int) -> float:
        t0 = time.perf_counter()
        ctx.decode_embeddings(rows[:n_inject], base)
        ctx.remove_from(base + m)
        ctx.decode(np.full(n_block, spec.mask_id, dtype=np.int32), base + m, "all")
        seconds = time.perf_counter() - t0
        ctx.remove_from(base)
        return seconds

    ctx.clear()
    ctx.decode_embeddings(rows[:base], 0)
    found = {}
    for name in ("varying", "fixed", "varying", "fixed"):  # each pattern twice: the first pass warms it up
        times = []
        for _ in range(rounds):
            m = int(rng.integers(1, inject_rows // 2 + 1))
            n = int(rng.integers(2, spec.block_size + 1))
            fixed = name == "fixed"
            times.append(one_round(m, inject_rows if fixed else m, spec.block_size if fixed else n))
        found[name] = float(np.median(times))
    ctx.clear()
    return found


@dataclass
class _Block:
    """A block decode in flight: where it starts, what it was asked for, and the host seconds its launch took."""

    pos: int
    n_max: int
    k: int
    n_block: int
    seconds: float = 0.0


class DSparkDrafter:
    """A dflash GGUF driving the Drafter protocol: one block decode per drafting round."""

    drafts_blocks = True  # the scheduler sizes the block before drafting (Scheduler.plan)

    def __init__(self, target: Context, ctx: Context, spec: NativeSpec, block_cost: CostCurve,
                 inject_cost: CostCurve, fixed_shapes: bool = False, pipelined: bool = True):
        self.target = target
        self.ctx = ctx
        self.spec = spec
        self.kind = spec.kind
        self.block_cost = block_cost  # seconds for a block decode of n tokens (all outputs)
        self.inject_cost = inject_cost  # seconds to inject n positions of features
        self._width = target.model.n_embd
        self._eog = ctx.model.eog_ids
        self._peak = PeakFinder(ctx.model.n_vocab)  # a DFlash drafter's own confidence (no confidence head)
        # positions [_start, _kv_len) of the drafter's KV cache hold injected target features; _start > 0 after a
        # stretch without features (see the module's docstring)
        self._start = 0
        self._kv_len = 0
        # features of positions [_kv_len, _kv_len + _n_pending), copied from the target, not yet injected
        self._pending = np.zeros((ctx.n_batch, len(spec.layer_ids) * self._width), dtype=np.float32)
        self._n_pending = 0
        self.block_decodes = 0  # counted for tests: one per drafting round
        self.inject_decodes = 0
        self.capture_switches = 0
        self._launched: _Block | None = None  # a block launched ahead of its round (see launch)
        self.pipelined = pipelined  # the session launches blocks ahead (PairOptions.pipelined_drafting)
        self.launched_collected = 0  # counted for tests and the benchmark
        self.graph_tokens = 0  # blocks whose drafts came from the graph (a patched llama.cpp), counted for tests
        self.launched_abandoned = 0
        self.fixed_shapes = fixed_shapes  # see the module's docstring
        self.inject_rows, self.bulk_rows = injection_sizes(ctx.n_batch, spec.max_drafts)
        self._padded = np.zeros((self.bulk_rows, self._pending.shape[1]), dtype=np.float32)
        # the block's tokens, [last committed token, mask, ...]: only slot 0 changes between blocks
        self._block_ids = np.full(spec.block_size, spec.mask_id, dtype=np.int32)
        self._capturing = False
        self._layer_inputs = [native.LayerInputs(target.ptr, layer, self._width, target.n_batch)
                              for layer in spec.layer_ids]
        self.capture_features(True)
        native.set_causal_attention(ctx.ptr, spec.causal)
        if spec.has_confidence:
            native.set_nextn_output(ctx.ptr, True, masked=True)
            self._nextn = native.NextnOutput(ctx.ptr, ctx.model.n_embd, ctx.n_batch)

    @property
    def capturing(self) -> bool:
        """Whether the target's decodes copy this drafter's features now."""
        return self._capturing

    def capture_features(self, on: bool) -> bool:
        """Whether the target's decodes copy the features this drafter reads (llama.cpp re-plans its graph
        memory on every switch, so the session switches rarely). True when this switched it."""
        if on == self._capturing:
            return False
        for layer in self.spec.layer_ids:
            native.set_layer_input_output(self.target.ptr, layer, on)
        self._capturing = on
        self.capture_switches += 1
        return True

    # -- planning -------------------------------------------------------------------------------------------
    def _block_tokens(self, k: int) -> int:
        return k if self.spec.anchor_first else k + 1

    def expected_cost(self, k: int) -> float:
        if k <= 0:
            return 0.0
        return float(self.expected_costs(k)[-1])

    def expected_costs(self, k_max: int) -> np.ndarray:
        # an injection decode precedes every block, so no block decode replays a captured CUDA graph: each pays
        # the shape change (measured on an H100: launch 1.1 ms against 0.15 ms repeated, docs/benchmarks.md)
        if self.fixed_shapes:
            seconds = self._fixed_injection_cost() + self.block_cost(self.spec.block_size)
            return np.full(k_max, seconds + self.block_cost.shape_change)
        ks = np.minimum(np.arange(1, k_max + 1), self.spec.max_drafts)
        n_block = self._block_tokens(ks)
        return self.inject_cost(self._n_pending) + self.block_cost.array()[n_block] + self.block_cost.shape_change

    # -- features from the target ---------------------------------------------------------------------------
    def observe_target(self, tokens: Sequence[int], pos0: int, n_kept: int, inject: bool = True) -> None:
        """inject=False: copy the features only (a prompt's batch); `inject_backlog` injects them later."""
        if self._launched is not None:  # a block launched for a round that did not come
            self.abandon()
        if not self._capturing:  # this decode copied no features: whatever we held from pos0 on is stale
            self._truncate(pos0)
            return
        if pos0 > self._kv_len + self._n_pending:
            # positions we have no features for lie before these: start a new window of context here
            self._restart(pos0)
        else:
            self._truncate(pos0)
        if n_kept <= 0:
            return
        done = 0
        while done < n_kept:
            room = len(self._pending) - self._n_pending
            if room == 0:
                self._flush()
                room = len(self._pending)
            m = min(room, n_kept - done)
            rows = self._pending[self._n_pending : self._n_pending + m]
            for k, inputs in enumerate(self._layer_inputs):
                rows[:, k * self._width : (k + 1) * self._width] = inputs.rows(done + m)[done:]
            self._n_pending += m
            done += m
        if inject and self._n_pending >= self.inject_rows:
            # a backlog (the copy staying on through plain steps, or a prompt) is injected as it comes: left to
            # the next draft it was one decode of a size the drafter had not run, 61-79 ms on an H100 (run L)
            self._flush()

    def inject_backlog(self) -> None:
        """Inject pending features held back by observe_target(inject=False) if they are a backlog. A prompt's
        session calls this after launching the target's next batch, so the copy into llama.cpp's batch and the
        launch run while the device evaluates it (run X: 19 ms a 512-token batch that the target waited on)."""
        if self._launched is None and self._n_pending >= self.inject_rows:
            self._flush()

    def _truncate(self, pos: int) -> None:
        """Forget features at positions >= pos (rollback, prefix reuse)."""
        if pos <= self._start:
            self._restart(pos)
        elif pos < self._kv_len:
            self.ctx.remove_from(pos)
            self._kv_len = pos
            self._n_pending = 0
        else:
            self._n_pending = min(self._n_pending, pos - self._kv_len)

    def _restart(self, pos: int) -> None:
        """An empty window whose first position will be pos (llama.cpp lets an empty sequence start anywhere)."""
        if self._kv_len > self._start:
            self.ctx.clear()
        self._start = self._kv_len = pos
        self._n_pending = 0

    def _fixed_injection_cost(self) -> float:
        """Seconds _flush takes with fixed shapes for what is pending."""
        n = self._n_pending
        if n == 0:
            return 0.0
        if n <= self.inject_rows:
            return self.inject_cost(self.inject_rows)
        return -(-n // self.bulk_rows) * self.inject_cost(self.bulk_rows)

    def _flush(self) -> None:
        if not self._n_pending:
            return
        if self.fixed_shapes and self._kv_len + self._n_pending + self.bulk_rows <= self.ctx.n_ctx:
            # two shapes: a steady round's rows, and a backlog's in bulk (padding rows are removed at once)
            rows = self.inject_rows if self._n_pending <= self.inject_rows else self.bulk_rows
            for start in range(0, self._n_pending, rows):
                m = min(rows, self._n_pending - start)
                padded = self._padded[:rows]
                padded[:m] = self._pending[start : start + m]
                padded[m:] = 0.0
                self.ctx.decode_embeddings(padded, self._kv_len + start)
                self.inject_decodes += 1
                if m < rows:
                    self.ctx.remove_from(self._kv_len + start + m)  # the padding rows were only there for the shape
        else:
            self.ctx.decode_embeddings(self._pending[: self._n_pending], self._kv_len)
            self.inject_decodes += 1
        self._kv_len += self._n_pending
        self._n_pending = 0

    # -- drafting -------------------------------------------------------------------------------------------
    def launch(self, history: Sequence[int], n_max: int) -> float:
        """Start the next round's block (injection and block decode) without waiting for it, so the session's
        bookkeeping of the round before (the text stream, the caller's step) runs while the device computes.
        `draft` with the same history and n_max collects it; anything else abandons it. Returns the host seconds
        the launch took (they count as that draft's)."""
        t0 = time.perf_counter()
        self.abandon()
        self._launched = self._start_block(history, n_max)
        seconds = time.perf_counter() - t0
        if self._launched is not None:
            self._launched.seconds = seconds
        return seconds

    def abandon(self) -> None:
        """Drop a launched block nobody will read (the generation ended, or the next round plans otherwise)."""
        block, self._launched = self._launched, None
        if block is not None and self.ctx.ptr:
            self.ctx.result()  # wait: its KV entries must exist before they are removed
            self.ctx.remove_from(block.pos)
            self.launched_abandoned += 1

    def _start_block(self, history: Sequence[int], n_max: int) -> "_Block | None":
        pos = len(history) - 1  # the pending token's position: the target's KV (and our features) cover [0, pos)
        self._truncate(pos)
        k = min(n_max, self.spec.max_drafts, self.ctx.n_ctx - pos - 1)
        if k <= 0 or self._kv_len + self._n_pending != pos or pos <= self._start:
            return None  # no features for the positions before the block
        self._flush()
        n_block = self._block_tokens(k)
        if self.fixed_shapes and pos + self.spec.block_size <= self.ctx.n_ctx:
            n_block = self.spec.block_size  # the rows past k are read by nobody
        block = self._block_ids[:n_block]
        block[0] = history[-1]
        self.ctx.submit(block, pos, "all")  # copies the tokens into the context's batch
        self.block_decodes += 1
        return _Block(pos, n_max, k, n_block)

    def draft(self, history, n_max, sampling, rng, gate) -> Draft:
        t0 = time.perf_counter()
        block, self._launched = self._launched, None
        ahead = 0.0
        if block is not None and block.pos == len(history) - 1 and block.n_max == n_max:
            ahead = block.seconds  # launched at the end of the round before (see launch)
            self.launched_collected += 1
        else:
            self._launched = block  # launched for another round (or none): drop it, then start this one
            self.abandon()
            block = self._start_block(history, n_max)
            if block is None:
                return Draft(seconds=time.perf_counter() - t0)
        pos, k, n_block = block.pos, block.k, block.n_block
        first = 0 if self.spec.anchor_first else 1
        # the argmax is taken here, not by llama.cpp's backend sampling: on an H100 that made a block of 16 cost
        # 5.74 ms against 4.98 ms, far more than the host's argmax over the copied logits (docs/benchmarks.md)
        rows = self.ctx.result()[first : first + k]
        chosen = None
        if self.spec.has_confidence:
            head = self._nextn.rows(n_block)[first : first + k]
            conf = head[:, 0].astype(np.float64)
            # the confidence head already says how many drafts the gate keeps: only those rows need an argmax over
            # the vocabulary (0.09-0.19 ms a row on an H100's host, docs/benchmarks.md run F), and none where the
            # patched graph hands out the argmaxes it chained (see native.GRAPH_TOKENS_MARK)
            chosen = gate.choose(conf, ahead + time.perf_counter() - t0)
            if head[0, 2] == native.GRAPH_TOKENS_MARK:
                tokens = head[:chosen, 1].astype(np.int64)
                self.graph_tokens += 1
            else:
                tokens = rows[:chosen].argmax(axis=1)
        else:
            peaks = [self._peak(row) for row in rows]
            tokens = np.array([x for x, _ in peaks], dtype=np.int64)
            conf = np.array([c for _, c in peaks])
        self.ctx.remove_from(pos)  # the block is noise: only target features stay in the KV cache
        tokens = tokens.tolist()
        eog = first_eog(tokens, self._eog)
        if eog is not None:  # nothing after an end-of-generation token can be kept
            n = eog + 1
            tokens, conf = tokens[:n], conf[:n]
            chosen = None if chosen is None else n
        return Draft(tokens, conf, None, ahead + time.perf_counter() - t0, chosen)

    def reset(self) -> None:
        self.abandon()
        self.ctx.clear()
        self._start = self._kv_len = 0
        self._n_pending = 0

    def close(self) -> None:
        self.abandon()  # the device must be done with a launched block before its context is freed
        if self.target.ptr:
            self.capture_features(False)
        self.ctx.close()


def load_dspark_drafter(pair: "Pair", model: Model, n_ctx: int, threads: int, say: Callable[[str], None]):
    """Check a dflash drafter against the pair's target and make it ready to draft (called by Pair)."""
    from .pair import check_vocab

    native.require_native_api()
    target = pair.target_model
    check_vocab(target, model)
    spec = read_spec(model)
    owns = "token_embd.weight" in _tensor_names(model.path)
    check_compatible(target, model, spec, owns)
    # a drafter without its own embeddings or LM head borrows the target's through ctx_other
    ctx = Context(model, n_ctx, pair.options.n_batch, threads, other=pair.target_ctx)
    try:
        # only batches a block decode really uses ([last token, masks...]), after one position: a batch wider
        # than the block, or a long prefix of plain tokens, is nothing the drafter is built to decode
        block_cost = pair._costs(ctx, "drafter-block", say, outputs="all", max_batch=spec.block_size, prefix=1)
        width = len(spec.layer_ids) * target.n_embd
        shapes_matter = block_cost.shape_change > SHAPE_CHANGE_WORTH_TIMING * block_cost(spec.block_size)
        # where fixed shapes may be chosen, the profile also runs their sizes (the bulk one included), so no
        # injection later is the first of its size (run L: 61-79 ms)
        sizes = injection_sizes(ctx.n_batch, spec.max_drafts) if shapes_matter else ()
        inject_cost = profile_injection(ctx, width, INJECT_PROFILE_POINTS + sizes)
        fixed = False
        if shapes_matter:
            rounds = pair._timed(ctx, "drafter-round-shapes", say, lambda: profile_round_shapes(ctx, width, spec))
            fixed = rounds["fixed"] < rounds["varying"]
        drafter = DSparkDrafter(pair.target_ctx, ctx, spec, block_cost, inject_cost, fixed_shapes=fixed,
                                pipelined=pair.options.pipelined_drafting is not False)
    except BaseException:
        ctx.close()
        raise
    say(f"{spec.kind} drafter: block of {spec.block_size}, reads target layers {list(spec.layer_ids)}"
        f"{', confidence head' if spec.has_confidence else ''}")
    return drafter
