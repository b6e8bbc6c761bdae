"""The conversation loop: prefix reuse, cancellation, stops, limits, context overflow, streamed text."""

from __future__ import annotations

import threading

import pytest

from dspark_chat.engine.chat import chat_tokens, fit_to_context, raw_tokens, stream_reply
from dspark_chat.engine.errors import ContextOverflowError
from dspark_chat.engine.events import Done, Step, collect
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams
from dspark_chat.engine.textstream import TextStream

GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture(scope="module")
def pair(smollm_q4):
    with Pair(smollm_q4, "ngram", PairOptions(n_ctx=1024, schedule=ScheduleConfig(fixed_draft=4))) as p:
        yield p


def test_second_turn_reuses_the_prefix_and_matches_a_fresh_session(pair):
    params = GenerateParams(max_tokens=24, sampling=GREEDY)
    messages = [{"role": "user", "content": "Name a fruit."}]
    session = pair.session()
    first, _ = collect(stream_reply(session, messages, params))
    messages += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "And a vegetable?"}]
    second, _ = collect(stream_reply(session, messages, params))
    assert second.stats.reused_tokens > 0.5 * second.stats.prompt_tokens
    session.reset()
    fresh, _ = collect(stream_reply(session, messages, params))
    assert fresh.stats.reused_tokens == 0
    assert fresh.tokens == second.tokens


def test_cancel_stops_between_rounds_and_leaves_the_session_usable(pair):
    session = pair.session()
    prompt = chat_tokens(pair.target_model, [{"role": "user", "content": "Count from 1 to 50."}])
    cancel = threading.Event()
    params = GenerateParams(max_tokens=200, sampling=GREEDY)
    steps = 0
    for ev in session.generate(prompt, params, cancel):
        if isinstance(ev, Step):
            steps += 1
            if steps == 2:
                cancel.set()
        else:
            done = ev
    assert done.reason == "cancelled" and steps == 2
    again, _ = collect(session.generate(prompt, GenerateParams(max_tokens=30, sampling=GREEDY)))
    session.reset()
    fresh, _ = collect(session.generate(prompt, GenerateParams(max_tokens=30, sampling=GREEDY)))
    assert again.tokens == fresh.tokens


def test_max_tokens_and_stop_strings(pair):
    session = pair.session()
    prompt = chat_tokens(pair.target_model, [{"role": "user", "content": "List three colours, one per line."}])
    limited, _ = collect(session.generate(prompt, GenerateParams(max_tokens=5, sampling=GREEDY)))
    assert limited.reason == "length" and len(limited.tokens) == 5
    full, _ = collect(session.generate(prompt, GenerateParams(max_tokens=60, sampling=GREEDY)))
    assert "\n" in full.text, "the test needs an answer spanning lines"
    stopped, steps = collect(session.generate(prompt, GenerateParams(max_tokens=60, sampling=GREEDY, stop=["\n"])))
    assert stopped.reason == "stop"
    assert "\n" not in stopped.text
    assert stopped.text == full.text.split("\n")[0]
    assert "".join(s.text for s in steps) + stopped.tail == stopped.text


def test_streamed_pieces_add_up_to_the_text(pair):
    session = pair.session()
    prompt = raw_tokens(pair.target_model, "Café, naïve, 😀, ")
    done, steps = collect(session.generate(prompt, GenerateParams(max_tokens=40, sampling=GREEDY)))
    assert "".join(s.text for s in steps) + done.tail == done.text
    assert done.text == pair.target_model.detokenize(done.tokens)
    flags = [f for s in steps for f in s.from_draft]
    assert len(flags) == len(done.tokens)
    assert sum(flags) == done.stats.accepted


def test_text_stream_joins_split_characters(pair):
    model = pair.target_model
    text = "naïve café 😀 日本語"
    tokens = model.tokenize(text, add_special=False)
    stream = TextStream(model.piece)
    out = "".join(stream.push([t])[0] for t in tokens) + stream.flush()
    assert out == text


def test_prompt_larger_than_the_context_is_a_clear_error(smollm_q4):
    with Pair(smollm_q4, None, PairOptions(n_ctx=256, profile=False)) as p:
        long = [{"role": "user", "content": "word " * 600}]
        with pytest.raises(ContextOverflowError, match="context holds 256"):
            fit_to_context(p.target_model, long, 256, 32)
        with pytest.raises(ContextOverflowError):
            collect(p.session().generate(raw_tokens(p.target_model, "word " * 600), GenerateParams(max_tokens=4)))


def test_old_turns_are_dropped_to_fit(smollm_q4):
    with Pair(smollm_q4, None, PairOptions(n_ctx=256, profile=False)) as p:
        messages = [{"role": "system", "content": "Be brief."}]
        for i in range(20):
            messages += [{"role": "user", "content": f"question {i} " * 5}, {"role": "assistant", "content": "ok " * 5}]
        messages.append({"role": "user", "content": "last question"})
        tokens, dropped = fit_to_context(p.target_model, messages, 256, 64)
        assert dropped > 0 and len(tokens) <= 256 - 64
        text = p.target_model.detokenize(tokens)
        assert "Be brief." in text and "last question" in text and "question 0 " not in text


def test_generation_stops_cleanly_when_the_window_fills(smollm_q4):
    with Pair(smollm_q4, "ngram", PairOptions(n_ctx=128, profile=False)) as p:
        prompt = raw_tokens(p.target_model, "one two three " * 30)
        done, _ = collect(p.session().generate(prompt, GenerateParams(max_tokens=500, sampling=GREEDY)))
        assert done.reason == "context"
        assert len(prompt) + len(done.tokens) == p.target_ctx.n_ctx + 1  # the last token needs no KV slot
