"""Conversations on disk: one SQLite file in the data dir, so no chat is ever lost and anyone can query it.

Write-ahead logging keeps every committed write through a crash or a kill. An answer is written as it streams
(its row is created as `streaming` and its text saved every fraction of a second by the caller); a row still marked
`streaming` when the store is next opened belonged to a process that died mid-answer, and is marked `interrupted`.
(Should a second app open the file while the first is still answering, that answer is marked too early; its text
keeps being saved and its final write sets the right status.)
The schema version lives in `PRAGMA user_version`; MIGRATIONS bring any older file up to date in order.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from dspark_chat.engine.errors import DSparkError
from dspark_chat.models import paths

DB_NAME = "history.sqlite3"
DEFAULT_TITLE = "New chat"
TITLE_CHARS = 60  # titles made from the first prompt are cut here
BUSY_TIMEOUT_MS = 5000  # a second app on the same file waits this long for a write lock

# Status of a message. Answers start as STREAMING and end in one of the others.
DONE = "done"
STREAMING = "streaming"
STOPPED = "stopped"  # the user stopped the answer
INTERRUPTED = "interrupted"  # the app died mid-answer
FAILED = "error"  # the engine raised; the text is what came before
STATUSES = (DONE, STREAMING, STOPPED, INTERRUPTED, FAILED)


class HistoryError(DSparkError):
    """The conversation store cannot be read or written (disk full, damaged or newer file)."""

    exit_code = 8


# --- schema ---------------------------------------------------------------------------------------------------
# Each entry upgrades version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an id in a script stays that chat's
        title         TEXT NOT NULL,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        system_prompt TEXT NOT NULL DEFAULT '',
        settings      TEXT NOT NULL DEFAULT '{}'   -- JSON: sampling settings of this chat
    );
    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content         TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'done',
        created_at      REAL NOT NULL,
        model           TEXT,              -- which target wrote an answer
        stats           TEXT,              -- JSON: the engine's statistics of an answer
        draft_spans     TEXT               -- JSON [[start, end], ...]: characters that came from accepted drafts
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations (updated_at DESC);
    CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the file to len(migrations); each step in its own transaction. Returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > len(migrations):
        raise HistoryError(
            f"the conversation file was written by a newer dspark-chat (schema {found}, this one knows "
            f"{len(migrations)}): upgrade dspark-chat"
        )
    for version in range(found, len(migrations)):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            # executescript would commit on its own: run the statements one by one inside the transaction
            for statement in _statements(migrations[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return found


def _statements(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line.split("--", 1)[0])
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            if joined.strip(" \n;"):
                out.append(joined)
            buf = []
    return out


# --- records ---------------------------------------------------------------------------------------------------
@dataclass
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    status: str = DONE
    created_at: float = 0.0
    model: str | None = None
    stats: dict | None = None
    draft_spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    system_prompt: str = ""
    settings: dict = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Summary:
    """A line of the chat list."""

    id: int
    title: str
    updated_at: float
    n_messages: int


def title_from(prompt: str) -> str:
    line = next((s.strip() for s in prompt.splitlines() if s.strip()), "") or DEFAULT_TITLE
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def default_path() -> Path:
    return paths.data_dir() / DB_NAME


def _explain(exc: sqlite3.Error | OSError, path: Path) -> HistoryError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "full" in text:
        return HistoryError(f"disk full: cannot save the conversation in {path}; free some space")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return HistoryError(f"disk full: cannot create {path}; free some space")
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return HistoryError(f"{path} is not a dspark-chat conversation file (damaged?); move it away to start anew")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return HistoryError(f"{path} is locked by another program; try again")
    return HistoryError(f"conversation store {path}: {text.splitlines()[0] if text else type(exc).__name__}")


def _guarded(method: Callable) -> Callable:
    """Turn sqlite3/OS errors into one-line HistoryErrors naming the file."""

    def wrapper(self: "HistoryStore", *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise _explain(exc, self.path) from None

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


# --- the store -------------------------------------------------------------------------------------------------
class HistoryStore:
    """All reads and writes of conversations. One instance per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path | None = None, clock: Callable[[], float] = time.time):
        self.path = Path(path) if path is not None else default_path()
        self._now = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a committed write survives the process being killed (not a power cut), and each
            # incremental save of a streaming answer costs no fsync.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn)
            self.recovered = self._recover()
        except (sqlite3.Error, OSError) as exc:
            raise _explain(exc, self.path) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recover(self) -> int:
        """Answers left `streaming` by a process that died: keep their text, mark them interrupted."""
        with self._conn:
            cur = self._conn.execute("UPDATE messages SET status = ? WHERE status = ?", (INTERRUPTED, STREAMING))
        return cur.rowcount

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(sql, params)

    # -- conversations ------------------------------------------------------------------------------------------
    @_guarded
    def new_conversation(self, title: str = DEFAULT_TITLE, system_prompt: str = "",
                         settings: dict | None = None) -> Conversation:
        now = self._now()
        cur = self._write(
            "INSERT INTO conversations (title, created_at, updated_at, system_prompt, settings) VALUES (?, ?, ?, ?, ?)",
            (title, now, now, system_prompt, json.dumps(settings or {})),
        )
        return Conversation(cur.lastrowid, title, now, now, system_prompt, dict(settings or {}))

    @_guarded
    def list_conversations(self, search: str = "", limit: int = 500) -> list[Summary]:
        """Newest first; `search` keeps titles containing it (case-insensitive, taken literally)."""
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._conn.execute(
            "SELECT c.id, c.title, c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) n "
            "FROM conversations c WHERE c.title LIKE ? ESCAPE '\\' ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (pattern, limit),
        ).fetchall()
        return [Summary(r["id"], r["title"], r["updated_at"], r["n"]) for r in rows]

    @_guarded
    def latest_id(self) -> int | None:
        row = self._conn.execute("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1").fetchone()
        return row["id"] if row else None

    @_guarded
    def get(self, conversation_id: int) -> Conversation:
        row = self._conn.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise HistoryError(f"no conversation with id {conversation_id} (see the chat list)")
        messages = [self._message(r) for r in self._conn.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))]
        return Conversation(row["id"], row["title"], row["created_at"], row["updated_at"], row["system_prompt"],
                            _json(row["settings"], {}), messages)

    @_guarded
    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise HistoryError("a chat title cannot be empty")
        self._write("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    @_guarded
    def delete(self, conversation_id: int) -> None:
        self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    @_guarded
    def update_settings(self, conversation_id: int, system_prompt: str, settings: dict) -> None:
        self._write("UPDATE conversations SET system_prompt = ?, settings = ? WHERE id = ?",
                    (system_prompt, json.dumps(settings), conversation_id))

    def _touch(self, conversation_id: int) -> None:
        self._conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (self._now(), conversation_id))

    # -- messages -----------------------------------------------------------------------------------------------
    @_guarded
    def add_message(self, conversation_id: int, role: str, content: str, status: str = DONE,
                    model: str | None = None) -> Message:
        now = self._now()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            cur = self._conn.execute(
                "INSERT INTO messages (conversation_id, role, content, status, created_at, model) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, status, now, model),
            )
            if role == "user":  # the first prompt names a chat that has no name yet
                self._conn.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                                   (title_from(content), conversation_id, DEFAULT_TITLE))
            self._touch(conversation_id)
        return Message(cur.lastrowid, conversation_id, role, content, status, now, model)

    def start_answer(self, conversation_id: int, model: str | None = None) -> Message:
        """The row an answer streams into; saved before the first token so a kill leaves a trace."""
        return self.add_message(conversation_id, "assistant", "", STREAMING, model)

    @_guarded
    def save_partial(self, message_id: int, content: str) -> None:
        """The text streamed so far (the caller throttles: a few writes a second)."""
        self._write("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))

    @_guarded
    def finish_answer(self, message_id: int, content: str, status: str, stats: dict | None = None,
                      draft_spans: Sequence[tuple[int, int]] = ()) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            self._conn.execute(
                "UPDATE messages SET content = ?, status = ?, stats = ?, draft_spans = ? WHERE id = ?",
                (content, status, json.dumps(stats) if stats is not None else None,
                 json.dumps([list(s) for s in draft_spans]) if draft_spans else None, message_id),
            )
            if row:
                self._touch(row["conversation_id"])

    @_guarded
    def delete_messages_from(self, message_id: int) -> int:
        """Delete a message and every later one of its conversation (regenerate, edit and resend)."""
        row = self._conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return 0
        cur = self._write("DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                          (row["conversation_id"], message_id))
        return cur.rowcount

    @staticmethod
    def _message(r: sqlite3.Row) -> Message:
        spans = [tuple(s) for s in _json(r["draft_spans"], [])]
        return Message(r["id"], r["conversation_id"], r["role"], r["content"], r["status"], r["created_at"],
                       r["model"], _json(r["stats"], None), spans)

    # -- small UI state (last theme, toggles) -------------------------------------------------------------------
    @_guarded
    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self._conn.execute("SELECT value FROM app_state WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    @_guarded
    def set_state(self, key: str, value: str) -> None:
        self._write("INSERT INTO app_state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- export -------------------------------------------------------------------------------------------------
    def export_markdown(self, conversation_id: int) -> str:
        return to_markdown(self.get(conversation_id))

    def export_to_file(self, conversation_id: int, path: str | Path | None = None) -> Path:
        """Write the chat as Markdown (default: the data dir's exports folder); returns where."""
        conv = self.get(conversation_id)
        target = Path(path) if path is not None else exports_dir() / f"{_slug(conv.title)}-{conv.id}.md"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_text(to_markdown(conv), encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            raise _explain(exc, target) from None
        return target


def exports_dir() -> Path:
    return paths.data_dir() / "exports"


ROLE_HEADINGS = {"system": "System", "user": "You", "assistant": "Assistant"}
STATUS_NOTES = {STOPPED: "stopped by the user", INTERRUPTED: "interrupted: the app closed mid-answer",
                FAILED: "failed", STREAMING: "still being written"}


def to_markdown(conv: Conversation) -> str:
    lines = [f"# {conv.title}", "", f"_Exported from dspark-chat · {time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.updated_at))}_", ""]
    if conv.system_prompt:
        lines += ["## System", "", conv.system_prompt, ""]
    for m in conv.messages:
        heading = ROLE_HEADINGS.get(m.role, m.role)
        if m.role == "assistant" and m.model:
            heading += f" ({m.model})"
        lines += [f"## {heading}", "", m.content.rstrip() or "_(no text)_", ""]
        if m.status in STATUS_NOTES:
            lines += [f"_({STATUS_NOTES[m.status]})_", ""]
    return "\n".join(lines)


def _slug(title: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in title)
    return "-".join(p for p in keep.split("-") if p)[:40] or "chat"


def _json(text: str | None, default):
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
