"""`dspark-chat chat`: what it refuses before the screen opens, each with one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

CLI = [sys.executable, "-m", "dspark_chat.app.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_unknown_conversation_is_one_line(tmp_path, smollm_q4):
    r = run("chat", "--db", str(tmp_path / "h.sqlite3"), "--target", str(smollm_q4), "--conversation", "42")
    assert r.returncode == 8
    assert r.stderr.strip() == "dspark-chat: error: no conversation with id 42 (see the chat list)"


def test_a_damaged_conversation_file_is_one_line(tmp_path, smollm_q4):
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"not a database at all" * 200)
    r = run("--db", str(db), "--target", str(smollm_q4))  # no command: the chat
    assert r.returncode == 8
    assert r.stderr.count("\n") == 1 and "not a dspark-chat conversation file" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_sampling_flags_are_one_line(tmp_path, smollm_q4):
    r = run("--verbose", "--db", str(tmp_path / "h.sqlite3"), "--target", str(smollm_q4), "--top-p", "3")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "error" in r.stderr and "top-p" in r.stderr and "got 3" in r.stderr


def test_help_lists_the_chat_flags():
    r = run("chat", "--help")
    assert r.returncode == 0
    for flag in ("--new", "--conversation", "--system", "--theme", "--db", "--target", "--drafter", "--max-tokens"):
        assert flag in r.stdout
