"""Can this drafter draft for that target? Decided from GGUF metadata alone, before any weights are loaded.

A drafter proposes token *ids*; the target verifies them. That only works when every id means the same text in
both vocabularies, and when both agree on where a sequence starts and ends. Native DSpark/DFlash drafters (arch
`dflash`) carry the target's vocabulary too, and additionally read the target's hidden features, so their hidden
size and feature layers must fit the target.

`choose_drafter` implements `--drafter auto`: the best compatible drafter found locally, native first, then a model
drafter much smaller than the target, else the n-gram drafter (free, never a loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from dspark_chat.engine.errors import IncompatibleDrafterError

from .gguf_info import GGUFInfo

# Converted checkpoints pad vocabularies differently (Gemma 3 1B has 262,144 tokens, 4B and up 262,208; Qwen2.5 1.5B
# 151,936, 7B 152,064): ids past the shared range are padding nobody drafts. Same margin as the engine's load check.
VOCAB_SIZE_MARGIN = 128

# A model drafter pays only when one of its steps is much cheaper than a target step. Decoding is bound by memory
# traffic, so the file size is a fair proxy for the cost of a step. With acceptance 0.8 and 4 drafts a round, a
# GPU (verifying 5 tokens costs ~1.3 steps) gains 1.16x at a cost ratio of 0.4 and 1.85x at 0.13 (Qwen3 8B with
# 0.6B); a 2-core CPU (5 tokens cost ~3 steps) gains nothing above ~0.2. Measured here: Gemma 3 270M F16 with its
# Q4_K_M (47% of the size) as drafter, the scheduler never found a round worth drafting (0.99x), while n-gram
# lookup gave 1.28x on the same prompts. Above this ratio `auto` takes the n-gram drafter instead.
MAX_DRAFTER_SIZE_RATIO = 0.4

NGRAM = "ngram"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # one line, fit to print

    def __bool__(self) -> bool:
        return self.ok


# tokenizer.ggml.model values, in the words model cards use
VOCAB_KINDS = {"llama": "SentencePiece", "gpt2": "byte-level BPE", "bert": "WordPiece", "t5": "Unigram",
               "rwkv": "RWKV", "plamo2": "PLaMo-2"}


def vocab_kind(info: GGUFInfo) -> str:
    return VOCAB_KINDS.get(info.vocab_type or "", info.vocab_type or "unknown")


def _name(info: GGUFInfo) -> str:
    return info.path.name


def _clip(text: str, width: int = 24) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def check_pair(target: GGUFInfo, drafter: GGUFInfo) -> Verdict:
    """Whether `drafter` can draft for `target`, with the first reason it cannot."""
    t, d = _name(target), _name(drafter)
    if target.is_native_drafter:
        return Verdict(False, f"{t} is a native DSpark/DFlash drafter (arch dflash), not a model to chat with")
    for info, role in ((target, "target"), (drafter, "drafter")):
        if info.vocab_size == 0:
            return Verdict(False, f"{role} {_name(info)} carries no vocabulary, so drafts cannot be checked")
    if target.vocab_type != drafter.vocab_type:
        return Verdict(False, f"drafter {d} has a {vocab_kind(drafter)} vocabulary of {drafter.vocab_size:,} tokens "
                              f"and target {t} a {vocab_kind(target)} one of {target.vocab_size:,}: "
                              f"their token ids mean different things")
    if abs(target.vocab_size - drafter.vocab_size) > VOCAB_SIZE_MARGIN:
        return Verdict(False, f"drafter {d} has a vocabulary of {drafter.vocab_size:,} tokens and target {t} "
                              f"{target.vocab_size:,}: they cannot be paired")
    first = target.vocab.first_difference(drafter.vocab)
    if first is not None:
        return Verdict(False, f"drafter {d} and target {t} disagree on token {first} "
                              f"({_clip(drafter.vocab.text(first))} vs {_clip(target.vocab.text(first))}): "
                              f"different tokenizers")
    if (target.bos_id, target.eos_id) != (drafter.bos_id, drafter.eos_id):
        return Verdict(False, f"drafter {d} starts/ends sequences with tokens {drafter.bos_id}/{drafter.eos_id}, "
                              f"target {t} with {target.bos_id}/{target.eos_id}")
    if drafter.is_native_drafter:
        native = _check_native(target, drafter)
        if not native:
            return native
    shared = min(target.vocab_size, drafter.vocab_size)
    return Verdict(True, f"same vocabulary ({vocab_kind(drafter)}, {shared:,} shared tokens)")


def _check_native(target: GGUFInfo, drafter: GGUFInfo) -> Verdict:
    # A native drafter decodes from the target's hidden states and shares its token embeddings.
    t, d = _name(target), _name(drafter)
    hidden = drafter.target_hidden_size or drafter.embedding_length
    if hidden and target.embedding_length and hidden != target.embedding_length:
        return Verdict(False, f"native drafter {d} was made for a target with hidden size {hidden}, "
                              f"{t} has {target.embedding_length}")
    if drafter.target_layers and target.n_layers and max(drafter.target_layers) > target.n_layers:
        return Verdict(False, f"native drafter {d} reads target layer {max(drafter.target_layers)}, "
                              f"{t} has {target.n_layers} layers")
    return Verdict(True, "")


def require_pair(target: GGUFInfo, drafter: GGUFInfo) -> None:
    """Raise IncompatibleDrafterError (one line, exit code 4) unless the pair fits."""
    verdict = check_pair(target, drafter)
    if not verdict:
        raise IncompatibleDrafterError(verdict.reason)


@dataclass(frozen=True)
class Choice:
    spec: str  # what the engine takes: a GGUF path or "ngram"
    kind: str  # "dspark" (native), "model" or "ngram"
    reason: str


def rank(target: GGUFInfo, candidate: GGUFInfo) -> tuple | None:
    """Sort key for a compatible candidate (lower is better), None when it should not draft for `target`."""
    if candidate.path == target.path or not check_pair(target, candidate):
        return None
    if candidate.is_native_drafter:
        return (0, candidate.file_size)
    if candidate.file_size > MAX_DRAFTER_SIZE_RATIO * target.file_size:
        return None  # a step costs too close to a target step to ever pay
    # the cheapest step first: among drafters that fit, speed decides more often than acceptance does
    return (1, candidate.file_size)


def compatible(target: GGUFInfo, others: Iterable[GGUFInfo]) -> list[GGUFInfo]:
    """Every model in `others` that can draft for `target` and is smaller than it, best first (for `list`)."""
    fits = [o for o in others if o.path != target.path and (o.is_native_drafter or o.file_size < target.file_size)
            and check_pair(target, o)]
    return sorted(fits, key=lambda o: (not o.is_native_drafter, o.file_size))


def choose_drafter(target: GGUFInfo, candidates: Iterable[GGUFInfo]) -> Choice:
    """`--drafter auto`: native DSpark > a much smaller model with the same vocabulary > n-gram."""
    candidates = list(candidates)
    ranked = sorted(((key, c) for c in candidates if (key := rank(target, c)) is not None),
                    key=lambda kc: kc[0])
    if not ranked:
        near = compatible(target, candidates)
        if near:
            ratio = near[0].file_size / target.file_size
            return Choice(NGRAM, NGRAM, f"{_name(near[0])} fits {_name(target)} but is {ratio:.0%} of its size, "
                                        f"too close to pay: n-gram lookup")
        return Choice(NGRAM, NGRAM, f"no compatible drafter found locally for {_name(target)}: n-gram lookup")
    best = ranked[0][1]
    if best.is_native_drafter:
        return Choice(str(best.path), "dspark", f"native DSpark drafter {_name(best)}")
    ratio = best.file_size / target.file_size
    return Choice(str(best.path), "model", f"model drafter {_name(best)} ({ratio:.0%} of the target's size)")
