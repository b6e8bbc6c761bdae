"""Counters for one generation, with explicit denominators.

acceptance_rate = accepted / verified: drafts the target checked, not drafts proposed (drafted-but-gated tokens
were never verified). acceptance_of_drafted = accepted / drafted is reported beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass
class GenerationStats:
    mode: str = "plain"
    prompt_tokens: int = 0  # tokens in the rendered prompt
    reused_tokens: int = 0  # of those, found already in the KV cache (prefix reuse)
    tokens: int = 0  # generated tokens
    rounds: int = 0  # target decodes after the prompt
    spec_rounds: int = 0  # rounds that verified at least one draft
    drafted: int = 0  # draft tokens proposed by the drafter
    verified: int = 0  # draft tokens sent to the target
    accepted: int = 0  # draft tokens kept
    draft_s: float = 0.0
    verify_s: float = 0.0  # target decodes of the rounds
    overhead_s: float = 0.0  # Python between decodes: gating, acceptance, text
    prefill_s: float = 0.0
    t_start: float = field(default_factory=time.perf_counter)
    t_decode_start: float = 0.0
    t_first: float = 0.0
    t_end: float = 0.0
    estimated_speedup: float | None = None  # scheduler's estimate against plain decoding

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.accepted, self.verified)

    @property
    def acceptance_of_drafted(self) -> float | None:
        return _ratio(self.accepted, self.drafted)

    @property
    def mean_accepted_len(self) -> float | None:
        """Drafts kept per round that verified drafts (the target's own token not counted)."""
        return _ratio(self.accepted, self.spec_rounds)

    @property
    def tokens_per_round(self) -> float | None:
        return _ratio(self.tokens, self.rounds)

    @property
    def decode_seconds(self) -> float:
        end = self.t_end or time.perf_counter()
        return max(0.0, end - (self.t_decode_start or self.t_start))

    @property
    def tokens_per_s(self) -> float:
        s = self.decode_seconds
        return self.tokens / s if s > 0 else 0.0

    @property
    def ttft_s(self) -> float | None:
        return self.t_first - self.t_start if self.t_first else None

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "tokens_per_s": round(self.tokens_per_s, 3),
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 4),
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "reused_tokens": self.reused_tokens,
            "rounds": self.rounds,
            "spec_rounds": self.spec_rounds,
            "drafted": self.drafted,
            "verified": self.verified,
            "accepted": self.accepted,
            "acceptance_rate": _round(self.acceptance_rate),
            "acceptance_of_drafted": _round(self.acceptance_of_drafted),
            "mean_accepted_len": _round(self.mean_accepted_len),
            "tokens_per_round": _round(self.tokens_per_round),
            "draft_s": round(self.draft_s, 4),
            "verify_s": round(self.verify_s, 4),
            "overhead_s": round(self.overhead_s, 4),
            "prefill_s": round(self.prefill_s, 4),
            "decode_s": round(self.decode_seconds, 4),
            "estimated_speedup": _round(self.estimated_speedup),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
