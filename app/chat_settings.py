"""What the chat runs with: the models (one set for the whole app) and the sampling of each conversation.

ModelSpec changes reload the models; ChatSettings are stored with each conversation and apply to its next answer.
Both are plain data with the validation the settings screen and the command line share.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.pair import PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams

from .options import DEFAULTS, value

MIN_CTX = 128  # smaller windows cannot hold a chat template and an answer


@dataclass(frozen=True)
class ModelSpec:
    target: str
    drafter: str | None = None  # a GGUF path, "ngram", or None/"none" for plain decoding
    ctx_size: int = DEFAULTS["ctx_size"]
    n_gpu_layers: int = DEFAULTS["n_gpu_layers"]
    threads: int | None = DEFAULTS["threads"]
    draft_max: int | None = DEFAULTS["draft_max"]
    draft_fixed: int | None = DEFAULTS["draft_fixed"]
    cuda_graphs: bool | None = DEFAULTS["cuda_graphs"]  # one value per process (see engine.llama.set_cuda_graphs)

    def validate(self) -> "ModelSpec":
        if self.ctx_size < MIN_CTX:
            raise DSparkError(f"context must be at least {MIN_CTX} tokens, got {self.ctx_size}")
        if self.draft_max is not None and self.draft_max < 0:
            raise DSparkError(f"most drafts per round must be >= 0, got {self.draft_max}")
        if self.draft_fixed is not None and self.draft_fixed < 0:
            raise DSparkError(f"fixed drafts per round must be >= 0, got {self.draft_fixed}")
        if self.threads is not None and self.threads < 1:
            raise DSparkError(f"threads must be at least 1, got {self.threads}")
        return self

    def pair_options(self, cache_dir: Path | None) -> PairOptions:
        return PairOptions(
            n_ctx=self.ctx_size, n_gpu_layers=self.n_gpu_layers, threads=self.threads, cache_dir=cache_dir,
            schedule=ScheduleConfig(max_draft=self.draft_max, fixed_draft=self.draft_fixed),
            cuda_graphs=self.cuda_graphs,
        )

    @property
    def drafter_label(self) -> str:
        if self.drafter in (None, "", "none", "plain"):
            return "plain"
        return self.drafter if self.drafter in ("ngram", "auto") else Path(self.drafter).name

    @property
    def label(self) -> str:
        return f"{Path(self.target).name} + {self.drafter_label}"

    @staticmethod
    def from_args(target: str, drafter: str | None, args: argparse.Namespace, config: dict | None = None):
        return ModelSpec(
            target=target, drafter=drafter, ctx_size=value(args, "ctx_size", config),
            n_gpu_layers=value(args, "n_gpu_layers", config), threads=value(args, "threads", config) or None,
            draft_max=value(args, "draft_max", config), draft_fixed=value(args, "draft_fixed", config),
            cuda_graphs=value(args, "cuda_graphs", config),
        ).validate()


@dataclass(frozen=True)
class ChatSettings:
    """Per conversation: the system prompt and how answers are sampled."""

    system_prompt: str = ""
    temperature: float = DEFAULTS["temperature"]
    top_k: int = DEFAULTS["top_k"]
    top_p: float = DEFAULTS["top_p"]
    min_p: float = DEFAULTS["min_p"]
    max_tokens: int = DEFAULTS["max_tokens"]
    seed: int | None = DEFAULTS["seed"]
    stop: tuple[str, ...] = field(default=())

    def validate(self) -> "ChatSettings":
        self.sampling()  # raises DSparkError on a bad value
        if self.max_tokens < 1:
            raise DSparkError(f"max tokens must be at least 1, got {self.max_tokens}")
        return self

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, min_p=self.min_p,
                              seed=self.seed).validate()

    def generate_params(self) -> GenerateParams:
        return GenerateParams(max_tokens=self.max_tokens, sampling=self.sampling(), stop=self.stop)

    def sampling_dict(self) -> dict:
        """What the store keeps in a conversation's settings column (the system prompt has its own)."""
        d = asdict(self)
        d.pop("system_prompt")
        d["stop"] = list(self.stop)
        return d

    def with_stored(self, system_prompt: str, stored: dict) -> "ChatSettings":
        """These defaults overlaid with what a conversation stored (unknown or bad keys ignored)."""
        known = {f.name for f in fields(self)} - {"system_prompt"}
        updates = {k: v for k, v in stored.items() if k in known}
        if "stop" in updates:
            updates["stop"] = tuple(updates["stop"] or ())
        try:
            return replace(self, system_prompt=system_prompt, **updates).validate()
        except (DSparkError, TypeError):
            return replace(self, system_prompt=system_prompt)

    @staticmethod
    def from_args(args: argparse.Namespace, config: dict | None = None) -> "ChatSettings":
        return ChatSettings(
            system_prompt=getattr(args, "system", None) or "",
            temperature=value(args, "temperature", config), top_k=value(args, "top_k", config),
            top_p=value(args, "top_p", config), min_p=value(args, "min_p", config),
            max_tokens=value(args, "max_tokens", config), seed=value(args, "seed", config),
            stop=tuple(getattr(args, "stop", None) or ()),
        ).validate()
