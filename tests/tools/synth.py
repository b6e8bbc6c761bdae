"""Synthetic GGUF models, written with the `gguf` package: tiny ones for CPU tests, realistic shapes for GPU runs.

Why: no real weights reach a GPU box without network, and a random drafter is the cleanest proof that the
speculative loop is lossless (its drafts are garbage, the output must still be the target's). This module builds
  * llama-architecture models of any shape (`LlamaShape`: tiny for tests, 8B/1B shapes for measurements);
  * `dflash` drafters for a given target GGUF (`DFlashShape`): plain DFlash, or DSpark with the Markov head and
    optionally the confidence head, with their own embeddings or sharing the target's (as released drafters do);
  * "successor chain" weights with known behaviour (`SuccessorChain`): the target maps every token to a fixed
    successor; a drafter agrees on a chosen fraction alpha of tokens (with a lower margin where it is wrong, so its
    confidence means something). Greedy acceptance is alpha by construction, while every matrix is still
    multiplied, so timings are real.

Tensors are streamed to disk one at a time, so an 8B-shape file needs one tensor's memory, not the model's.
Command line: `python -m tests.tools.synth --help`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

# -- shapes -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlamaShape:
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_ctx: int = 4096
    rope_base: float = 10000.0
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


TINY = LlamaShape(n_layer=2, n_embd=64, n_ff=128, n_head=4, n_head_kv=2)
SMALL = LlamaShape(n_layer=4, n_embd=256, n_ff=512, n_head=4, n_head_kv=2)
SHAPE_8B = LlamaShape(n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, n_ctx=8192, rope_base=500000.0)
SHAPE_1B = LlamaShape(n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8, n_ctx=8192, rope_base=500000.0)
LLAMA_SHAPES = {"tiny": TINY, "small": SMALL, "8b": SHAPE_8B, "1b": SHAPE_1B}


@dataclass(frozen=True)
class DFlashShape:
    """A `dflash` drafter. Its width is the target's: the vendored llama.cpp sizes the feature input as
    len(target_layers) x the drafter's own n_embd while the target delivers rows of the target's n_embd."""

    n_layer: int = 1
    n_ff: int = 128
    n_head: int = 4
    n_head_kv: int = 2
    block_size: int = 16
    target_layers: tuple[int, ...] | None = None  # None: spread over the target's depth
    markov_rank: int = 0  # 0: plain DFlash; > 0: DSpark (Markov head of this rank)
    confidence: bool = True  # DSpark only: add the confidence head
    sample_from_anchor: bool = True  # DSpark: slot 0 (the last committed token) predicts the first draft
    own_embeddings: bool = True  # False: use the target's token embeddings and LM head (needs ctx_other)
    rope_base: float = 10000.0
    rms_eps: float = 1e-6


DSPARK_TINY = DFlashShape(markov_rank=64)
DFLASH_TINY = DFlashShape()
# A DSpark drafter for the 8B-shape target: a few full-width layers, as published DFlash/DSpark drafters have.
DSPARK_8B = DFlashShape(n_layer=3, n_ff=14336, n_head=32, n_head_kv=8, markov_rank=256, rope_base=500000.0)
DFLASH_SHAPES = {"dspark-tiny": DSPARK_TINY, "dflash-tiny": DFLASH_TINY, "dspark-8b": DSPARK_8B}


def spread_layers(n_layer: int, count: int = 3) -> tuple[int, ...]:
    """Layers a DFlash drafter reads, spread from shallow to deep (never past the last: llama.cpp cannot)."""
    if n_layer <= count:
        return tuple(range(n_layer))
    return tuple(sorted({int(round(x)) for x in np.linspace(1, n_layer - 2, count)}))


# -- tokenizers -------------------------------------------------------------------------------------------------

TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6
Field = tuple[Any, GGUFValueType, "GGUFValueType | None"]


@dataclass
class Tokenizer:
    """The `tokenizer.*` metadata of a GGUF, ready to be written into another one."""

    fields: dict[str, Field]

    @property
    def n_vocab(self) -> int:
        return len(self.fields["tokenizer.ggml.tokens"][0])

    @property
    def tokens(self) -> list[str]:
        return self.fields["tokenizer.ggml.tokens"][0]

    def token_types(self) -> np.ndarray:
        f = self.fields.get("tokenizer.ggml.token_type")
        return np.asarray(f[0], dtype=np.int32) if f else np.full(self.n_vocab, TOKEN_NORMAL, np.int32)

    def special_id(self, name: str) -> int | None:
        f = self.fields.get(f"tokenizer.ggml.{name}_token_id")
        return int(f[0]) if f else None

    def ordinary_ids(self) -> np.ndarray:
        """Token ids that stand for text (no control, byte or unknown tokens): what a successor chain walks."""
        return np.flatnonzero(self.token_types() == TOKEN_NORMAL)

    def word_ids(self) -> np.ndarray:
        """Ordinary tokens that are one whole word ('\u2581' + letters) whose every shorter word is also a token:
        text made of them splits back into the same tokens."""
        tokens, ordinary = self.tokens, self.ordinary_ids()
        words = [t for t in ordinary if tokens[t].startswith("\u2581") and tokens[t][1:].isalpha()]
        present = {tokens[t] for t in ordinary}
        # the longest word length is only partly in the vocabulary: keep lengths complete below it
        longest = max(len(tokens[t]) for t in words)
        keep = [t for t in words if len(tokens[t]) < longest] or words
        return np.asarray(sorted(t for t in keep if tokens[t][1:] in present), dtype=np.int64)

    def pick_mask_id(self) -> int:
        """A token a drafter can use as its mask: '<mask>' if the vocabulary has one, else an unused control token."""
        if "<mask>" in self.tokens:
            return self.tokens.index("<mask>")
        reserved = {self.special_id(n) for n in ("bos", "eos", "eot", "unknown", "padding")}
        controls = [int(t) for t in np.flatnonzero(self.token_types() == TOKEN_CONTROL) if int(t) not in reserved]
        return controls[-1] if controls else self.n_vocab - 1


def tokenizer_from_gguf(path: str | Path) -> Tokenizer:
    """Copy a model's tokenizer (vocabulary, merges, special ids, chat template)."""
    reader = GGUFReader(str(path))
    fields: dict[str, Field] = {}
    for name, f in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        main = f.types[0]
        sub = f.types[-1] if main == GGUFValueType.ARRAY else None
        fields[name] = (f.contents(), main, sub)
    if "tokenizer.ggml.tokens" not in fields:
        raise ValueError(f"{path} has no tokenizer to copy")
    return Tokenizer(fields)


def synthetic_tokenizer(n_vocab: int = 32000) -> Tokenizer:
    """A self-contained SentencePiece-style vocabulary: <unk> <s> </s> <mask>, 256 byte tokens, then letter runs.

    Longer pieces score higher so words tokenize into few tokens. Any size >= 300 works (128256 = Llama 3's).
    """
    specials = ["<unk>", "<s>", "</s>", "<mask>"]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_CONTROL]
    tokens = list(specials) + [f"<0x{b:02X}>" for b in range(256)]
    types += [TOKEN_BYTE] * 256
    if n_vocab < len(tokens) + 27:
        raise ValueError(f"a synthetic vocabulary needs at least {len(tokens) + 27} tokens")
    scores = [0.0] * len(tokens)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces: list[str] = ["\u2581"]
    length = 1
    while len(tokens) + len(pieces) < n_vocab:
        for idx in np.ndindex(*([26] * length)):
            word = "".join(letters[i] for i in idx)
            pieces.extend(("\u2581" + word, word))
            if len(tokens) + len(pieces) >= n_vocab:
                break
        length += 1
    pieces = pieces[: n_vocab - len(tokens)]
    tokens += pieces
    types += [TOKEN_NORMAL] * len(pieces)
    scores += [-100.0 + len(p) for p in pieces]
    A, S = GGUFValueType.ARRAY, GGUFValueType.STRING
    U32 = GGUFValueType.UINT32
    return Tokenizer({
        "tokenizer.ggml.model": ("llama", S, None),
        "tokenizer.ggml.tokens": (tokens, A, S),
        "tokenizer.ggml.scores": (scores, A, GGUFValueType.FLOAT32),
        "tokenizer.ggml.token_type": (types, A, GGUFValueType.INT32),
        "tokenizer.ggml.unknown_token_id": (0, U32, None),
        "tokenizer.ggml.bos_token_id": (1, U32, None),
        "tokenizer.ggml.eos_token_id": (2, U32, None),
        "tokenizer.ggml.mask_token_id": (3, U32, None),
        "tokenizer.ggml.add_bos_token": (True, GGUFValueType.BOOL, None),
        "tokenizer.ggml.add_space_prefix": (True, GGUFValueType.BOOL, None),
    })


# -- successor chains: behaviour known by construction ---------------------------------------------------------

# Probability the target gives its successor (sets the logit margin; noise of the other logits shrinks with width).
TARGET_SUCCESSOR_P = 0.99
# A chain drafter is surer where it is right than where it is wrong, so its confidence carries information.
DRAFTER_RIGHT_P = 0.9
DRAFTER_WRONG_P = 0.3
CONFIDENCE_GAIN = 3.0  # confidence head: sigmoid(+-3) = 0.95 / 0.05 for right / wrong predecessors


@dataclass
class SuccessorChain:
    """next_id[x]: the token that follows x. Ordinary tokens form one cycle (nothing repeats for a long while, so
    n-gram lookup finds nothing); control/byte tokens lead into the cycle, and nothing ever leads to them."""

    next_id: np.ndarray  # int64 [n_vocab]
    seed: int
    # words_only chains: tokens outside the cycle, left out of the LM heads. Many of them lead into each word,
    # and summing them all into its head row would drown the successor's margin in crosstalk.
    lead_in: np.ndarray | None = None

    @staticmethod
    def for_tokenizer(tok: Tokenizer, seed: int, words_only: bool = False) -> "SuccessorChain":
        """words_only: the cycle walks only whole-word tokens, so generated text tokenizes back to the same ids
        (a text prompt made of a walk means the same tokens to every program that reads it)."""
        rng = np.random.default_rng(seed)
        ordinary = tok.word_ids() if words_only else tok.ordinary_ids()
        order = rng.permutation(ordinary)
        nxt = np.empty(tok.n_vocab, dtype=np.int64)
        nxt[order] = np.roll(order, -1)
        others = np.setdiff1d(np.arange(tok.n_vocab), ordinary)
        nxt[others] = rng.choice(ordinary, size=len(others))
        lead_in = None
        if words_only:
            lead_in = np.zeros(tok.n_vocab, dtype=bool)
            lead_in[others] = True
        return SuccessorChain(nxt, seed, lead_in)

    def drafter(self, alpha: float, seed: int) -> "DrafterChain":
        """A drafter that predicts the right successor for a fraction alpha of tokens (random ones)."""
        rng = np.random.default_rng([self.seed, seed, 7])
        right = rng.random(len(self.next_id)) < alpha
        ordinary = np.unique(self.next_id)
        wrong = rng.choice(ordinary, size=len(self.next_id))
        clash = wrong == self.next_id
        wrong[clash] = np.roll(ordinary, 1)[np.searchsorted(ordinary, wrong[clash])]
        return DrafterChain(np.where(right, self.next_id, wrong), right, alpha, self.lead_in)


@dataclass
class DrafterChain:
    next_id: np.ndarray  # what the drafter predicts after each token
    right: np.ndarray  # bool: agrees with the target's successor
    alpha: float
    lead_in: np.ndarray | None = None  # as SuccessorChain.lead_in


def successor_logit(p: float, n_vocab: int) -> float:
    """Logit that gives probability p against n_vocab - 1 competitors at logit 0."""
    return math.log(p / (1.0 - p) * (n_vocab - 1))


# -- tensor filling ---------------------------------------------------------------------------------------------

POOL_SIZE = 1 << 22  # random values drawn once and reused for large tensors (GPU-size files in seconds)


class Filler:
    """Seeded random tensors. Large ones reuse one random pool at random offsets: values only need to be
    random-looking for timing, and an 8B-shape file would otherwise spend minutes in the random generator."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self._pool = self.rng.standard_normal(POOL_SIZE, dtype=np.float32)

    def normal(self, shape: Sequence[int], std: float, exact: bool = False) -> np.ndarray:
        """exact: every value freshly drawn. Pooled tensors repeat with a period of POOL_SIZE values, so rows
        that must differ from each other (embeddings that encode token identity) are always drawn exactly."""
        n = int(np.prod(shape))
        if exact or n <= POOL_SIZE // 4:
            out = self.rng.standard_normal(n, dtype=np.float32)
        else:
            start = int(self.rng.integers(0, POOL_SIZE))
            out = np.take(self._pool, (start + np.arange(n, dtype=np.int64)) % POOL_SIZE)
        out *= std
        return out.reshape(shape)

    def unit_rows(self, n_rows: int, width: int) -> np.ndarray:
        """Rows of RMS 1 (so a row's dot with itself is `width`): what an RMS-normed residual stream looks like."""
        rows = self.normal((n_rows, width), 1.0, exact=True)
        rows /= np.sqrt(np.mean(rows * rows, axis=1, keepdims=True)) + 1e-12
        return rows


# -- writing ----------------------------------------------------------------------------------------------------


@dataclass
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # numpy order (rows, columns): the reverse of ggml's ne
    make: Callable[[], np.ndarray]
    dtype: type = np.float16


def write_gguf(path: str | Path, arch: str, metadata: dict[str, Field], tokenizer: Tokenizer,
               tensors: list[TensorSpec]) -> Path:
    """Write a GGUF, producing one tensor at a time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    w = GGUFWriter(str(tmp), arch)
    for key, (value, vtype, sub) in {**metadata, **tokenizer.fields}.items():
        w.add_key_value(key, value, vtype, sub)
    for t in tensors:
        dt = np.dtype(t.dtype)
        w.add_tensor_info(t.name, t.shape, dt, int(np.prod(t.shape)) * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for t in tensors:
        data = np.ascontiguousarray(t.make(), dtype=t.dtype)
        if data.shape != t.shape:
            raise AssertionError(f"{t.name}: made {data.shape}, declared {t.shape}")
        w.write_tensor_data(data)
    w.close()
    tmp.replace(path)
    return path


def _u32(v: int) -> Field:
    return (int(v), GGUFValueType.UINT32, None)


def _f32(v: float) -> Field:
    return (float(v), GGUFValueType.FLOAT32, None)


def _bool(v: bool) -> Field:
    return (bool(v), GGUFValueType.BOOL, None)


def _norm(name: str, width: int) -> TensorSpec:
    return TensorSpec(name, (width,), lambda: np.ones(width, np.float32), np.float32)


def _zeros(name: str, shape: tuple[int, ...], dtype=np.float16) -> TensorSpec:
    return TensorSpec(name, shape, lambda: np.zeros(shape, np.float32), dtype)


def _random(fill: Filler, name: str, shape: tuple[int, ...], std: float, dtype=np.float16) -> TensorSpec:
    return TensorSpec(name, shape, lambda: fill.normal(shape, std), dtype)


# -- llama-architecture models (targets and model drafters) ----------------------------------------------------

# Random weights: std 1/sqrt(fan_in) keeps activations O(1); the LM head is scaled up so logits are well separated
# (near-ties would make batched and single-token kernels disagree and blur the lossless checks).
RANDOM_HEAD_GAIN = 4.0


def build_llama(path: str | Path, shape: LlamaShape, tokenizer: Tokenizer, seed: int = 0, *,
                chain: SuccessorChain | DrafterChain | None = None, dtype=np.float16,
                name: str = "synthetic") -> Path:
    """A llama-architecture model with random weights, or successor-chain weights when `chain` is given.

    Chain weights: attn_output and ffn_down are zero, so the residual stream is the token embedding at every
    layer; the LM head row of each token points at the embedding of its predecessor under the chain.
    """
    fill = Filler(seed)
    V, d = tokenizer.n_vocab, shape.n_embd
    hd = shape.head_dim
    q_out, kv_out = shape.n_head * hd, shape.n_head_kv * hd
    embd_cache: dict[str, np.ndarray] = {}

    def embeddings() -> np.ndarray:
        if "E" not in embd_cache:
            embd_cache["E"] = fill.unit_rows(V, d) if chain is not None else fill.normal((V, d), 1.0)
        return embd_cache["E"]

    def head() -> np.ndarray:
        if chain is None:
            return fill.normal((V, d), RANDOM_HEAD_GAIN / math.sqrt(d))
        return _chain_head(embeddings(), chain, V)

    tensors = [TensorSpec("token_embd.weight", (V, d), embeddings, dtype), _norm("output_norm.weight", d),
               TensorSpec("output.weight", (V, d), head, dtype)]
    zero_out = chain is not None
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        tensors += [
            _norm(p + "attn_norm.weight", d),
            _random(fill, p + "attn_q.weight", (q_out, d), d**-0.5, dtype),
            _random(fill, p + "attn_k.weight", (kv_out, d), d**-0.5, dtype),
            _random(fill, p + "attn_v.weight", (kv_out, d), d**-0.5, dtype),
            _zeros(p + "attn_output.weight", (d, q_out), dtype) if zero_out
            else _random(fill, p + "attn_output.weight", (d, q_out), q_out**-0.5, dtype),
            _norm(p + "ffn_norm.weight", d),
            _random(fill, p + "ffn_gate.weight", (shape.n_ff, d), d**-0.5, dtype),
            _random(fill, p + "ffn_up.weight", (shape.n_ff, d), d**-0.5, dtype),
            _zeros(p + "ffn_down.weight", (d, shape.n_ff), dtype) if zero_out
            else _random(fill, p + "ffn_down.weight", (d, shape.n_ff), shape.n_ff**-0.5, dtype),
        ]
    meta = {
        "general.name": (name, GGUFValueType.STRING, None),
        "llama.context_length": _u32(shape.n_ctx),
        "llama.embedding_length": _u32(d),
        "llama.block_count": _u32(shape.n_layer),
        "llama.feed_forward_length": _u32(shape.n_ff),
        "llama.attention.head_count": _u32(shape.n_head),
        "llama.attention.head_count_kv": _u32(shape.n_head_kv),
        "llama.rope.freq_base": _f32(shape.rope_base),
        "llama.rope.dimension_count": _u32(hd),
        "llama.attention.layer_norm_rms_epsilon": _f32(shape.rms_eps),
        "llama.vocab_size": _u32(V),
    }
    if isinstance(chain, SuccessorChain):
        meta["synthetic.chain_seed"] = _u32(chain.seed)  # drafters built for this target find the chain here
    return write_gguf(path, "llama", meta, tokenizer, tensors)


def _chain_logits(chain: SuccessorChain | DrafterChain, n_vocab: int) -> np.ndarray:
    if isinstance(chain, DrafterChain):
        return np.where(chain.right, successor_logit(DRAFTER_RIGHT_P, n_vocab),
                        successor_logit(DRAFTER_WRONG_P, n_vocab)).astype(np.float32)
    return np.full(n_vocab, successor_logit(TARGET_SUCCESSOR_P, n_vocab), np.float32)


def _chain_head(rows: np.ndarray, chain: SuccessorChain | DrafterChain, n_vocab: int) -> np.ndarray:
    """head[y] = sum over x with next(x) = y of logit(x) * rows[x] / width, so head . rows[x] peaks at next(x)."""
    width = rows.shape[1]
    scale = _chain_logits(chain, n_vocab) / width
    out = np.zeros((n_vocab, width), np.float32)
    if chain.lead_in is not None:
        keep = np.flatnonzero(~chain.lead_in)
        _scatter_add_rows(out, chain.next_id[keep], rows[keep], scale[keep])
        return out
    _scatter_add_rows(out, chain.next_id, rows, scale)
    return out


def _scatter_add_rows(out: np.ndarray, index: np.ndarray, rows: np.ndarray, scale: np.ndarray) -> None:
    """out[index[i]] += scale[i] * rows[i], in passes of distinct targets (np.add.at is far slower at 8B size)."""
    pending = np.arange(len(index))
    while pending.size:
        _, first = np.unique(index[pending], return_index=True)
        take = pending[first]
        out[index[take]] += rows[take] * scale[take, None]
        pending = np.delete(pending, first)


# -- dflash drafters --------------------------------------------------------------------------------------------


@dataclass
class TargetInfo:
    path: Path
    arch: str
    n_embd: int
    n_layer: int
    tokenizer: Tokenizer
    chain_seed: int | None


def read_target(path: str | Path) -> TargetInfo:
    reader = GGUFReader(str(path))

    def get(key: str, default=None):
        f = reader.fields.get(key)
        return f.contents() if f is not None else default

    arch = get("general.architecture")
    return TargetInfo(Path(path), arch, int(get(f"{arch}.embedding_length")), int(get(f"{arch}.block_count")),
                      tokenizer_from_gguf(path), get("synthetic.chain_seed"))


def build_dflash(path: str | Path, target: str | Path | TargetInfo, shape: DFlashShape = DSPARK_TINY,
                 seed: int = 1, *, chain: DrafterChain | None = None, mask_id: int | None = None,
                 dtype=np.float16) -> Path:
    """A `dflash` drafter for `target` (same vocabulary and width, reading `shape.target_layers`).

    chain: DSpark successor-chain weights. The drafter's own LM head is zero and the Markov head carries the
    chain, so each block position proposes chain.next_id of the previous one; the confidence head reads a
    right/wrong flag stored in the Markov embedding, so it is high exactly where the proposal is right.
    """
    info = target if isinstance(target, TargetInfo) else read_target(target)
    if chain is not None and shape.markov_rank < 2:
        raise ValueError("successor-chain drafters need the Markov head (markov_rank >= 2)")
    if chain is not None and not shape.own_embeddings:
        raise ValueError("successor-chain drafters carry their own (zero) LM head: own_embeddings must be on")
    fill = Filler(seed)
    tok = replace(info.tokenizer, fields=dict(info.tokenizer.fields))
    mask = tok.pick_mask_id() if mask_id is None else mask_id
    tok.fields["tokenizer.ggml.mask_token_id"] = _u32(mask)
    V, d = tok.n_vocab, info.n_embd
    layers = shape.target_layers if shape.target_layers is not None else spread_layers(info.n_layer)
    hd = d // shape.n_head
    q_out, kv_out = shape.n_head * hd, shape.n_head_kv * hd
    n_feat = len(layers) * d

    tensors: list[TensorSpec] = []
    if shape.own_embeddings:
        head = _zeros("output.weight", (V, d), dtype) if chain is not None \
            else _random(fill, "output.weight", (V, d), RANDOM_HEAD_GAIN / math.sqrt(d), dtype)
        tensors += [_random(fill, "token_embd.weight", (V, d), 1.0, dtype), head]
    tensors += [
        _random(fill, "fc.weight", (d, n_feat), n_feat**-0.5, dtype),
        _norm("enc.output_norm.weight", d),
        _norm("output_norm.weight", d),
    ]
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        tensors += [
            _norm(p + "attn_norm.weight", d),
            _random(fill, p + "attn_q.weight", (q_out, d), d**-0.5, dtype),
            _random(fill, p + "attn_k.weight", (kv_out, d), d**-0.5, dtype),
            _random(fill, p + "attn_v.weight", (kv_out, d), d**-0.5, dtype),
            _random(fill, p + "attn_output.weight", (d, q_out), q_out**-0.5, dtype),
            _norm(p + "attn_q_norm.weight", hd),
            _norm(p + "attn_k_norm.weight", hd),
            _norm(p + "ffn_norm.weight", d),
            _random(fill, p + "ffn_gate.weight", (shape.n_ff, d), d**-0.5, dtype),
            _random(fill, p + "ffn_up.weight", (shape.n_ff, d), d**-0.5, dtype),
            _random(fill, p + "ffn_down.weight", (d, shape.n_ff), shape.n_ff**-0.5, dtype),
        ]
    R = shape.markov_rank
    has_conf = R > 0 and shape.confidence
    if R > 0:
        tensors += _markov_tensors(fill, V, d, R, chain, has_conf, dtype)
    meta = {
        "general.name": ("synthetic-dspark" if R > 0 else "synthetic-dflash", GGUFValueType.STRING, None),
        "dflash.context_length": _u32(8192),
        "dflash.embedding_length": _u32(d),
        "dflash.block_count": _u32(shape.n_layer),
        "dflash.feed_forward_length": _u32(shape.n_ff),
        "dflash.attention.head_count": _u32(shape.n_head),
        "dflash.attention.head_count_kv": _u32(shape.n_head_kv),
        "dflash.attention.key_length": _u32(hd),
        "dflash.attention.value_length": _u32(hd),
        "dflash.rope.freq_base": _f32(shape.rope_base),
        "dflash.attention.layer_norm_rms_epsilon": _f32(shape.rms_eps),
        "dflash.vocab_size": _u32(V),
        "dflash.target_layers": ([int(x) for x in layers], GGUFValueType.ARRAY, GGUFValueType.INT32),
        "dflash.block_size": _u32(shape.block_size),
        "dflash.sample_from_anchor": _bool(shape.sample_from_anchor),
        "dflash.has_confidence_head": _bool(has_conf),
    }
    return write_gguf(path, "dflash", meta, tok, tensors)


def _markov_tensors(fill: Filler, V: int, d: int, R: int, chain: DrafterChain | None, has_conf: bool,
                    dtype) -> list[TensorSpec]:
    """markov_w1 [V, R] embeds the previous token, markov_w2 [V, R] maps it to a bias over the vocabulary.

    Chain layout: column 0 of w1 holds +1 where the drafter is right about that token's successor and -1 where
    it is wrong (w2's column 0 is zero, so the flag never biases the logits; the confidence head reads it).
    """
    cache: dict[str, np.ndarray] = {}

    def w1() -> np.ndarray:
        if "w1" not in cache:
            if chain is None:
                cache["w1"] = fill.normal((V, R), 1.0)
            else:
                rows = fill.unit_rows(V, R - 1)
                flag = np.where(chain.right, 1.0, -1.0).astype(np.float32)[:, None]
                cache["w1"] = np.concatenate([flag, rows], axis=1)
        return cache["w1"]

    def w2() -> np.ndarray:
        if chain is None:
            return fill.normal((V, R), 1.0 / math.sqrt(R))
        rows = w1()[:, 1:]
        return np.concatenate([np.zeros((V, 1), np.float32), _chain_head(rows, chain, V)], axis=1)

    out = [TensorSpec("markov_w1.weight", (V, R), w1, dtype), TensorSpec("markov_w2.weight", (V, R), w2, dtype)]
    if has_conf:
        def conf() -> np.ndarray:
            if chain is None:
                return fill.normal((1, d + R), (d + R) ** -0.5)
            c = np.zeros((1, d + R), np.float32)
            c[0, d] = CONFIDENCE_GAIN  # reads the right/wrong flag of the previous token
            return c

        out += [TensorSpec("conf_proj.weight", (1, d + R), conf, np.float32),
                TensorSpec("conf_proj.bias", (1,), lambda: np.zeros(1, np.float32), np.float32)]
    return out


# -- chain pairs in one call (what GPU benchmarks and the acceptance test use) -------------------------------


@dataclass
class ChainPair:
    target: Path
    model_drafter: Path | None = None
    dspark_drafter: Path | None = None
    alpha: float = 0.0
    files: list[Path] = field(default_factory=list)


def build_chain_pair(folder: str | Path, alpha: float, *, target_shape: LlamaShape = TINY,
                     drafter_shape: LlamaShape | None = TINY, dspark_shape: DFlashShape | None = DSPARK_TINY,
                     tokenizer: Tokenizer | None = None, chain_seed: int = 11, drafter_seed: int = 5,
                     quant: str | None = None) -> ChainPair:
    """A successor-chain target plus a model drafter and a DSpark drafter that agree with it on `alpha` of tokens.

    quant: re-quantize every file (e.g. "Q4_K_M") with the same llama.cpp the app uses.
    """
    folder = Path(folder)
    tok = tokenizer or synthetic_tokenizer()
    chain = SuccessorChain.for_tokenizer(tok, chain_seed)
    dchain = chain.drafter(alpha, drafter_seed)
    tag = f"a{int(round(alpha * 100)):03d}"
    pair = ChainPair(build_llama(folder / "chain-target.gguf", target_shape, tok, seed=chain_seed, chain=chain),
                     alpha=alpha)
    if drafter_shape is not None:
        pair.model_drafter = build_llama(folder / f"chain-drafter-{tag}.gguf", drafter_shape, tok,
                                         seed=drafter_seed, chain=dchain)
    if dspark_shape is not None:
        pair.dspark_drafter = build_dflash(folder / f"chain-dspark-{tag}.gguf", pair.target, dspark_shape,
                                           seed=drafter_seed, chain=dchain)
    if quant:
        for attr in ("target", "model_drafter", "dspark_drafter"):
            src = getattr(pair, attr)
            if src is not None:
                setattr(pair, attr, quantize_file(src, quant))
    return pair


def quantize_file(src: Path, quant: str) -> Path:
    from dspark_chat.engine.llama import quantize

    dst = src.with_name(f"{src.stem}-{quant.lower()}.gguf")
    quantize(src, dst, quant)
    return dst


# -- command line ---------------------------------------------------------------------------------------------


def _llama_shape(text: str) -> LlamaShape:
    if text in LLAMA_SHAPES:
        return LLAMA_SHAPES[text]
    try:
        layers, embd, ff, heads, kv = (int(x) for x in text.split(","))
    except ValueError:
        raise SystemExit(f"--shape: one of {', '.join(LLAMA_SHAPES)} or LAYERS,EMBD,FF,HEADS,KV_HEADS") from None
    return LlamaShape(layers, embd, ff, heads, kv)


def _tokenizer(args) -> Tokenizer:
    return tokenizer_from_gguf(args.tokenizer_from) if args.tokenizer_from else synthetic_tokenizer(args.vocab)


def _finish(path: Path, quant: str | None) -> None:
    out = quantize_file(path, quant) if quant else path
    print(out)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tests.tools.synth", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)

    t = sub.add_parser("target", help="a llama-architecture model (a target, or a model drafter with --alpha)")
    t.add_argument("out", type=Path)
    t.add_argument("--shape", default="tiny", help=f"{', '.join(LLAMA_SHAPES)} or LAYERS,EMBD,FF,HEADS,KV_HEADS")
    t.add_argument("--vocab", type=int, default=32000, help="size of the synthetic vocabulary (default 32000)")
    t.add_argument("--tokenizer-from", type=Path, metavar="GGUF", help="copy this model's tokenizer instead")
    t.add_argument("--chain-seed", type=int, help="successor-chain weights (known greedy behaviour)")
    t.add_argument("--alpha", type=float, help="with --chain-seed: a model drafter right on this share of tokens")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--f32", action="store_true", help="F32 weights (default F16)")
    t.add_argument("--quant", help="also write a re-quantized copy, e.g. Q4_K_M")

    d = sub.add_parser("dflash", help="a dflash (DSpark or DFlash) drafter for a target GGUF")
    d.add_argument("out", type=Path)
    d.add_argument("--target", type=Path, required=True)
    d.add_argument("--shape", choices=sorted(DFLASH_SHAPES), default="dspark-tiny")
    d.add_argument("--layers", type=int, help="drafter layers")
    d.add_argument("--ff", type=int, help="drafter FFN width")
    d.add_argument("--heads", type=int, nargs=2, metavar=("HEADS", "KV_HEADS"))
    d.add_argument("--block-size", type=int)
    d.add_argument("--target-layers", type=lambda s: tuple(int(x) for x in s.split(",")), metavar="I,J,K")
    d.add_argument("--markov-rank", type=int, help="0: plain DFlash (no Markov head)")
    d.add_argument("--no-confidence", action="store_true", help="DSpark without the confidence head")
    d.add_argument("--bonus-anchor", action="store_true", help="sample_from_anchor = false")
    d.add_argument("--share-embeddings", action="store_true", help="use the target's embeddings and LM head")
    d.add_argument("--alpha", type=float, help="successor-chain drafter for a chain target (needs --markov-rank)")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--quant")
    args = p.parse_args(argv)

    if args.what == "target":
        shape = _llama_shape(args.shape)
        tok = _tokenizer(args)
        chain = None
        if args.chain_seed is not None:
            chain = SuccessorChain.for_tokenizer(tok, args.chain_seed)
            if args.alpha is not None:
                chain = chain.drafter(args.alpha, args.seed)
        dtype = np.float32 if args.f32 else np.float16
        _finish(build_llama(args.out, shape, tok, args.seed, chain=chain, dtype=dtype), args.quant)
        return 0

    shape = DFLASH_SHAPES[args.shape]
    changes = {
        "n_layer": args.layers, "n_ff": args.ff, "block_size": args.block_size,
        "target_layers": args.target_layers, "markov_rank": args.markov_rank,
    }
    shape = replace(shape, **{k: v for k, v in changes.items() if v is not None})
    if args.heads:
        shape = replace(shape, n_head=args.heads[0], n_head_kv=args.heads[1])
    shape = replace(shape, confidence=not args.no_confidence, sample_from_anchor=not args.bonus_anchor,
                    own_embeddings=not args.share_embeddings)
    info = read_target(args.target)
    chain = None
    if args.alpha is not None:
        if info.chain_seed is None:
            raise SystemExit("--alpha needs a successor-chain target (built with --chain-seed)")
        chain = SuccessorChain.for_tokenizer(info.tokenizer, info.chain_seed).drafter(args.alpha, args.seed)
    _finish(build_dflash(args.out, info, shape, args.seed, chain=chain), args.quant)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
