"""SVG snapshots of the main screens (pytest-textual-snapshot). After a deliberate change of the look, review the
new pictures and accept them with `pytest tests/test_tui_snapshots.py --snapshot-update`.

No model is loaded here: every number on screen comes from a stored answer, so the pictures do not depend on the
machine's speed.
"""

from __future__ import annotations

import time

import pytest

from dspark_chat.app import history
from dspark_chat.app.chat_settings import ChatSettings, ModelSpec
from dspark_chat.app.history import HistoryStore
from dspark_chat.app.tui.app import ChatApp, Launch

SIZE = (100, 32)
T0 = 1_790_000_000.0  # a fixed clock for stored times
STATS = {"mode": "ngram", "tokens": 58, "tokens_per_s": 97.3, "drafted": 40, "verified": 16, "accepted": 11,
         "spec_rounds": 4, "rounds": 47, "draft_s": 0.01, "verify_s": 0.55, "overhead_s": 0.03, "ttft_s": 0.31,
         "estimated_speedup": 1.12}
ANSWER = ("A list comprehension builds a list in one expression:\n\n```python\nsquares = [n * n for n in range(10)]\n"
          "```\n\nIt reads as *the square of n, for every n below 10*.")


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def stored_app(tmp_path, spec: ModelSpec | None = None) -> ChatApp:
    clock = iter(T0 + 60 * i for i in range(1000))
    store = HistoryStore(tmp_path / "h.sqlite3", clock=lambda: next(clock))
    for title in ("Sourdough starter feeding", "Rust borrow checker question"):
        c = store.new_conversation()
        store.add_message(c.id, "user", title)
    conv = store.new_conversation()
    store.add_message(conv.id, "user", "What is a list comprehension in Python?")
    answer = store.start_answer(conv.id, "SmolLM2-135M-Instruct.Q4_1")
    store.finish_answer(answer.id, ANSWER, history.DONE, STATS, [(2, 20)])
    store.add_message(conv.id, "user", "And a dict comprehension?")
    stopped = store.start_answer(conv.id, "SmolLM2-135M-Instruct.Q4_1")
    store.finish_answer(stopped.id, "Like a list comprehension, with `key: value`", history.STOPPED)
    return ChatApp(store, Launch(spec, ChatSettings(temperature=0.7, max_tokens=256), conv.id))


def test_chat_screen(snap_compare, tmp_path, utc):
    assert snap_compare(stored_app(tmp_path), terminal_size=SIZE)


def test_chat_list(snap_compare, tmp_path, utc):
    assert snap_compare(stored_app(tmp_path), press=["ctrl+o"], terminal_size=SIZE)


def test_settings(snap_compare, tmp_path, utc):
    spec = ModelSpec("/models/SmolLM2-135M-Instruct.Q4_1.gguf", "ngram", ctx_size=4096)
    app = stored_app(tmp_path, spec)
    app.load_models = lambda spec: None  # the picture shows the form, not a model loading
    assert snap_compare(app, press=["ctrl+s"], terminal_size=(100, 40))


def test_help(snap_compare, tmp_path, utc):
    assert snap_compare(stored_app(tmp_path), press=["f1"], terminal_size=(110, 40))
