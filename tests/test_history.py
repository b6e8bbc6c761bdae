"""The conversation store, on real SQLite files: schema, crash recovery, search, settings, export, disk full."""

from __future__ import annotations

import sqlite3

import pytest

from dspark_chat.app import history
from dspark_chat.app.history import HistoryError, HistoryStore


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        yield s


def test_schema_version_and_wal(tmp_path):
    path = tmp_path / "h.sqlite3"
    HistoryStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(history.MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_follows_the_home_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DSPARK_CHAT_HOME", str(tmp_path / "home"))
    with HistoryStore() as s:
        assert s.path == tmp_path / "home" / "data" / history.DB_NAME
        assert s.path.exists()


def test_migrations_run_in_order_and_once(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    steps = ["CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y TEXT; -- a comment\nCREATE TABLE b (z);"]
    assert history.migrate(conn, steps[:1]) == 0
    assert history.migrate(conn, steps) == 1  # only the second step runs now
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [r[1] for r in conn.execute("PRAGMA table_info(a)")] == ["x", "y"]
    assert history.migrate(conn, steps) == 2  # nothing left to do


def test_a_newer_file_is_refused_with_one_line(tmp_path):
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(history.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="newer dspark-chat") as err:
        HistoryStore(path)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="not a dspark-chat conversation file"):
        HistoryStore(path)


def test_conversation_round_trip_and_title_from_first_prompt(store):
    conv = store.new_conversation(system_prompt="Be brief.", settings={"temperature": 0.2})
    store.add_message(conv.id, "user", "  \nHow do I reverse a list in Python?\nThanks")
    answer = store.start_answer(conv.id, model="smollm")
    store.finish_answer(answer.id, "Use `reversed(xs)`.", history.DONE, {"tokens": 7}, [(0, 3)])
    got = store.get(conv.id)
    assert got.title == "How do I reverse a list in Python?"
    assert got.system_prompt == "Be brief." and got.settings == {"temperature": 0.2}
    assert [(m.role, m.status) for m in got.messages] == [("user", "done"), ("assistant", "done")]
    assert got.messages[1].stats == {"tokens": 7}
    assert got.messages[1].draft_spans == [(0, 3)]
    assert got.messages[1].model == "smollm"


def test_long_titles_are_cut(store):
    conv = store.new_conversation()
    store.add_message(conv.id, "user", "word " * 50)
    title = store.get(conv.id).title
    assert len(title) <= history.TITLE_CHARS and title.endswith("…")


def test_list_search_rename_delete(store):
    ids = []
    for title in ["Rust lifetimes", "Python 100% coverage", "rusty bikes", "under_score"]:
        c = store.new_conversation()
        store.rename(c.id, title)
        ids.append(c.id)
    store.add_message(ids[0], "user", "bump")  # newest activity first
    assert [c.id for c in store.list_conversations()][0] == ids[0]
    assert {c.title for c in store.list_conversations("RUST")} == {"Rust lifetimes", "rusty bikes"}
    assert [c.title for c in store.list_conversations("100%")] == ["Python 100% coverage"]  # % taken literally
    assert [c.title for c in store.list_conversations("_")] == ["under_score"]
    store.delete(ids[0])
    assert ids[0] not in [c.id for c in store.list_conversations()]
    with pytest.raises(HistoryError, match="no conversation"):
        store.get(ids[0])
    with pytest.raises(HistoryError, match="empty"):
        store.rename(ids[1], "   ")


def test_delete_cascades_to_messages(store, tmp_path):
    conv = store.new_conversation()
    store.add_message(conv.id, "user", "hello")
    store.delete(conv.id)
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_settings_update(store):
    conv = store.new_conversation()
    store.update_settings(conv.id, "You are a pirate.", {"temperature": 0.0, "max_tokens": 5})
    got = store.get(conv.id)
    assert got.system_prompt == "You are a pirate." and got.settings["max_tokens"] == 5


def test_delete_messages_from_keeps_earlier_turns(store):
    conv = store.new_conversation()
    first = store.add_message(conv.id, "user", "one")
    store.add_message(conv.id, "assistant", "1")
    second = store.add_message(conv.id, "user", "two")
    store.add_message(conv.id, "assistant", "2")
    assert store.delete_messages_from(second.id) == 2
    assert [m.content for m in store.get(conv.id).messages] == ["one", "1"]
    assert store.get(conv.id).messages[0].id == first.id


def test_streaming_answer_left_by_a_dead_process_is_marked_interrupted(tmp_path):
    path = tmp_path / "h.sqlite3"
    s = HistoryStore(path)
    conv = s.new_conversation()
    s.add_message(conv.id, "user", "tell me a story")
    answer = s.start_answer(conv.id)
    s.save_partial(answer.id, "Once upon a")
    # no finish_answer: the process "dies" here (the connection is dropped without any cleanup)
    del s
    with HistoryStore(path) as again:
        assert again.recovered == 1
        m = again.get(conv.id).messages[-1]
        assert (m.status, m.content) == (history.INTERRUPTED, "Once upon a")
    with HistoryStore(path) as third:
        assert third.recovered == 0


def test_export_markdown(store, tmp_path):
    conv = store.new_conversation(system_prompt="Be brief.")
    store.add_message(conv.id, "user", "Write hello world in C")
    answer = store.start_answer(conv.id, model="smollm")
    store.finish_answer(answer.id, "```c\nputs(\"hi\");\n```", history.STOPPED)
    path = store.export_to_file(conv.id, tmp_path / "out" / "chat.md")
    text = path.read_text()
    assert text.startswith("# Write hello world in C\n")
    assert "## System\n\nBe brief." in text
    assert "## You\n\nWrite hello world in C" in text
    assert "## Assistant (smollm)\n\n```c\nputs(\"hi\");\n```" in text
    assert "_(stopped by the user)_" in text
    default = store.export_to_file(conv.id)
    assert default.parent == history.exports_dir() and default.name.endswith(f"-{conv.id}.md")


def test_ui_state(store):
    assert store.get_state("theme") is None
    store.set_state("theme", "nord")
    store.set_state("theme", "gruvbox")
    assert store.get_state("theme") == "gruvbox"


def test_disk_full_is_one_readable_line_and_the_store_keeps_working(store):
    conv = store.new_conversation()
    answer = store.start_answer(conv.id)
    # SQLite's own page limit produces the very SQLITE_FULL error a full disk does
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(HistoryError, match="disk full") as err:
        store.save_partial(answer.id, "x" * 200_000)
    assert "\n" not in str(err.value)
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    store.save_partial(answer.id, "saved once there is room")
    assert store.get(conv.id).messages[-1].content == "saved once there is room"
