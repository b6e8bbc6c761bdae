"""The chat UI driven through Textual's Pilot, with the real engine on SmolLM2 and a real SQLite store.

Every test loads the real model (costs are measured once and cached) and decodes real tokens. One thread keeps
llama.cpp fast on a shared, busy CPU (its thread pool spins badly when cores are oversubscribed).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from dspark_chat.app import history
from dspark_chat.app.chat_settings import ChatSettings, ModelSpec
from dspark_chat.app.history import HistoryStore
from dspark_chat.app.tui.app import LATEST, NEW, ChatApp, Launch
from dspark_chat.app.tui.screens.history import HistoryScreen
from dspark_chat.app.tui.screens.settings import SettingsScreen
from dspark_chat.app.tui.widgets.message import MessageView
from dspark_chat.app.tui.widgets.stats_bar import StatsBar

pytestmark = pytest.mark.asyncio

THREADS = 1
SIZE = (110, 36)
READY_TIMEOUT_S = 180  # the first load measures costs; later ones read them from the cache
ANSWER_TIMEOUT_S = 180

GREEDY = ChatSettings(temperature=0.0, max_tokens=40)
LONG_PROMPT = "Write a detailed, long essay about the history of the Roman Empire."  # SmolLM2 writes 600+ tokens


def spec_of(target: Path, drafter: str | None = "ngram", **kw) -> ModelSpec:
    return ModelSpec(str(target), drafter, ctx_size=kw.pop("ctx_size", 1024), threads=THREADS, **kw)


def make_app(db: Path, spec: ModelSpec | None, settings: ChatSettings = GREEDY, which=NEW) -> ChatApp:
    return ChatApp(HistoryStore(db), Launch(spec, settings, which))


async def wait_for(pilot, condition, timeout: float, what: str) -> None:
    # asyncio.sleep, not pilot.pause: pause first waits for every widget's queue to drain, which a streaming
    # answer keeps busy, so a poll with it would only wake up once the answer is over
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def ready(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.model_state in ("ready", "failed"), READY_TIMEOUT_S, "the model")
    assert app.model_state == "ready"


async def send(pilot, text: str) -> None:
    """Type and send a message; returns once it is on screen (with its answer started, when a model is loaded)."""
    app = pilot.app
    await pilot.click("#prompt")
    app.chat.prompt.text = text
    before = len(views(app))
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(views(app)) > before and not app.chat.prompt.text, 10, "the message")


async def answered(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: not app.chat.generating and views(app)[-1].status != history.STREAMING,
                   ANSWER_TIMEOUT_S, "the answer to end")
    await pilot.pause(0.05)


def views(app) -> list[MessageView]:
    return app.chat.conversation.messages()


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


# --- the core loop: send, stream, stop, persist ----------------------------------------------------------------
async def test_send_streams_markdown_and_live_stats_then_saves(tmp_path, smollm_q4):
    # long enough (a few seconds, even on a quiet machine) for several repaints at the slowest pace a busy machine
    # may choose, and to outlast Pilot's own wait after pressing Enter (up to a second while the process is busy)
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4, ctx_size=2048), ChatSettings(temperature=0.0, max_tokens=600))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, LONG_PROMPT)
        seen: list[tuple[int, str]] = []  # (characters shown, stats bar) while the answer streams
        spark_points = 0  # the most tokens/s points the sparkline held while the answer streamed
        answer = views(app)[-1]
        assert answer.role == "assistant"
        while answer.status == history.STREAMING:
            if answer.content:
                seen.append((len(answer.content), app.chat.query_one(StatsBar).plain_text))
                spark_points = max(spark_points, len(app.chat.query_one("#rate-spark").data))
            await asyncio.sleep(0.01)
        await pilot.pause(0.05)
        final = views(app)[-1]
        assert final.role == "assistant" and final.status == history.DONE and final.content.strip()
        lengths = sorted({n for n, _ in seen})
        assert len(lengths) >= 2, f"the answer arrived in one piece, not streamed: {lengths}"
        assert lengths[0] < len(final.content)
        assert all("tok/s" in bar and "ngram" in bar for _, bar in seen)
        bar = app.chat.query_one(StatsBar).plain_text
        assert "tok/s" in bar and "TTFT" in bar and "plain" in bar  # the estimated speed-up against plain
        assert "tokens" in str(final.query_one(".footer").render())
        assert spark_points >= 1 and app.chat.query_one("#rate-spark").data  # a tokens/s point per batch drawn
    with HistoryStore(tmp_path / "h.db") as store:
        conv = store.get(store.latest_id())
        assert [m.role for m in conv.messages] == ["user", "assistant"]
        answer = conv.messages[1]
        assert answer.status == history.DONE and answer.content == final.content
        assert answer.stats["tokens"] > 0 and answer.stats["mode"] == "ngram"
        assert conv.title == history.title_from(LONG_PROMPT)


async def test_escape_stops_the_answer_at_once_and_keeps_it(tmp_path, smollm_q4):
    settings = ChatSettings(temperature=0.0, max_tokens=900)
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4, ctx_size=2048), settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, LONG_PROMPT)
        await wait_for(pilot, lambda: len(views(app)[-1].content) > 20, ANSWER_TIMEOUT_S, "some text")
        await pilot.press("escape")
        assert views(app)[-1].status == history.STOPPED  # shown as stopped right away
        t0 = time.monotonic()
        await answered(pilot)
        assert time.monotonic() - t0 < 2.0, "the engine did not stop within a round"
        shown = views(app)[-1].content
        assert views(app)[-1].status == history.STOPPED
        # the UI stays usable: the next message is answered normally
        app.chat.settings = ChatSettings(temperature=0.0, max_tokens=8)
        await send(pilot, "Say hi.")
        await answered(pilot)
        assert views(app)[-1].status == history.DONE
    with HistoryStore(tmp_path / "h.db") as store:
        stopped = store.get(store.latest_id()).messages[1]
        assert stopped.status == history.STOPPED and stopped.content == shown
        assert 0 < stopped.stats["tokens"] < 900


async def test_reload_finds_the_conversation_and_switches_chats(tmp_path, smollm_q4):
    db = tmp_path / "h.db"
    app = make_app(db, spec_of(smollm_q4), ChatSettings(temperature=0.0, max_tokens=12))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Name a colour.")
        await answered(pilot)
        first = app.chat.conversation_id
        await pilot.press("ctrl+n")
        assert views(app) == [] and app.chat.conversation_id is None
        await send(pilot, "Name an animal.")
        await answered(pilot)
        second = app.chat.conversation_id
        first_answer = HistoryStore(db).get(first).messages[1].content

    # a new start opens the most recent chat, with its answer and numbers
    app = make_app(db, spec_of(smollm_q4), which=LATEST)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.chat.conversation_id == second
        assert [v.content for v in views(app)][0] == "Name an animal."
        assert "tok/s" in app.chat.query_one(StatsBar).plain_text
        # the chat list: newest first; search by title; open the other chat
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("slash", *"colour")
        await pilot.pause(0.05)
        listing = app.screen.query_one("#chats")
        assert listing.option_count == 1
        await pilot.press("enter", "enter")  # from the search box to the list, then open
        await pilot.pause(0.2)
        assert app.chat.conversation_id == first
        assert [v.content for v in views(app)] == ["Name a colour.", first_answer]
        assert app.chat.sub_title == "Name a colour."


async def test_a_message_sent_while_the_model_loads_is_answered_once_it_is_ready(tmp_path, smollm_q4):
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4), ChatSettings(temperature=0.0, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model_state == "loading", 10, "the load to start")
        await app.chat.send("Say hello.")  # what Enter does, without Pilot's wait (the load keeps the CPU busy)
        assert app.model_state == "loading" and [v.content for v in views(app)] == ["Say hello."]
        assert app.chat.answer_when_ready
        await wait_for(pilot, lambda: any("as soon as the model is loaded" in n for n in notices(app)), 5,
                       "the notice")
        await ready(pilot)
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the answer to start")
        await answered(pilot)
        assert views(app)[-1].status == history.DONE and views(app)[-1].content


async def test_open_a_given_conversation(tmp_path, smollm_q4):
    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        conv = store.new_conversation()
        store.add_message(conv.id, "user", "stored question")
        store.new_conversation()  # a newer, empty one
    app = make_app(db, None, which=conv.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert [v.content for v in views(app)] == ["stored question"]


async def test_long_chats_keep_the_screen_short_and_show_earlier_messages_on_request(tmp_path):
    from dspark_chat.app.tui.widgets.conversation import SHOWN_MESSAGES

    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        conv = store.new_conversation()
        for i in range(SHOWN_MESSAGES):
            store.add_message(conv.id, "user", f"question {i}")
            store.add_message(conv.id, "assistant", f"answer {i}")
    app = make_app(db, None, which=conv.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert len(views(app)) == SHOWN_MESSAGES and views(app)[-1].content == f"answer {SHOWN_MESSAGES - 1}"
        app.chat.conversation.scroll_home(animate=False)  # the button waits above the oldest shown message
        await pilot.pause(0.1)
        await pilot.click("#earlier")
        await pilot.pause(0.2)
        assert [v.content for v in views(app)][:2] == ["question 0", "answer 0"]
        assert len(views(app)) == 2 * SHOWN_MESSAGES


async def test_prompt_keys_new_line_recall_and_cancel(tmp_path):
    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        conv = store.new_conversation()
        store.add_message(conv.id, "user", "first question")
    app = make_app(db, None, which=conv.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        prompt = app.chat.prompt
        # Up in an empty prompt: edit the last message; Esc cancels editing and empties the prompt
        await pilot.press("up")
        assert prompt.text == "first question" and app.chat.editing is not None
        await pilot.press("escape")
        assert prompt.text == "" and app.chat.editing is None
        # Ctrl+J and Shift+Enter start new lines; nothing is sent until Enter
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert prompt.text == "a\nb\nc" and len(views(app)) == 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the message")
        assert views(app)[-1].content == "a\nb\nc" and prompt.text == ""
        assert any("no model is loaded" in n for n in notices(app))  # no model: the message is kept, said so


async def test_chat_list_renames_and_deletes(tmp_path):
    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        older = store.new_conversation()
        store.add_message(older.id, "user", "older chat")
        newer = store.new_conversation()
        store.add_message(newer.id, "user", "newer chat")
    app = make_app(db, None, which=newer.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        listing = app.screen.query_one("#chats")
        assert listing.option_count == 2 and app.screen.selected_id() == newer.id  # the chat on screen
        await pilot.press("r")
        await pilot.pause(0.05)
        app.screen.query_one("#answer").value = "Renamed"
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert "Renamed" in str(listing.get_option_at_index(0).prompt)
        await pilot.press("d")
        await pilot.press("n")  # keep it after all
        await pilot.pause(0.05)
        assert listing.option_count == 2
        await pilot.press("d", "y")
        await pilot.pause(0.05)
        assert listing.option_count == 1
        await pilot.press("escape")
        await pilot.pause(0.1)
        # the chat on screen was the deleted one: an empty new chat takes its place
        assert app.chat.conversation_id is None and views(app) == []
    with HistoryStore(db) as store:
        assert [c.id for c in store.list_conversations()] == [older.id]


async def test_rename_and_delete_the_chat_on_screen_from_the_palette(tmp_path):
    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        conv = store.new_conversation()
        store.add_message(conv.id, "user", "a chat to rename")
    app = make_app(db, None, which=conv.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+p", *"Rename chat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        app.screen.query_one("#answer").value = "Kept for later"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.chat.sub_title == "Kept for later"
        await pilot.press("ctrl+p", *"Delete chat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert app.chat.conversation_id is None and views(app) == []
    with HistoryStore(db) as store:
        assert store.list_conversations() == []


# --- settings, regenerate, edit, export, copy ------------------------------------------------------------------
async def test_settings_apply_to_the_chat_and_reload_models(tmp_path, smollm_q4):
    db = tmp_path / "h.db"
    app = make_app(db, spec_of(smollm_q4), ChatSettings(temperature=0.0, max_tokens=30))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Tell me about the sea.")
        await answered(pilot)
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)
        screen = app.screen
        screen.query_one("#system_prompt").text = "You are a terse pirate."
        screen.query_one("#max_tokens").value = "4"
        screen.query_one("#drafter").value = "none"
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SettingsScreen)
        with HistoryStore(db) as store:
            conv = store.get(app.chat.conversation_id)
            assert conv.system_prompt == "You are a terse pirate." and conv.settings["max_tokens"] == 4
        await ready(pilot)  # the drafter change reloaded the models
        assert app.engine.spec.drafter is None
        old = views(app)[-1].message_id
        await pilot.press("ctrl+r")  # regenerate with the new settings
        await wait_for(pilot, lambda: views(app)[-1].message_id != old, 10, "the regenerated answer")
        await answered(pilot)
        with HistoryStore(db) as store:
            messages = store.get(app.chat.conversation_id).messages
        assert [m.role for m in messages] == ["user", "assistant"]  # replaced, not added
        assert messages[1].stats["tokens"] <= 4 and messages[1].stats["mode"] == "plain"
        assert "plain" in app.chat.query_one(StatsBar).plain_text

    # a bad value is named and nothing is saved
    app = make_app(db, None, which=LATEST)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        app.screen.query_one("#top_p").value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert isinstance(app.screen, SettingsScreen)
        assert any("top-p" in n for n in notices(app))


async def test_edit_and_resend_the_last_message(tmp_path, smollm_q4):
    db = tmp_path / "h.db"
    app = make_app(db, spec_of(smollm_q4), ChatSettings(temperature=0.0, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "What is 2+2?")
        await answered(pilot)
        await pilot.press("ctrl+l")
        assert app.chat.prompt.text == "What is 2+2?" and app.chat.editing is not None
        app.chat.prompt.text = "What is 3+3?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: views(app)[0].content == "What is 3+3?", 10, "the edited message")
        await answered(pilot)
        assert [v.content for v in views(app)][0] == "What is 3+3?"
        with HistoryStore(db) as store:
            messages = store.get(app.chat.conversation_id).messages
        assert [m.content for m in messages if m.role == "user"] == ["What is 3+3?"]
        assert len(messages) == 2


async def test_export_and_copy_through_the_palette_and_keys(tmp_path, smollm_q4, monkeypatch):
    monkeypatch.setenv("DSPARK_CHAT_HOME", str(tmp_path / "home"))
    db = tmp_path / "h.db"
    with HistoryStore(db) as store:
        conv = store.new_conversation()
        store.add_message(conv.id, "user", "Show me C and Python.")
        a = store.start_answer(conv.id, "smollm")
        store.finish_answer(a.id, "C:\n\n```c\nputs(\"hi\");\n```\n\nPython:\n\n```python\nprint('hi')\n```\n",
                            history.DONE)
    app = make_app(db, None, which=conv.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+p", *"Export chat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        exported = list((tmp_path / "home" / "data" / "exports").glob("*.md"))
        assert len(exported) == 1
        text = exported[0].read_text()
        assert "## You\n\nShow me C and Python." in text and "print('hi')" in text
        # copy: focus the answer, `c` copies it, `b` its code blocks one after the other
        views(app)[-1].focus()
        await pilot.press("c")
        assert app.clipboard == views(app)[-1].content
        await pilot.press("b")
        assert app.clipboard == 'puts("hi");\n'
        await pilot.press("b")
        assert app.clipboard == "print('hi')\n"


async def test_drafted_tokens_are_coloured_and_remembered(tmp_path, smollm_q4):
    db = tmp_path / "h.db"
    spec = spec_of(smollm_q4, draft_fixed=4)  # verify every n-gram draft: the copied sentence comes from drafts
    app = make_app(db, spec, ChatSettings(temperature=0.0, max_tokens=40))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Repeat this sentence exactly: The quick brown fox jumps over the lazy dog.")
        await answered(pilot)
        answer = views(app)[-1]
        with HistoryStore(db) as store:
            stored = store.get(app.chat.conversation_id).messages[-1]
        assert stored.stats["accepted"] > 0 and stored.draft_spans
        assert all(0 <= s < e <= len(stored.content) for s, e in stored.draft_spans)
        assert "accept" in app.chat.query_one(StatsBar).plain_text
        await pilot.press("ctrl+g")
        assert answer.has_class("-plain")
        shown = answer.query_one(".drafts").render()
        assert shown.plain == answer.content and shown.spans  # drafted characters carry the draft style
    app = make_app(db, None, which=LATEST)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert views(app)[-1].has_class("-plain")  # the toggle and the spans came back from the store


# --- errors are notices, the app keeps running ---------------------------------------------------------------
async def test_bad_model_file_is_a_notice_and_the_app_keeps_running(tmp_path):
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"definitely not gguf" * 64)
    app = make_app(tmp_path / "h.db", spec_of(bogus))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model_state == "failed", 30, "the load to fail")
        assert any("not a GGUF file" in n for n in notices(app))
        await send(pilot, "Hello?")
        await pilot.pause(0.1)
        assert any("no model is loaded" in n for n in notices(app))
        assert [v.content for v in views(app)] == ["Hello?"]  # the message is kept for later
        assert "ctrl+t" in app.chat.query_one(StatsBar).plain_text


async def test_refused_pairing_is_a_notice(tmp_path, smollm_q4, gemma_q4):
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4, drafter=str(gemma_q4)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model_state == "failed", READY_TIMEOUT_S, "the pairing to be refused")
        assert any("cannot be paired" in n or "different tokenizers" in n for n in notices(app))
        assert app.is_running


async def test_context_full_is_a_notice_and_the_turn_is_kept(tmp_path, smollm_q4):
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4, ctx_size=128), ChatSettings(temperature=0.0, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "word " * 400)
        await answered(pilot)
        assert any("but the context holds" in n for n in notices(app))
        assert views(app)[-1].status == history.FAILED
        assert app.is_running


async def test_disk_full_keeps_the_message_in_the_prompt_and_the_app_running(tmp_path, smollm_q4):
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4, ctx_size=2048), ChatSettings(temperature=0.0, max_tokens=6))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        conn = app.store._conn
        # SQLite's page limit gives the very SQLITE_FULL error a full disk does
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        text = "A long message. " * 300  # bigger than a page of the file, so it needs a new one
        await pilot.click("#prompt")
        app.chat.prompt.text = text
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert any("disk full" in n for n in notices(app))
        assert app.chat.prompt.text == text and views(app) == []  # nothing sent, nothing lost
        conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the message")
        await answered(pilot)
        assert views(app)[0].content == text and views(app)[1].status == history.DONE


async def test_model_picker_switches_the_drafter_and_shows_loading(tmp_path, smollm_q4):
    app = make_app(tmp_path / "h.db", spec_of(smollm_q4))
    async with app.run_test(size=SIZE) as pilot:
        notes = []
        await wait_for(pilot, lambda: notes.append(app.chat.stats_bar.note) or app.model_state == "ready",
                       READY_TIMEOUT_S, "the model")
        assert any(n.startswith("loading SmolLM2-135M-Instruct.Q4_1.gguf") for n in notes)
        assert "ready" in app.chat.stats_bar.note
        await pilot.press("ctrl+t")
        screen = app.screen
        assert type(screen).__name__ == "ModelPickerScreen"
        targets = screen.query_one("#targets")
        await wait_for(pilot, lambda: targets.option_count > 0, 30, "the model list")
        assert any(c.path == Path(smollm_q4) for c in screen.models)
        assert screen.models[targets.highlighted].path == Path(smollm_q4)  # the current target is highlighted
        await pilot.press("enter")  # keep the target, go to the drafters
        drafters = screen.query_one("#drafters")
        assert app.focused is drafters
        assert drafters.get_option_at_index(0).id == "none" and drafters.get_option_at_index(1).id == "ngram"
        drafters.highlighted = 0
        await pilot.press("enter")
        await pilot.pause(0.1)
        await ready(pilot)
        assert app.engine.spec.drafter is None and app.engine.pair.mode == "plain"


# --- the rest of the app ---------------------------------------------------------------------------------------
async def test_help_palette_and_theme(tmp_path):
    db = tmp_path / "h.db"
    app = make_app(db, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause(0.1)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.chat)}
        assert {"New chat", "Chats", "Rename chat", "Delete chat", "Export chat", "Stop", "Regenerate",
                "Edit last message", "Copy answer", "Copy code block", "Settings", "Models",
                "Colour drafted tokens", "Help", "Theme"} <= titles
        app.theme = "nord"
        await pilot.pause(0.05)
    app = make_app(db, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert app.theme == "nord"
