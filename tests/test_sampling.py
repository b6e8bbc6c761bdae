"""Speculative sampling keeps the target's distribution exactly.

Two levels: the acceptance rule on its own (Monte Carlo over fixed p and q, chi-square against p), and the whole
engine end to end (a real pair, many seeds, the distribution of the first generated tokens compared between plain
and speculative decoding with a two-sample chi-square test).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from dspark_chat.engine.chat import chat_tokens
from dspark_chat.engine.events import Done
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import Dist, SamplingParams, distribution
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams
from dspark_chat.engine.verify import residual, verify_sampling

P_FLOOR = 1e-3  # a correct sampler fails a chi-square test at this level once in a thousand runs


def _logits_for(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, 1e-30)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acceptance_rule_reproduces_target_law(seed):
    rng = np.random.default_rng(seed)
    vocab = 12
    p = rng.dirichlet(np.ones(vocab) * 0.7)
    q = rng.dirichlet(np.ones(vocab) * 0.7)  # a drafter that is often wrong
    params = SamplingParams(temperature=1.0)
    logits = np.stack([_logits_for(p), _logits_for(p)])
    q_dist = Dist(np.arange(vocab), q)
    counts = np.zeros(vocab)
    n = 20000
    for _ in range(n):
        x = q_dist.sample(rng)
        verdict = verify_sampling(logits, [x], [q_dist], params, rng)
        first = x if verdict.n_accepted == 1 else verdict.next_token
        counts[first] += 1
    target = distribution(logits[0], params)
    expected = np.zeros(vocab)
    expected[target.ids] = target.probs * n
    assert chisquare(counts, expected).pvalue > P_FLOOR


def test_point_mass_drafts_are_exact_too():
    rng = np.random.default_rng(7)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    params = SamplingParams(temperature=1.0)
    logits = np.stack([_logits_for(p), _logits_for(p)])
    counts = np.zeros(4)
    n = 20000
    for _ in range(n):
        verdict = verify_sampling(logits, [1], [None], params, rng)  # always proposes token 1
        counts[1 if verdict.n_accepted else verdict.next_token] += 1
    assert chisquare(counts, p * n).pvalue > P_FLOOR


def test_residual_is_normalised_positive_part():
    p = Dist(np.array([0, 1, 2]), np.array([0.5, 0.3, 0.2]))
    q = Dist(np.array([1, 3]), np.array([0.6, 0.4]))
    r = residual(p, q)
    got = dict(zip(r.ids.tolist(), r.probs.tolist()))
    assert got == pytest.approx({0: 0.5 / 0.7, 2: 0.2 / 0.7})


def test_filters_match_their_definitions():
    logits = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])).astype(np.float32)
    assert distribution(logits, SamplingParams(1.0, top_k=2)).ids.tolist() == [0, 1]
    # top-p 0.7 keeps the smallest prefix reaching 0.7: 0.4 + 0.25 + 0.15
    assert distribution(logits, SamplingParams(1.0, top_p=0.7)).ids.tolist() == [0, 1, 2]
    # min-p 0.3 keeps p >= 0.3 * 0.4
    assert distribution(logits, SamplingParams(1.0, min_p=0.3)).ids.tolist() == [0, 1, 2]
    cold = distribution(logits, SamplingParams(0.5))
    assert cold.probs[0] > 0.4 and cold.probs.sum() == pytest.approx(1.0)


def _first_tokens(session, prompt, params, seeds, n_tokens):
    seen = Counter()
    for seed in seeds:
        p = GenerateParams(max_tokens=n_tokens, sampling=SamplingParams(
            temperature=params.temperature, top_k=params.top_k, top_p=params.top_p, seed=seed))
        for ev in session.generate(prompt, p):
            if isinstance(ev, Done):
                seen[tuple(ev.tokens[:n_tokens])] += 1
    return seen


@pytest.mark.parametrize("drafter", ["model", "ngram"])
def test_engine_sampling_matches_plain_distribution(smollm_f16, smollm_q4, drafter):
    """Joint law of the first two tokens: plain vs speculative, 600 seeds each, two-sample chi-square."""
    spec = smollm_q4 if drafter == "model" else "ngram"
    params = SamplingParams(temperature=1.5, top_k=4)
    with Pair(smollm_f16, spec, PairOptions(n_ctx=256, schedule=ScheduleConfig(fixed_draft=3))) as pair:
        # a prompt whose continuation repeats earlier text, so the n-gram drafter has proposals too
        prompt = chat_tokens(pair.target_model, [{"role": "user", "content": "Say: red green blue red green blue"}])
        n = 600
        plain = _first_tokens(pair.plain_session(), prompt, params, range(n), 2)
        specd = _first_tokens(pair.session(), prompt, params, range(10_000, 10_000 + n), 2)
        assert pair.session().mode == drafter
    keys = sorted(set(plain) | set(specd), key=lambda k: -(plain[k] + specd[k]))
    # pool rare outcomes so every cell of the test has enough mass
    common = [k for k in keys if plain[k] + specd[k] >= 20]
    table = [[plain[k] for k in common] + [sum(plain[k] for k in keys if k not in common)],
             [specd[k] for k in common] + [sum(specd[k] for k in keys if k not in common)]]
    if table[0][-1] + table[1][-1] == 0:
        table = [row[:-1] for row in table]
    assert len(table[0]) >= 3, "the test needs a spread distribution"
    assert chi2_contingency(np.array(table)).pvalue > P_FLOOR


def _reference(logits: np.ndarray, params: SamplingParams) -> dict[int, float]:
    """The definition, by brute force: sort everything, filter the temperature-1 law, then apply temperature."""
    logits = logits.astype(np.float64)
    order = np.argsort(-logits, kind="stable")
    p = np.exp(logits[order] - logits.max())
    p /= p.sum()
    keep = len(order) if not params.top_k else min(params.top_k, len(order))
    if params.top_k:
        p = p[:keep] / p[:keep].sum()
    if params.top_p < 1.0:
        keep = min(keep, int(np.searchsorted(np.cumsum(p[:keep]), params.top_p)) + 1)
    if params.min_p > 0.0:
        keep = min(keep, max(1, int(np.count_nonzero(p[:keep] >= params.min_p * p[0]))))
    ids = order[:keep]
    z = np.exp((logits[ids] - logits[ids].max()) / params.temperature)
    return dict(zip(ids.tolist(), (z / z.sum()).tolist()))


@pytest.mark.parametrize("params", [
    SamplingParams(0.8, top_k=40, top_p=0.95, min_p=0.05),
    SamplingParams(0.8, top_p=0.9),
    SamplingParams(1.2, min_p=0.02),
    SamplingParams(0.7, top_p=0.99, min_p=0.001),
    SamplingParams(1.0),
])
@pytest.mark.parametrize("spread", [0.5, 3.0, 8.0])
def test_fast_filters_equal_the_brute_force_definition(params, spread):
    logits = (np.random.default_rng(3).standard_normal(50_000) * spread).astype(np.float32)
    got = distribution(logits, params)
    want = _reference(logits, params)
    assert set(got.ids.tolist()) == set(want)
    got_map = dict(zip(got.ids.tolist(), got.probs.tolist()))
    assert all(abs(got_map[i] - want[i]) < 1e-9 for i in want)
