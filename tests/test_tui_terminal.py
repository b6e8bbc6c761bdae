"""`dspark-chat` in real terminals: killed mid-answer under a pseudo-terminal, and driven through tmux.

Both run the installed console script, with its real Textual driver, on the real SmolLM2 model.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from dspark_chat.app import history
from dspark_chat.app.history import HistoryStore

CLI = [sys.executable, "-m", "dspark_chat.app.cli"]
START_TIMEOUT_S = 180  # a first start measures the model's costs
ANSWER_TIMEOUT_S = 180
LONG_PROMPT = "Write a detailed, long essay about the history of the Roman Empire."


def chat_args(model: Path, db: Path, *extra: str) -> list[str]:
    return [*CLI, "chat", "--new", "--db", str(db), "--target", str(model), "--drafter", "ngram",
            "--threads", "1", "--ctx-size", "2048", "--temperature", "0", *extra]


def terminal_env() -> dict:
    # DSPARK_CHAT_HOME is the test session's (conftest): measured model costs are shared between tests
    return {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}


def wait_until(condition, timeout: float, what: str, every: float = 0.1):
    t0 = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def streaming_answer(db: Path) -> tuple[str, str] | None:
    """(status, text) of the newest answer once some of its text reached the disk (read-only, like any reader)."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        row = conn.execute("SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1"
                           ).fetchone()
        conn.close()
    except sqlite3.Error:
        return None
    return row if row and row[1] else None


def test_killed_mid_answer_keeps_the_partial_answer_marked_interrupted(tmp_path, smollm_q4):
    db = tmp_path / "h.sqlite3"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real app on a real (pseudo) terminal
        os.execvpe(CLI[0], chat_args(smollm_q4, db, "--max-tokens", "1500"), terminal_env())
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = bytearray()
    stop = threading.Event()

    def drain() -> None:  # a terminal that is not read blocks the app's writes
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    screen.extend(os.read(fd, 65536))
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        wait_until(lambda: b"ready" in screen, START_TIMEOUT_S, "the model to load")
        os.write(fd, LONG_PROMPT.encode() + b"\r")
        status, partial = wait_until(lambda: streaming_answer(db), ANSWER_TIMEOUT_S, "a partial answer on disk")
        assert status == history.STREAMING
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    finally:
        stop.set()
        reader.join(2)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)
    with HistoryStore(db) as store:
        assert store.recovered == 1
        conv = store.get(store.latest_id())
        user, answer = conv.messages
        assert (user.role, user.content) == ("user", LONG_PROMPT)
        assert answer.status == history.INTERRUPTED
        assert answer.content.startswith(partial) and len(answer.content) > 0


# --- tmux: what a user sees ------------------------------------------------------------------------------------
TMUX = shutil.which("tmux")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def chat_in_tmux(tmp_path: Path, db: Path, args: list[str]) -> tuple[str, history.Message]:
    """Start the chat in a tmux pane, ask one question, and return the pane and the stored answer; then quit."""
    socket = str(tmp_path / "tmux.sock")
    session = "dspark-e2e"
    env = terminal_env()
    command = " ".join(f"'{a}'" for a in args)

    def pane() -> str:
        return tmux("-S", socket, "capture-pane", "-p", "-t", session)

    subprocess.run(["tmux", "-S", socket, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "120",
                    "-y", "40", f"env DSPARK_CHAT_HOME='{env['DSPARK_CHAT_HOME']}' TERM=xterm-256color {command}"],
                   check=True, env=env)
    try:
        wait_until(lambda: "ready" in pane(), START_TIMEOUT_S, "the model to load")
        tmux("-S", socket, "send-keys", "-t", session, "-l", "Name three colours.")
        tmux("-S", socket, "send-keys", "-t", session, "Enter")
        wait_until(lambda: (streaming_answer(db) or ("",))[0] == history.DONE, ANSWER_TIMEOUT_S, "the answer")
        time.sleep(0.5)  # the last repaint
        screen = pane()
        with HistoryStore(db) as store:
            answer = store.get(store.latest_id()).messages[-1]
        tmux("-S", socket, "send-keys", "-t", session, "C-q")
        wait_until(lambda: subprocess.run(["tmux", "-S", socket, "has-session", "-t", session],
                                          capture_output=True).returncode != 0, 20, "the app to quit")
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
    return screen, answer


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (packaging/dev-test.sh installs it)")
def test_tmux_session_shows_the_answer_and_the_stats_bar(tmp_path, smollm_q4):
    db = tmp_path / "h.sqlite3"
    screen, answer = chat_in_tmux(tmp_path, db, chat_args(smollm_q4, db, "--max-tokens", "48"))
    first_words = " ".join(answer.content.split()[:3])
    assert "Name three colours." in screen
    assert first_words and first_words in " ".join(screen.split())
    assert "tok/s" in screen and "TTFT" in screen and "ngram" in screen  # the stats bar
    assert "tokens ·" in screen  # the answer's own summary line


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (packaging/dev-test.sh installs it)")
def test_plain_dspark_chat_opens_the_embedded_default_and_answers(tmp_path):
    # what a new user types: no command, no model (the embedded default pair comes from the models package)
    pytest.importorskip("dspark_chat.models.selection", reason="the embedded default pair is not on this branch")
    screen, answer = chat_in_tmux(tmp_path, history.default_path(),
                                  [*CLI, "--new", "--threads", "1", "--temperature", "0", "--max-tokens", "24"])
    assert answer.model and "SmolLM2" in answer.model and answer.status == history.DONE
    assert " ".join(answer.content.split()[:3]) in " ".join(screen.split())
    assert "tok/s" in screen and "TTFT" in screen
