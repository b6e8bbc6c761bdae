"""A conversation -> prompt tokens that fit the context window, and the reply streamed back.

Truncation policy (documented in the README): system messages and the newest user message are always kept; the
oldest other turns are dropped until the prompt leaves room for the reply. When even that does not fit, the user
gets a ContextOverflowError naming the sizes.
"""

from __future__ import annotations

import threading
from typing import Iterator

from .errors import ContextOverflowError
from .events import Done, Step
from .llama import Model
from .session import GenerateParams, Session
from .templates import render

MIN_REPLY_ROOM = 64  # tokens kept free for the answer even when max_tokens asks for more than the window has


def chat_tokens(model: Model, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
    bos_text = model.token_text(model.bos) if model.bos >= 0 else ""
    eos_text = model.token_text(model.eos) if model.eos >= 0 else ""
    text = render(model.chat_template(), messages, bos_text, eos_text, add_generation_prompt)
    # templates usually write the BOS themselves; add it only when the model wants one and the text lacks it
    add_bos = model.add_bos and not (bos_text and text.startswith(bos_text))
    return model.tokenize(text, add_special=add_bos, parse_special=True)


def raw_tokens(model: Model, text: str) -> list[int]:
    """Plain completion of `text` (base models, tests): no template, BOS as the model asks."""
    return model.tokenize(text, add_special=True, parse_special=False)


def fit_to_context(model: Model, messages: list[dict], n_ctx: int, max_tokens: int) -> tuple[list[int], int]:
    """Prompt tokens for `messages`, dropping the oldest turns if needed. Returns (tokens, messages dropped)."""
    reserve = min(max(max_tokens, 1), max(MIN_REPLY_ROOM, n_ctx // 4))
    budget = n_ctx - reserve
    keep = list(messages)
    dropped = 0
    while True:
        tokens = chat_tokens(model, keep)
        if len(tokens) <= budget:
            return tokens, dropped
        droppable = [i for i, m in enumerate(keep[:-1]) if m.get("role") != "system"]
        if not droppable:
            raise ContextOverflowError(
                f"the message needs {len(tokens)} tokens but the context holds {n_ctx} "
                f"with {reserve} kept for the reply (shorten it or raise --ctx-size)"
            )
        # drop a whole exchange at a time so the template still sees alternating roles
        first = droppable[0]
        span = 2 if first + 1 < len(keep) - 1 and keep[first + 1].get("role") == "assistant" else 1
        del keep[first : first + span]
        dropped += span


def stream_reply(
    session: Session,
    messages: list[dict],
    params: GenerateParams,
    cancel: threading.Event | None = None,
) -> Iterator[Step | Done]:
    model = session.target.model
    tokens, _dropped = fit_to_context(model, messages, session.target.n_ctx, params.max_tokens)
    yield from session.generate(tokens, params, cancel)
