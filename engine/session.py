"""The decode loop of one conversation: prefix reuse, then rounds of draft -> gate -> verify -> roll back.

The session owns KV positions: `self.tokens` is every committed token; the target's KV cache holds all of them but
the last, which is the `pending` token the next round feeds first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from .drafters import Draft, Drafter, common_prefix
from .errors import ContextOverflowError, DSparkError
from .events import Done, Step
from .llama import Context, first_eog
from .sampling import SamplingParams, make_rng
from .scheduler import Scheduler
from .stats import GenerationStats
from .textstream import TextStream
from .verify import verify_greedy, verify_greedy_tokens, verify_sampling

_EMPTY = Draft()


@dataclass
class GenerateParams:
    max_tokens: int = 512
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: Sequence[str] = ()


class Session:
    def __init__(self, target: Context, drafter: Drafter | None, scheduler: Scheduler,
                 capture: Callable[[bool], bool] | None = None):
        """capture: turns the target's hidden-state output on and off and says whether that switched it (a native
        DSpark drafter's `capture_features`); a plain session on the same target passes it too, to keep it off."""
        self.target = target
        self.drafter = drafter
        self.scheduler = scheduler
        self._capture = capture or getattr(drafter, "capture_features", None)
        self.tokens: list[int] = []  # committed tokens; the KV cache holds tokens[:-1]
        self._eog = target.model.eog_ids
        self.mode = drafter.kind if drafter else "plain"
        self._block_drafter = bool(getattr(drafter, "drafts_blocks", False))  # native DSpark: one decode a block
        self._launch_ahead = self._block_drafter and bool(getattr(drafter, "pipelined", False))

    @property
    def kv_len(self) -> int:
        return max(0, len(self.tokens) - 1)

    def reset(self) -> None:
        self.target.clear()
        self.tokens = []
        if self.drafter:
            self.drafter.reset()

    def _want_features(self) -> bool:
        """Hidden states cost every target decode a copy to the host: only while drafting is near. True when this
        switched the copy (llama.cpp then re-plans the target's graph: the next decode costs more than the curve)."""
        if self._capture is None:
            return False
        copying = bool(getattr(self.drafter, "capturing", False))
        return bool(self._capture(self.drafter is not None and self.scheduler.drafting_soon(copying)))

    # -- prompt ---------------------------------------------------------------------------------------------
    def _prefill(self, prompt: list[int], stats: GenerationStats) -> None:
        """Make the KV cache hold prompt[:-1], evaluating only what differs from what it holds now."""
        if not prompt:
            raise DSparkError("empty prompt")
        if getattr(self.target, "owner", None) is not self:
            # another session of the same pair used this KV cache since: nothing in it is ours
            self.target.clear()
            self.tokens = []
            self.target.owner = self
        if len(prompt) >= self.target.n_ctx:
            raise ContextOverflowError(
                f"prompt of {len(prompt)} tokens does not fit the {self.target.n_ctx}-token context (raise --ctx-size)"
            )
        keep = min(common_prefix(self.tokens[: self.kv_len], prompt), len(prompt) - 1)
        t0 = time.perf_counter()
        try:
            self.target.remove_from(keep)
            fresh = prompt[keep:-1]
            # one target batch at a time: feature-reading drafters (DSpark) see each batch's hidden states
            step = self.target.n_batch
            # whole batches with the device argmax on too: a prompt's batch has no output row, features copied or
            # not (64-token batches made a 4096-token prompt's prefill 1.5x as long on an H100, run W)
            self._want_features()
            # a feature-reading drafter injects a batch's features once the target's next batch is launched
            inject = getattr(self.drafter, "inject_backlog", None)
            for start in range(0, len(fresh), step):
                chunk = fresh[start : start + step]
                self.target.decode(chunk, keep + start, "none")
                if inject is not None:
                    if start:
                        inject()  # the batch before's, while the device evaluates this one
                    self.drafter.observe_target(chunk, keep + start, len(chunk), inject=False)
                elif self.drafter:
                    self.drafter.observe_target(chunk, keep + start, len(chunk))
            if inject is not None:
                inject()
        except BaseException:
            self.reset()  # a half-evaluated prompt leaves positions we cannot trust
            raise
        self.tokens = list(prompt)
        stats.prompt_tokens = len(prompt)
        stats.reused_tokens = keep
        stats.prefill_s = time.perf_counter() - t0

    # -- generation -----------------------------------------------------------------------------------------
    def generate(
        self, prompt: list[int], params: GenerateParams, cancel: threading.Event | None = None
    ) -> Iterator[Step | Done]:
        stats = GenerationStats(mode=self.mode)
        if self.target.rows_argmax is not None:  # greedy tokens from the device; sampling needs the logits
            self.target.rows_argmax.set(params.sampling.greedy)
        self._prefill(prompt, stats)
        stats.t_decode_start = time.perf_counter()
        self.scheduler.start_generation()
        try:
            yield from self._rounds(params, cancel, stats)
        finally:
            self._abandon_launch()  # a consumer that closed the generator early

    def _abandon_launch(self) -> None:
        """Drop a block launched for a round that will not come (see DSparkDrafter.launch)."""
        abandon = getattr(self.drafter, "abandon", None)
        if abandon is not None:
            abandon()

    def _rounds(self, params: GenerateParams, cancel: threading.Event | None, stats: GenerationStats
                ) -> Iterator[Step | Done]:
        sampling = params.sampling
        rng = make_rng(sampling.seed)
        on_device = self.target.rows_argmax is not None and self.target.rows_argmax.on
        stream = TextStream(self.target.model.piece, params.stop)
        out: list[int] = []
        reason = "length"
        sched = self.scheduler
        n_ctx = self.target.n_ctx
        # a block drafter's next block is launched before the round's text and step are handed out (see
        # DSparkDrafter.launch): its plan and the host seconds of its launch carry over to the next round
        next_plan: int | None = None
        ahead_s = 0.0
        while len(out) < params.max_tokens:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            t_round = time.perf_counter() - ahead_s
            ahead_s = 0.0
            pos = self.kv_len
            room = n_ctx - pos  # KV slots left, the pending token's included
            if room < 1:
                reason = "context"
                break
            draft = _EMPTY
            k = 0
            if next_plan is not None:
                n_plan, next_plan = next_plan, None
            else:
                k_limit = min(params.max_tokens - len(out) - 1, room - 1)
                n_plan = sched.plan(k_limit, self._block_drafter) if self.drafter is not None else 0
            if n_plan > 0:
                draft = self.drafter.draft(self.tokens, n_plan, sampling, rng, sched)
                if draft.chosen is not None:
                    k = draft.chosen
                elif len(draft):
                    k = sched.choose(draft.confidences, draft.seconds, draft.dists is not None)
            drafts = draft.tokens[:k]
            batch = [self.tokens[-1], *drafts]
            switched = self._want_features()
            copying = getattr(self.drafter, "capturing", None) if self._capture is not None else None
            t_v = time.perf_counter()
            if on_device:
                argmaxes = self.target.decode_argmax(batch, pos, "all" if k else "last")
                t_decoded = time.perf_counter()
                verdict = verify_greedy_tokens(argmaxes, drafts)
            else:
                logits = self.target.decode(batch, pos, "all" if k else "last")
                t_decoded = time.perf_counter()
                if sampling.greedy:
                    verdict = verify_greedy(logits, drafts)
                else:
                    dists = draft.dists[:k] if draft.dists is not None else [None] * k
                    verdict = verify_sampling(logits, drafts, dists, sampling, rng)
            m = verdict.n_accepted
            if m < k:
                self.target.remove_from(pos + 1 + m)
            if self.drafter is not None:
                self.drafter.observe_target(batch, pos, m + 1)
            new = [*drafts[:m], verdict.next_token]
            self.tokens.extend(new)

            # account the round before anything can end the loop
            verify_s = t_decoded - t_v
            stats.rounds += 1
            stats.drafted += len(draft)
            stats.verified += k
            stats.accepted += m
            stats.spec_rounds += 1 if k else 0
            stats.draft_s += draft.seconds
            stats.verify_s += verify_s

            # what the user gets: stop at end-of-generation tokens and at max_tokens
            emit = new
            eog = first_eog(new, self._eog)
            if eog is not None:
                emit = new[:eog]
                reason = "stop"
            emit = emit[: params.max_tokens - len(out)]
            t_tail = time.perf_counter()
            overhead = (t_tail - t_round) - draft.seconds - verify_s
            sched.observe(draft.confidences, k, m, verify_s, overhead, draft.seconds, switched, copying)
            n_out = len(out) + len(emit)
            if self._launch_ahead and reason != "stop" and n_out < params.max_tokens and self.kv_len < n_ctx:
                next_plan = sched.plan(min(params.max_tokens - n_out - 1, n_ctx - self.kv_len - 1), True)
                if next_plan > 0:
                    ahead_s = self.drafter.launch(self.tokens, next_plan)
            pieces = stream.push(emit)
            if stream.stopped:
                emit = emit[: len(pieces)]
                reason = "stop"
            out.extend(emit)
            stats.tokens = len(out)
            if emit and not stats.t_first:
                stats.t_first = time.perf_counter()
            # the stream's time is the round's too, though the scheduler saw the round before it (it overlaps a
            # launched block on GPUs)
            stats.overhead_s += overhead + (time.perf_counter() - t_tail) - ahead_s
            if emit:
                flags = [True] * min(m, len(emit)) + [False] * max(0, len(emit) - m)
                yield Step(emit, pieces, flags, len(draft), k, m, stats)
            if reason == "stop":
                break
        self._abandon_launch()
        stats.t_end = time.perf_counter()
        stats.estimated_speedup = sched.estimated_speedup(stats)
        tail = stream.flush()
        yield Done(reason, stream.text, out, stats, tail)
