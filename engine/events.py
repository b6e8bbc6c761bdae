"""What a generation streams back to its caller: one `Step` per decoding round, then one `Done`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .stats import GenerationStats


@dataclass
class Step:
    tokens: list[int]  # committed this round (EOG and anything past a stop excluded)
    pieces: list[str]  # text released by each token ('' while a character or a possible stop string is held)
    from_draft: list[bool]  # True where the token was a draft the target accepted
    drafted: int  # tokens the drafter proposed this round
    verified: int  # drafts the scheduler sent to the target
    accepted: int  # drafts the target kept
    stats: GenerationStats = field(repr=False)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass
class Done:
    reason: str  # "stop" (EOG or stop string), "length" (max tokens), "context" (window full), "cancelled"
    text: str
    tokens: list[int]
    stats: GenerationStats
    tail: str = ""  # text held back until the end (possible stop-string prefix), not yet in any Step


def collect(events: Iterable[Step | Done]) -> tuple[Done, list[Step]]:
    """Run a generation to its end: (the Done, every Step before it). For callers that do not stream."""
    steps = []
    for ev in events:
        if isinstance(ev, Step):
            steps.append(ev)
        else:
            return ev, steps
    raise RuntimeError("the generation ended without a Done event")
