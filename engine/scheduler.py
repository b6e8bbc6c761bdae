"""Hardware-aware choice of how much to draft and verify each round.

Expected tokens from verifying the first k drafts: E(k) = 1 + sum_{i<=k} prod_{j<=i} a_j (the 1 is the token the
target always adds). Cost: C(k) = draft seconds + T_verify(k + 1) + overhead. We pick k* = argmax E(k) / C(k);
k = 0 (a plain target step) is always a candidate, so with honest costs speculation cannot be slower than plain
decoding. Drafting that cannot pay is skipped; it is probed now and then so a drafter that improves is noticed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .calibration import Calibration
from .costs import MAX_TOKENS_PER_VERIFY, CostCurve

LOOKAHEAD = 4  # drafts looked ahead when deciding to draft one more (cost curves have steps)
PROBE_FIRST = 16  # rounds without verified drafts before probing the drafter again
PROBE_MAX = 1024  # probes that do not pay get rarer, so their cost vanishes on long generations
PROBE_DRAFTS = 4
# A block drafter's probe lasts up to this many rounds: its gate verifies what it trusts, and only the last round
# forces PROBE_DRAFTS past a gate that trusted nothing (a drafter whose confidence is too low is found that way).
# One forced round judged alone failed whenever the gate was right to cut: with a near-certain gate every forced
# probe of a pair at alpha 0.7 failed, drafting stopped for good after a bad stretch and the pair ran 1.04x plain
# where blocks every round made 1.3x (benchmarks/scheduler_sim.py --blocks, run N's costs).
PROBE_ROUNDS = 4
# A probe costs more than the plain step it replaces: the drafter's return, a batch of another size and, for
# feature-reading drafters, two switches of the target's feature copy (25-55 ms each on an H100, ~10 plain steps:
# DSpark at alpha 0 ran at 0.93-0.97x plain, run H). After UNPAID_IN_A_ROW probes that would not have paid even
# in steady drafting, probes are spaced so they cost at most PROBE_SHARE of plain decoding. (The running
# acceptance is no guide here: gated drafters at alpha 0.8 looked hopeless to it, and stayed stopped.) A 2% share
# read 0.966-0.977x plain at alpha 0 in 256-token windows on an H100 (run M: each switch of the feature copy cost
# a window about 2%, and a probe has two); at 1% a probe comes about as often as at 2% once the feature switch is
# cheap (packaging/patch_feature_switch.py: 2.2 ms instead of 17.4 on an H100, run N, where 1% read 0.969-0.977x:
# see _probe_cost_wait for what the budget did not count then).
PROBE_SHARE = 0.01
UNPAID_IN_A_ROW = 2
# Feature-reading drafters (native DSpark) make every target decode copy hidden states to the host. They are
# wanted only around drafting: after FEATURES_IDLE rounds without a draft, until FEATURES_BEFORE_PROBE rounds
# before the next probe (the drafter then sees at least that many recent positions).
FEATURES_IDLE = 8
FEATURES_BEFORE_PROBE = 8
# Switching the copy is not free either: llama.cpp re-plans the target's graph memory, and on an H100 the decode
# after a switch took 18-59 ms and the next one 6-15 ms against 3.8 ms a step (docs/benchmarks.md run G). The
# copy costs about this share of a step (3.89 against 3.75 ms on an H100), so while the next probe is nearer than
# two switches' worth of copying, the copy stays on. The share is learned from plain steps with and without the
# copy (COPY_SAMPLES of each) and this prior stands in until then: other machines copy at other costs.
FEATURE_COPY_SHARE = 0.04
COPY_SAMPLES = 16
COPY_EMA = 0.05
SWITCH_EMA = 0.3
FREE_DRAFT = 0.02  # a drafter costing under 2% of a target step (n-gram lookup) is always consulted
PRIOR_ACCEPTANCE = 0.6
# Speculate only when the estimate beats a plain step by this much: estimates are noisy, plain steps are not.
MARGIN = 0.05  # belief in a fresh drafter's per-position acceptance, before any round
ACCEPT_EMA = 0.05
# Calibration is global and slow; text has regimes (a list being counted, code being copied). Recent rounds scale
# the calibrated estimates by how they did against their own predictions, forgetting at this rate per round.
REGIME_DECAY = 0.8
# The plan is a model; what drafting rounds really yielded (tokens per second, drafting and Python included) is
# the check on it. When recent drafting rounds made fewer tokens per second than plain steps, drafting stops until
# a probe pays. Measured need: on an H100 at alpha 0.6 the model planned blocks that ran at 0.82x plain, because
# real verify batches cost 1.2 ms more than the profile (the batch size changes every round).
# Once stopped, drafting resumes only after a probe pays; a probe is judged by its accepted tokens over what its
# round would cost in steady drafting (its realized time pays the return: a drafter catching up on the plain
# stretch, a batch of another size, the feature copy, 3-10 ms an H100 round, so probes at alpha 0.8 never paid and
# drafting that stopped on a bad start stayed stopped for whole runs: 0.93-0.99x against 1.2-1.3x). A paid probe
# starts a trial of fresh realized evidence; a trial that loses counts as a probe that did not pay.
# The realized rate decides once it has REALIZED_MIN_ROUNDS of evidence, a clear loss (under CLEAR_LOSS of plain)
# after CLEAR_LOSS_ROUNDS. A short memory lets a bad stretch stop drafting that pays: (0.9, 4) stopped a DSpark
# pair making 1.25x plain at alpha 0.7 (benchmarks/scheduler_sim.py --blocks: 1.11-1.26x over 2000 rounds), and
# (0.95, 8) still lost 250-round runs to one: against (0.98, 16), 12 seeds, DSpark at 0.7 1.216x against 1.240x
# (250 rounds), at 0.6 0.992x against 1.001x (2000); a model drafter at 0.8 after a bad start 1.16x against 1.28x
# (250 rounds, 0.89x at worst against 1.23x), 0.9 1.53x against 1.63x; alpha 0 and steady 0.8 unchanged. A clear
# loss still ends drafting after 4 rounds: 8 cost alpha 0 a few blocks a run (0.937x against 0.940x, 250 rounds).
REALIZED_DECAY = 0.98  # weight of the previous drafting round in the realized rate
REALIZED_MIN_ROUNDS = 16.0
CLEAR_LOSS = 0.9
CLEAR_LOSS_ROUNDS = 4.0
RETURN_AFTER = 2  # a drafting round after this many rounds without drafts pays the return, not the drafting
# A verdict of "plain steps" holds until something it depends on changes: drafting (acceptance, realized rates)
# or a probe falling due. Until then plan() answers without its numpy (0.15-0.2 ms a round on an H100's host,
# ~4% of a plain step), re-checking at least this often for the slow drifts (overheads, the verify curve).
PLAN_RECHECK = 16
OVERHEAD_EMA = 0.1


# Most drafts a round when the user sets none: SHORT_DRAFT, or LONG_DRAFT where verifying LONG_DRAFT + 1 tokens costs
# at most FLAT_VERIFY single steps. On an H100 T(33) is 2.8 steps, and an n-gram drafter on a repetitive prompt went
# from 1.02x to 1.53x llama.cpp's with 32 (docs/benchmarks.md run J); on the 2-core CPU T(33) is 6-20 steps, and 32
# made the n-gram drafter's spans longer and its calibration (per confidence, not per position) more pessimistic:
# 1.18x against 1.24-1.31x plain on Gemma 3 270M. (Against T(17) instead of T(1), a noisy CPU profile looked flat.)
SHORT_DRAFT = 16
LONG_DRAFT = MAX_TOKENS_PER_VERIFY - 1
FLAT_VERIFY = 4.0


@dataclass
class ScheduleConfig:
    max_draft: int | None = None  # None: by the verify cost curve (see LONG_DRAFT)
    fixed_draft: int | None = None  # verify exactly this many drafts when drafted (tests, experiments)

    def __post_init__(self) -> None:
        if self.max_draft is not None:
            self.max_draft = max(0, min(self.max_draft, MAX_TOKENS_PER_VERIFY - 1))


class Scheduler:
    def __init__(
        self,
        verify_cost: CostCurve,
        draft_cost: Callable[[int], float],
        config: ScheduleConfig,
        calibration: Calibration | None = None,
        draft_costs: Callable[[int], np.ndarray] | None = None,
    ):
        self.verify_cost = verify_cost
        self.draft_cost = draft_cost  # expected seconds to draft k tokens now, before drafting
        self.draft_costs = draft_costs  # the same for k = 1..k_max at once, as an array (optional)
        self.config = config
        self.calibration = calibration or Calibration()
        self.acceptance = PRIOR_ACCEPTANCE  # running per-position acceptance, for planning before drafting
        self.overhead = 0.0  # running Python seconds per round outside decodes
        self.overhead_plain = 0.0  # the same for rounds without a draft
        self._regime_accepted = 0.0  # decayed drafts accepted in recent rounds
        self._regime_expected = 0.0  # decayed drafts the estimates promised in those rounds
        self._since_spec = 0  # rounds since drafts were last verified
        self._since_planned = 0  # rounds since plan() last asked for drafts
        self._hopeless = False  # the last plan found that even a drafter always right could not pay (no probes)
        self._plain_plans = 0  # plans still answered "plain step" without recomputing (see PLAN_RECHECK)
        self._probe_every = PROBE_FIRST
        self._unpaid = 0  # probes in a row that would not have paid (see PROBE_SHARE)
        self._cost_wait = 0  # rounds between probes that keep them within PROBE_SHARE, once _unpaid says so
        self._gate_confs: list[float] = []  # the current draft's confidences, as the gate last saw them
        self._gate_a: list[float] = []  # and their acceptance estimates
        self._gate_table: list[float] = []
        self._gate_factor = 1.0
        self._vc: list[float] = []
        # tokens in the last verify batch and how many batches in a row had that size (see _verify_costs)
        self._last_n = 1
        self._run = 1
        self._realized = {True: [0.0, 0.0, 0.0], False: [0.0, 0.0, 0.0]}  # drafting? -> decayed tokens, s, rounds
        self._since_drafting = 0  # rounds since one last drafted (see RETURN_AFTER)
        self._trial = False  # drafting resumed after a paid probe, not yet judged by its realized rate
        self.probing = False
        self._block = False  # the drafter pays for all its drafts in one decode (plan's `block`)
        self._probe_rounds = 0  # rounds of the current probe so far whose gate verified nothing
        self._probe_spent = [0.0, 0.0]  # their tokens and steady seconds, which the probe's judgement includes
        self.switch_cost = 0.0  # seconds a switch of the feature copy costs the decodes after it (learned)
        self._after_switch = 0  # rounds still paying for the last switch
        self._switch_seconds = 0.0  # what they paid so far
        # plain steps' seconds (decayed sum, weight, count) with the target copying features and without
        self._plain_steps = {True: [0.0, 0.0, 0], False: [0.0, 0.0, 0]}
        self._reads_features = False  # the drafter reads the target's hidden states (observe was told `copying`)

    def start_generation(self) -> None:
        """A new prompt is a new regime: recent surprises say nothing about it."""
        self._regime_accepted = self._regime_expected = 0.0
        self._plain_plans = 0  # and drafting costs change with it (a drafter catching up on a new prompt)
        # its first drafting round pays the prompt's return (a drafter catching up on it), not the drafting
        self._since_drafting = max(self._since_drafting, RETURN_AFTER)

    def max_draft(self) -> int:
        """Most drafts this round: the user's cap, else by the shape of the verify curve (see LONG_DRAFT)."""
        if self.config.max_draft is not None:
            return self.config.max_draft
        flat = self.verify_cost(LONG_DRAFT + 1) <= FLAT_VERIFY * self.verify_cost(1)
        return LONG_DRAFT if flat else SHORT_DRAFT

    def drafting_soon(self, copying: bool = False) -> bool:
        """Should the target copy hidden states for a drafter now? (see FEATURES_IDLE)

        copying: whether it copies them now. The copy is turned off only when the rounds until the next probe
        cost more copying than switching it off and on again does."""
        if self._since_planned < FEATURES_IDLE:
            return True
        if self._hopeless:  # no probe comes while drafting cannot pay at all (a CPU whose drafter costs a step)
            return False
        if self._since_spec + FEATURES_BEFORE_PROBE >= self._probe_wait():
            return True
        if not copying:
            return False
        rounds_left = self._probe_wait() - self._since_spec
        return rounds_left * self.copy_share * self.verify_cost(1) < 2.0 * self.switch_cost

    @property
    def copy_share(self) -> float:
        """What copying features adds to a plain step, as a share of it: measured once both kinds of step have
        COPY_SAMPLES, else FEATURE_COPY_SHARE."""
        on, off = self._plain_steps[True], self._plain_steps[False]
        if on[2] < COPY_SAMPLES or off[2] < COPY_SAMPLES:
            return FEATURE_COPY_SHARE
        return max(0.0, (on[0] / on[1]) / (off[0] / off[1]) - 1.0)

    # -- before drafting ------------------------------------------------------------------------------------
    def plan(self, k_limit: int, block: bool = False) -> int:
        """How many tokens to draft this round (0: plain step). Uses the running acceptance, not yet the draft.

        block: the drafter pays for all its drafts up front in one decode (native DSpark), so the block size is
        decided here, as the best expected rate; autoregressive drafters get an upper bound and stop early.
        """
        self._block = block
        k = self._plan(k_limit, block)
        self._since_planned = 0 if k else self._since_planned + 1
        return k

    def _plan(self, k_limit: int, block: bool) -> int:
        k_limit = min(k_limit, self.max_draft())
        self.probing = False
        self._gate_confs.clear()  # a new draft: the gate re-reads calibration and costs (see _gate_probs)
        self._gate_a.clear()
        if k_limit <= 0:
            return 0
        if self.config.fixed_draft is not None:
            return min(self.config.fixed_draft, k_limit)
        if self._plain_plans > 0:
            self._plain_plans -= 1
            return 0
        if self._free(k_limit):
            return k_limit
        rates, ceiling, plain = self._plan_rates(k_limit, block)
        best = max(rates)
        if self._wants_drafting(best > plain * (1.0 + MARGIN), plain):
            if not block:
                return k_limit
            return rates.index(best) + 1  # the first k of the best rate
        # computed with the plain verdict, not every round (Session asks drafting_soon every round)
        self._cost_wait = self._probe_cost_wait() if self._unpaid >= UNPAID_IN_A_ROW else 0
        # even a drafter that is always right could not pay here: never spend a probe on it
        self._hopeless = not max(ceiling) > plain
        if not self._hopeless and self._probe_due():
            return min(k_limit, PROBE_DRAFTS)
        # nothing this verdict rests on changes before the next probe or drafting round (observe ends it early);
        # a hopeless drafter gets no probe, so only the slow drifts bound it (its rounds since a draft pass any wait)
        self._plain_plans = PLAN_RECHECK if self._hopeless else min(PLAN_RECHECK,
                                                                     self._probe_wait() - self._since_spec - 1)
        return 0

    def _plan_rates(self, k_limit: int, block: bool) -> tuple[list[float], list[float], float]:
        """E(k) / C(k) for k = 1..k_limit at the running acceptance, (1 + k) / C(k) (a drafter always right), and
        a plain step's rate.

        Plain Python over at most 32 entries (this runs every drafting round, and numpy's per-call costs showed),
        the same IEEE operations in the same order as numpy's: E(k) = 1 + cumsum(acceptance^k)."""
        powers = (self.acceptance ** np.arange(1, k_limit + 1)).tolist()  # numpy's pow, as ever (its rounding)
        vc = self._verify_costs()
        overhead = self.overhead
        rates, ceiling = [], []
        reach = 0.0
        for k, (power, draft_s) in enumerate(zip(powers, self._draft_costs(k_limit).tolist()), start=1):
            reach += power
            expected = 1.0 + reach
            # a gated block is verified up to about its expected accepted length, not whole: on flat (GPU) verify
            # curves a long block then costs little more than a short one
            verified = min(math.ceil(expected), k + 1) if block else k + 1
            cost = draft_s + vc[verified] + overhead
            rates.append(expected / cost)
            ceiling.append((1.0 + k) / cost)
        return rates, ceiling, 1.0 / (vc[1] + overhead)

    def _wants_drafting(self, planned: bool, planned_plain_rate: float) -> bool:
        """Draft this round? What recent drafting rounds really made, once there are enough of them, decides;
        before that the plan does (planned: its estimate beats plain steps by MARGIN), except in a trial, which
        drafts until its evidence suffices. The plan's estimate rests on the running acceptance, which a bad
        stretch pulls down for a while: trusted over the realized rate, it stopped a DSpark pair at alpha 0.7
        that was making 1.25x plain (benchmarks/scheduler_sim.py --blocks). A trial ends once its evidence
        suffices: one that lost doubles the wait for the next probe, as an unpaid probe does (a drafter whose probes
        pay by luck then tries rarely); one that clearly won makes the next stop (bad luck, a new topic) cheap to
        undo."""
        if not self._block and not planned:
            # an autoregressive drafter's realized rate leaves out what toggling costs it (the catch-up of a
            # drafter that sat out plain steps), so for it the rate only vetoes the plan: drafting on its word
            # alone read 0.94-0.99x plain at alpha 0.6 in the simulation
            if self._trial:  # the plan gave up before the realized rate could judge: the trial lost
                self._end_trial(0.0)
            return False
        ratio = self._realized_ratio(planned_plain_rate)
        if ratio is None:
            return planned or self._trial
        if self._trial:
            self._end_trial(ratio)
        return ratio > 1.0

    def _end_trial(self, ratio: float) -> None:
        """ratio: the trial's realized rate over plain steps' (0: the plan gave up on it)."""
        self._trial = False
        if ratio < 1.0:
            self._back_off()
        elif ratio > 1.0 + MARGIN:
            self._probe_every = PROBE_FIRST

    def _realized_ratio(self, planned_plain_rate: float) -> float | None:
        """Recent drafting rounds' tokens per second over plain steps', None before enough rounds.

        Plain steps are judged at their best: realized or as a stretch of them costs (the profile). Plain steps
        between drafting rounds pay for the drafting (the verify size changed: a rebuild, a CUDA graph capture,
        the feature copy switched), so their realized rate alone let drafting that lost look even (measured on an
        H100: a DSpark pair at alpha 0.6 kept drafting at 0.74-0.86x plain, docs/benchmarks.md run G)."""
        tokens, seconds, rounds = self._realized[True]
        if rounds < CLEAR_LOSS_ROUNDS or seconds <= 0.0:
            return None
        steady = 1.0 / (self.verify_cost(1) + self.overhead_plain)
        p_tokens, p_seconds, p_rounds = self._realized[False]
        realized = p_tokens / p_seconds if p_rounds >= REALIZED_MIN_ROUNDS and p_seconds > 0 else planned_plain_rate
        ratio = tokens / seconds / max(realized, steady)
        return ratio if rounds >= REALIZED_MIN_ROUNDS or ratio < CLEAR_LOSS else None

    def _draft_costs(self, k_max: int) -> np.ndarray:
        """Drafting seconds for k = 1..k_max: one call where the drafter can (this runs every round)."""
        if self.draft_costs is not None:
            return self.draft_costs(k_max)
        return np.array([self.draft_cost(int(k)) for k in range(1, k_max + 1)])

    def _probe_wait(self) -> int:
        """Rounds without verified drafts before the next probe."""
        return max(self._probe_every, self._cost_wait)

    def _probe_cost_wait(self) -> int:
        """Rounds between probes that keep their extra cost within PROBE_SHARE of plain decoding."""
        n = min(PROBE_DRAFTS + 1, MAX_TOKENS_PER_VERIFY)
        curve = self.verify_cost
        extra = self.draft_cost(PROBE_DRAFTS) + curve(n) - curve(1) + 2.0 * curve.shape_change + curve.capture
        if self._block:  # a probe the gate never trusts drafts PROBE_ROUNDS blocks
            extra += (PROBE_ROUNDS - 1) * self.draft_cost(PROBE_DRAFTS)
        if self._reads_features:
            # the two switches, and the copying around the probe: from when drafting_soon turns the copy on (at most
            # two switches' worth of copying before it, FEATURES_BEFORE_PROBE rounds at least) to FEATURES_IDLE
            # rounds after it. Without the copying a probe cost a 256-token window 2.7-3.5% on an H100, about
            # twice this estimate (run N), so a 1% share read 0.969-0.977x plain
            copy_step = self.copy_share * curve(1)
            extra += (2.0 * self.switch_cost + max(2.0 * self.switch_cost, FEATURES_BEFORE_PROBE * copy_step)
                      + FEATURES_IDLE * copy_step)
        return int(extra / (PROBE_SHARE * (curve(1) + self.overhead_plain)))

    def _probe_due(self) -> bool:
        """A drafter that stopped paying is re-tested now and then: topics change, code gets repeated."""
        if self._since_spec >= self._probe_wait():
            self.probing = True
        return self.probing

    # -- while drafting (autoregressive drafters) ------------------------------------------------------------
    # Both questions are asked before the next token is sampled, from confidences of laws already computed: in
    # sampling mode, gating on the sampled token itself would bias the output away from the target's law.
    # They run once per drafted token, so they are plain Python over short lists (numpy's per-call cost made them
    # ~0.1 ms a token, a measurable share of a GPU round) and reuse the calibrated values of earlier positions.
    def keep_drafting(self, confidences: list[float], sunk: float, step: float) -> bool:
        """After drafting len(confidences) tokens in `sunk` seconds: is another drafter step worth `step`?"""
        if self.config.fixed_draft is not None or self.probing:
            return True
        a = self._gate_probs(confidences)
        expected, best, reach, _ = self._best_rate(a, sunk)
        a_next = a[-1] if a else self.acceptance
        return self._lookahead(expected, reach, a_next, len(a), sunk, step) > best

    def include(self, confidences: list[float], sunk: float, step: float) -> bool:
        """The last confidence belongs to a position whose law is known but not yet sampled: draft it?"""
        if self.config.fixed_draft is not None or self.probing:
            return True
        a = self._gate_probs(confidences)
        expected, without, reach, _ = self._best_rate(a[:-1], sunk)
        reach *= a[-1]
        with_it = expected + reach
        n = len(a)
        here = with_it / (sunk + self._vc[min(n + 1, MAX_TOKENS_PER_VERIFY)] + self.overhead)
        return max(here, self._lookahead(with_it, reach, a[-1], n, sunk, step)) > without

    def _gate_probs(self, confidences) -> list[float]:
        """a_i for each confidence (the calibration, scaled by how recent rounds did against it), as a list,
        computing only positions not seen in this draft's earlier calls."""
        if isinstance(confidences, np.ndarray):
            confidences = confidences.tolist()  # one conversion: the loops below read it element by element
        known, probs = self._gate_confs, self._gate_a
        n, same = 0, min(len(known), len(confidences))
        while n < same and known[n] == confidences[n]:
            n += 1
        if n == 0:  # a new draft: the calibration and the costs may have changed since the last one
            self._gate_table = self.calibration.table_list()
            self._gate_factor = (self._regime_accepted + 1.0) / (self._regime_expected + 1.0)
            self._vc = self._verify_costs()
        del known[n:]
        del probs[n:]
        bucket, table, factor = self.calibration.bucket, self._gate_table, self._gate_factor
        for c in confidences[n:]:
            c = float(c)
            known.append(c)
            probs.append(min(table[bucket(c)] * factor, 0.995))
        return probs[: len(confidences)]

    def _best_rate(self, a: list[float], sunk: float) -> tuple[float, float, float, int]:
        """E(len(a)), max over k = 0..len(a) of E(k) / C(k), prod(a), and the first k reaching that max."""
        expected, reach = 1.0, 1.0
        vc, extra = self._vc, sunk + self.overhead
        best, best_k = expected / (extra + vc[1]), 0
        for k, x in enumerate(a, start=1):
            reach *= x
            expected += reach
            rate = expected / (extra + vc[min(k + 1, MAX_TOKENS_PER_VERIFY)])
            if rate > best:
                best, best_k = rate, k
        return expected, best, reach, best_k

    def _lookahead(self, expected: float, reach: float, a_next: float, n: int, sunk: float, step: float) -> float:
        """Best expected rate from drafting j = 1..LOOKAHEAD more tokens at a_next each."""
        vc = self._vc
        best, gain, p = 0.0, 0.0, 1.0
        for j in range(1, LOOKAHEAD + 1):
            if n + j + 1 > MAX_TOKENS_PER_VERIFY:
                break
            p *= a_next
            gain += reach * p
            best = max(best, (expected + gain) / (sunk + j * step + vc[n + j + 1] + self.overhead))
        return best

    # -- after drafting -------------------------------------------------------------------------------------
    def choose(self, confidences: np.ndarray, sunk: float, exact_laws: bool = False) -> int:
        """How many of the drafted tokens to verify (0..len): argmax of expected tokens per second.

        exact_laws: the drafts were sampled (not argmax), so they were already gated position by position before
        sampling and must all be verified: cutting them now would depend on the sampled tokens.
        """
        n = len(confidences)
        if n == 0:
            return 0
        if exact_laws:
            return n
        if self.config.fixed_draft is not None:
            return min(n, self.config.fixed_draft)
        # plain Python over the gate's cached estimates (this runs every round; numpy's per-call cost showed)
        _, best, _, k = self._best_rate(self._gate_probs(confidences), sunk)
        if best < 1.0 / (sunk + self.overhead + self._vc[1]) * (1.0 + MARGIN):
            k = 0
        if k == 0 and self._probe_due() and not (self._block and self._probe_rounds + 1 < PROBE_ROUNDS):
            k = min(n, PROBE_DRAFTS)
        return k

    def _verify_costs(self) -> list[float]:
        """Seconds to verify n tokens (index n) this round, as llama.cpp's CUDA backend makes them cost: a batch of
        another size than the last one's runs uncaptured (shape_change more), the second batch of a size captures
        its graph anew (capture more, 3.5x a shape change on an H100), later ones replay it. So a verify size is
        best changed every round or kept for many; a plain step's capture is paid once for a whole stretch of
        them and is not charged. On CPUs both costs are ~0. Plain Python over a list: the gate and the plan read
        it every round, and numpy's per-call costs showed there."""
        curve = self.verify_cost
        change, capture, scale = curve.shape_change, curve.capture, curve.scale
        if change <= 0.0 and capture <= 0.0:
            return [b * scale for b in curve.base_list]
        vc = [b * scale + change for b in curve.base_list]
        vc[self._last_n] -= change
        if self._run == 1 and self._last_n > 1:
            vc[self._last_n] += capture
        return vc

    def _shape_extra(self, n: int) -> float:
        """What a verify of n tokens after the last one really paid on top of the curve (see _verify_costs)."""
        if n != self._last_n:
            return self.verify_cost.shape_change
        return self.verify_cost.capture if self._run == 1 else 0.0

    # -- after verifying ------------------------------------------------------------------------------------
    def _judge_probe(self, k: int, n_accepted: int, overhead: float) -> None:
        """Would rounds like this probe pay in steady drafting? (see RETURN_AFTER) The probe's first j drafts,
        for the best j, at their steady cost (the drafter has caught up now), the verify at the curve plus a shape
        change, against plain steps. The best j, not all k: in steady drafting the gate picks the length."""
        plain = 1.0 / (self.verify_cost(1) + self.overhead_plain)
        paid = False
        if n_accepted:
            js = np.arange(1, n_accepted + 1)
            steady = (self._draft_costs(n_accepted) + self.verify_cost.array()[js + 1] + self.verify_cost.shape_change
                      + overhead)
            # a block probe's earlier rounds, whose blocks the gate cut, are part of what steady drafting costs
            spent_tokens, spent_s = self._probe_spent
            paid = bool(((js + 1 + spent_tokens) / (steady + spent_s)).max() > plain * (1.0 + MARGIN))
        if not paid:
            self._unpaid += 1
            self._back_off()
            return
        self._unpaid = 0
        self._cost_wait = 0
        if self._free(k):
            # a free drafter (n-gram lookup) drafts whenever it finds something and is never judged by trials:
            # its probes are of spans the gate cut, and one that paid halves the wait for the next
            self._probe_every = max(PROBE_FIRST, self._probe_every // 2)
        else:
            # one lucky probe is weak evidence: only a trial that wins shortens the wait for the next probe
            # (resetting it on every paid probe made a DSpark pair at alpha 0.6, whose probes paid one time in four,
            # probe every 16-32 rounds at ~6 plain steps a probe with its feature-copy switches on an H100). The
            # rounds that lost are forgotten: the plan drafts again, on trial (see _judge_drafting)
            self._realized[True] = [0.0, 0.0, 0.0]
            self._trial = True

    def _back_off(self) -> None:
        """A probe or a trial that did not pay: the next probe waits twice as long."""
        self._probe_every = min(self._probe_every * 2, PROBE_MAX)

    def _free(self, k: int) -> bool:
        """Does drafting k cost next to nothing against a target step (an n-gram lookup)?"""
        return self.draft_cost(k) <= FREE_DRAFT * self.verify_cost(1)

    def observe(self, confidences: np.ndarray, k: int, n_accepted: int, verify_seconds: float, overhead: float,
                draft_seconds: float = 0.0, switched: bool = False, copying: bool | None = None) -> None:
        """switched: the target's feature copy was switched before this round's verify (see Session): its decode
        re-planned the graph, a cost of drafting that says nothing about the verify curve. copying: whether that
        decode copied features (None: the pair has no feature reader), which teaches copy_share."""
        drafting = bool(k or len(confidences))
        self._reads_features = self._reads_features or copying is not None
        if drafting:
            self._plain_plans = 0  # acceptance and realized rates move: the next plan computes afresh
        self.calibration.count_round(drafting)
        if not (drafting and self._since_drafting >= RETURN_AFTER):
            got = self._realized[drafting]
            got[0] = REALIZED_DECAY * got[0] + n_accepted + 1
            got[1] = REALIZED_DECAY * got[1] + draft_seconds + verify_seconds + overhead
            got[2] = REALIZED_DECAY * got[2] + 1.0
        self._since_drafting = 0 if drafting else self._since_drafting + 1
        n = min(k + 1, MAX_TOKENS_PER_VERIFY)
        # the running scale tracks the curve itself (replayed graphs): shape changes are accounted for separately,
        # and so is a switch of the feature copy (its decode and the next one pay it)
        curve_seconds = verify_seconds - self._shape_extra(n)
        if switched:
            self._after_switch = 2
            self._switch_seconds = 0.0
        if self._after_switch:
            self._after_switch -= 1
            self._switch_seconds += max(0.0, curve_seconds - self.verify_cost(k + 1))
            if not self._after_switch:
                first = self.switch_cost == 0.0
                self.switch_cost += (1.0 if first else SWITCH_EMA) * (self._switch_seconds - self.switch_cost)
        else:
            self.verify_cost.observe(k + 1, curve_seconds)
            if copying is not None and k == 0 and not len(confidences):
                self._learn_copy(copying, curve_seconds)
        self._run = self._run + 1 if n == self._last_n else 1
        self._last_n = n
        self.overhead += OVERHEAD_EMA * (overhead - self.overhead)
        if k == 0 and len(confidences) == 0:
            self.overhead_plain += OVERHEAD_EMA * (overhead - self.overhead_plain)
        if k == 0:
            self._since_spec += 1
            if self.probing and len(confidences):  # a probe's block that the gate cut whole: the probe goes on
                self._probe_rounds += 1
                self._probe_spent[0] += 1.0
                self._probe_spent[1] += self.draft_cost(len(confidences)) + self.verify_cost(1) + overhead
            elif not self.probing and self._probe_rounds:  # no probe under way: the next one starts afresh
                self._forget_probe()
        else:
            if self.probing:
                self._judge_probe(k, n_accepted, overhead)
            self._since_spec = 0
            self.probing = False
            if self._probe_rounds:
                self._forget_probe()
        # the estimates the gate and `choose` used for this draft, before this round changes calibration and regime
        predicted = self._gate_probs(confidences) if len(confidences) else []
        if k:
            reached = min(k, n_accepted + 1)
            self._regime_accepted = REGIME_DECAY * self._regime_accepted + n_accepted
            self._regime_expected = REGIME_DECAY * self._regime_expected + sum(predicted[:reached])
            self.calibration.record(confidences[:k], n_accepted)
            for i in range(reached):
                self.acceptance += ACCEPT_EMA * ((1.0 if i < n_accepted else 0.0) - self.acceptance)
        if n_accepted == k < len(confidences):
            # drafted but cut before verification: the calibrated estimate is all we learn about that position.
            # Without this a drafter whose every block is cut (nothing ever verified) keeps the planner's belief
            # where it was and keeps paying for blocks (measured: a native drafter at alpha 0 ran at 0.90x plain)
            self.acceptance += ACCEPT_EMA * (predicted[k] - self.acceptance)
        self._gate_confs.clear()  # calibration, regime and costs changed: the next draft's estimates are new
        self._gate_a.clear()

    def _forget_probe(self) -> None:
        self._probe_rounds = 0
        self._probe_spent = [0.0, 0.0]

    def _learn_copy(self, copying: bool, seconds: float) -> None:
        got = self._plain_steps[copying]
        got[0] = (1.0 - COPY_EMA) * got[0] + seconds
        got[1] = (1.0 - COPY_EMA) * got[1] + 1.0
        got[2] += 1

    def estimated_speedup(self, stats) -> float | None:
        """The engine's own time for these tokens against what plain steps would cost on this machine now
        (profiled, running). Only the rounds' time counts on both sides: whatever the caller does between
        events (a UI painting, a slow terminal) would slow plain decoding just as much."""
        engine_s = stats.draft_s + stats.verify_s + stats.overhead_s
        if not stats.rounds or engine_s <= 0:
            return None
        # every round yields its accepted drafts plus one target token, the end-of-generation one included:
        # plain decoding would have paid one step for each of them
        produced = stats.accepted + stats.rounds
        return produced * (self.verify_cost(1) + self.overhead_plain) / engine_s
