"""The loaded models, shared by the UI's worker threads: one load or one answer at a time.

The UI never calls the engine from its own thread. A worker thread calls `load` or `generate` here; `generate`
folds the engine's Steps into Batches, paced for the screen (live.py), and hands each to a callback (which posts a
message to the screen: thread-safe, never blocking the decoder). Nothing here imports Textual.
"""

from __future__ import annotations

import threading
from typing import Callable

from dspark_chat.engine.chat import stream_reply
from dspark_chat.engine.events import Done, Step
from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.pair import Pair
from dspark_chat.engine.session import GenerateParams
from dspark_chat.models import paths

from ..chat_settings import ModelSpec
from .live import Batch, Batcher, Pacer


class EngineHost:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the Pair is single-threaded: loads and answers take turns
        self.pair: Pair | None = None
        self.spec: ModelSpec | None = None

    @property
    def ready(self) -> bool:
        return self.pair is not None

    def load(self, spec: ModelSpec, progress: Callable[[str], None]) -> None:
        """Replace the loaded models (the old ones are freed first: two pairs may not fit in memory)."""
        with self._lock:
            self._close_pair()
            self.spec = spec
            self.pair = Pair(spec.target, spec.drafter, spec.pair_options(paths.cache_dir()), progress=progress)

    def generate(
        self,
        messages: list[dict],
        params: GenerateParams,
        cancel: threading.Event,
        on_batch: Callable[[Batch], None],
        pacer: Pacer | None = None,
    ) -> tuple[Done, Batch]:
        """Stream one answer; returns the engine's Done and the last Batch (not passed to on_batch)."""
        with self._lock:
            pair = self.pair
            if pair is None:
                raise DSparkError("no model is loaded: pick one with ctrl+t")
            batcher = Batcher(speedup=pair.scheduler.estimated_speedup, pacer=pacer or Pacer())
            done: Done | None = None
            for event in stream_reply(pair.session(), messages, params, cancel):
                if isinstance(event, Step):
                    batch = batcher.add(event)
                    if batch is not None:
                        on_batch(batch)
                elif isinstance(event, Done):
                    done = event
            if done is None:  # the engine always ends with Done; guard the UI anyway
                raise DSparkError("the answer ended without a result")
            return done, batcher.finish(done.stats, done.tail)

    def close(self) -> None:
        """Free the models, after any running answer has ended (callers set its cancel event first)."""
        with self._lock:
            self._close_pair()

    def _close_pair(self) -> None:
        if self.pair is not None:
            pair, self.pair = self.pair, None
            pair.close()
