"""Messages the engine's worker threads post to the UI (thread-safe, never blocking the decoder)."""

from __future__ import annotations

from textual.message import Message

from dspark_chat.engine.events import Done

from .live import Batch


class ModelLoading(Message):
    def __init__(self, load_id: int, note: str) -> None:
        super().__init__()
        self.load_id = load_id
        self.note = note


class ModelReady(Message):
    def __init__(self, load_id: int, label: str) -> None:
        super().__init__()
        self.load_id = load_id
        self.label = label


class ModelFailed(Message):
    def __init__(self, load_id: int, error: str) -> None:
        super().__init__()
        self.load_id = load_id
        self.error = error


class AnswerProgress(Message):
    def __init__(self, job_id: int, batch: Batch) -> None:
        super().__init__()
        self.job_id = job_id
        self.batch = batch


class AnswerDone(Message):
    def __init__(self, job_id: int, done: Done, batch: Batch) -> None:
        super().__init__()
        self.job_id = job_id
        self.done = done
        self.batch = batch


class AnswerFailed(Message):
    def __init__(self, job_id: int, error: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.error = error
