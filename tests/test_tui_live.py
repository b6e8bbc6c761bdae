"""The pieces between the engine and the screen: batching Steps, pacing repaints, the stats bar's text."""

from __future__ import annotations

import threading

from dspark_chat.app.tui.live import Batcher, LiveStats, Pacer, format_stats
from dspark_chat.app.tui.widgets.message import code_blocks
from dspark_chat.app.tui.widgets.stats_bar import stats_text
from dspark_chat.engine.events import Step
from dspark_chat.engine.stats import GenerationStats


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def step(stats: GenerationStats, pieces: list[str], drafted: list[bool]) -> Step:
    stats.tokens += len(pieces)
    return Step(list(range(len(pieces))), pieces, drafted, 0, 0, sum(drafted), stats)


def test_batcher_folds_steps_and_tracks_drafted_characters():
    clock = Clock()
    stats = GenerationStats(mode="ngram", t_decode_start=clock.now)
    batcher = Batcher(pacer=Pacer(min_interval=0.1), clock=clock)
    clock.now += 0.01
    assert batcher.add(step(stats, ["Hel", "lo"], [False, True])) is None  # too soon
    clock.now += 0.02
    assert batcher.add(step(stats, [" wor", "", "ld"], [True, True, False])) is None
    clock.now += 0.1
    batch = batcher.add(step(stats, ["!"], [False]))
    assert batch is not None
    assert batch.text == "Hello world!"
    assert batch.draft_spans == [(3, 9)]  # "lo" + " wor", one run; the empty piece changes nothing
    assert abs(batch.rate - stats.tokens / 0.13) < 1e-6
    final = batcher.finish(stats, tail=" Bye")
    assert final.text == " Bye" and final.stats.finished


def test_pacer_holds_batches_until_the_screen_has_drawn_the_last_one():
    clock = Clock()
    stats = GenerationStats(t_decode_start=clock.now)
    pacer = Pacer(min_interval=0.05)
    batcher = Batcher(pacer=pacer, clock=clock)
    clock.now += 0.1
    assert batcher.add(step(stats, ["a"], [False])) is not None
    clock.now += 0.5
    assert batcher.add(step(stats, ["b"], [False])) is None  # the screen is still drawing: keep folding
    pacer.consumed(0.001)
    clock.now += 0.01
    batch = batcher.add(step(stats, ["c"], [False]))
    assert batch is not None and batch.text == "bc"


def test_pacer_interval_follows_the_cost_of_drawing_within_its_budget():
    pacer = Pacer(min_interval=1 / 15, max_interval=0.5, budget=0.03)
    pacer.consumed(0.0005)  # cheap drawing: as fast as allowed
    assert pacer.interval == 1 / 15
    for _ in range(30):
        pacer.consumed(0.006)  # 6 ms a batch at 3% of a core: one batch every 0.2 s
    assert abs(pacer.interval - 0.2) < 0.01
    for _ in range(30):
        pacer.consumed(0.1)  # very dear: never slower than the floor
    assert pacer.interval == 0.5
    pacer.consumed()  # nothing drawn: no change, but the next batch may come
    assert pacer.interval == 0.5 and pacer.due(0.5)


def test_pacer_is_shared_between_threads():
    pacer = Pacer(min_interval=0.0)
    pacer.sent()
    assert not pacer.due(1.0)
    t = threading.Thread(target=pacer.consumed, args=(0.001,))
    t.start()
    t.join()
    assert pacer.due(1.0)


def live(**kw) -> LiveStats:
    base = dict(mode="model", tokens=120, tokens_per_s=42.25, drafted=200, verified=154, accepted=120,
                spec_rounds=50, rounds=60, draft_s=0.2, verify_s=0.7, overhead_s=0.1, ttft_s=0.213, speedup=1.61)
    base.update(kw)
    return LiveStats(**base)


def test_stats_text_has_every_number_with_explicit_counts():
    text = stats_text(live()).plain
    assert " 42.2 tok/s" in text
    assert "accept 78% (120/154)" in text  # accepted / verified, both shown
    assert "len 2.4" in text  # drafts kept per speculative round
    assert "draft 20%" in text and "verify 70%" in text
    assert "TTFT 0.21s" in text and "model" in text and "1.61× plain" in text


def test_stats_text_for_plain_decoding_has_no_acceptance():
    text = stats_text(live(mode="plain", verified=0, accepted=0, spec_rounds=0, speedup=None)).plain
    assert "accept" not in text and "plain" in text and "tok/s" in text


def test_narrow_bars_drop_the_least_important_fields_first():
    wide = [label for label, _ in format_stats(live())]
    narrow = [label for label, _ in format_stats(live(), width=40)]
    assert narrow[0] == "" and "accept" in narrow  # tokens/s and acceptance stay
    assert "draft" in wide and "draft" not in narrow
    assert len(stats_text(live(), width=40).plain) <= 40


def test_field_choice_depends_on_width_not_on_the_numbers():
    a = [label for label, _ in format_stats(live(tokens_per_s=5.0), width=80)]
    b = [label for label, _ in format_stats(live(tokens_per_s=150.0), width=80)]
    assert a == b


def test_stored_stats_round_trip():
    s = live()
    assert LiveStats.from_dict(s.to_dict()) == LiveStats(**{**s.__dict__, "finished": True})
    g = GenerationStats(mode="ngram", tokens=10, drafted=4, verified=3, accepted=2, spec_rounds=1)
    assert LiveStats.from_dict(g.to_dict()).acceptance_rate == 2 / 3


def test_code_blocks_are_found_in_order():
    text = "Intro\n\n```python\nprint(1)\n```\n\nthen\n\n    indented()\n\n```\nplain\n```\n"
    assert code_blocks(text) == ["print(1)\n", "indented()\n", "plain\n"]


def test_the_ui_docs_list_every_key_and_stats_label_of_the_help_screen():
    from pathlib import Path

    from dspark_chat.app.tui.screens.help import KEYS, STATS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "ui.md").read_text()
    for key, _ in KEYS:
        assert f"| {key} |" in docs, f"docs/ui.md does not list {key}"
    for label, _ in STATS:
        assert label.split("/")[0].strip() in docs
