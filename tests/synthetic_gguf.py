"""Small GGUF files written with the `gguf` package, for metadata edge cases real models do not cover.

They carry real headers, vocabularies and tensors (a few KB), not weights llama.cpp could run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

import gguf


def words(n: int, prefix: str = "tok") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def write_gguf(
    path: Path,
    arch: str = "llama",
    tokens: Sequence[str] | None = None,
    vocab_type: str | None = "gpt2",
    bos: int | None = 1,
    eos: int | None = 2,
    n_embd: int = 16,
    n_layers: int = 2,
    context: int = 2048,
    chat_template: str | None = None,
    file_type: int | None = gguf.LlamaFileType.MOSTLY_F16,
    tensors: dict[str, np.ndarray] | None = None,
    extra: dict | None = None,
    split_max_tensors: int = 0,
) -> Path:
    """A GGUF at `path`; `extra` adds keys (ints, floats, bools, strings, lists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    w.add_context_length(context)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layers)
    if file_type is not None:
        w.add_file_type(int(file_type))
    if vocab_type is not None:
        w.add_tokenizer_model(vocab_type)
    if tokens is not None:
        w.add_token_list(list(tokens))
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    for key, value in (extra or {}).items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, list(value))
    if tensors is None:
        rng = np.random.default_rng(0)
        tensors = {
            "token_embd.weight": rng.standard_normal((len(tokens or [0]), n_embd)).astype(np.float16),
            "blk.0.attn_q.weight": rng.standard_normal((n_embd, n_embd)).astype(np.float16),
            "output_norm.weight": np.ones(n_embd, dtype=np.float32),
        }
    for name, data in tensors.items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
