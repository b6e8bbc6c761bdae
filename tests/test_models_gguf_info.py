"""GGUF metadata: the real offline models, synthetic files for edge cases, and damaged files refused cleanly."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from dspark_chat.engine.errors import ModelLoadError
from dspark_chat.models.gguf_info import read_info

from .synthetic_gguf import words, write_gguf

GEMMA_VOCAB = 262_144
SMOLLM_VOCAB = 49_152
READ_BUDGET_S = 5.0  # a header read must never approach a model load; usually well under a second


def test_smollm_metadata(smollm_q4):
    info = read_info(smollm_q4)
    assert info.arch == "llama"
    assert info.quant == "Q4_1"
    assert info.vocab_type == "gpt2" and info.vocab_size == SMOLLM_VOCAB
    assert info.has_chat_template
    assert (info.bos_id, info.eos_id) == (1, 2)
    assert info.context_length == 8192
    assert 130e6 < info.n_params < 140e6  # "135M"
    assert info.vocab.text(1) == "<|im_start|>"
    assert info.file_size == smollm_q4.stat().st_size


def test_gemma_metadata_is_read_fast(gemma_q4):
    t0 = time.perf_counter()
    info = read_info(gemma_q4)
    elapsed = time.perf_counter() - t0
    assert elapsed < READ_BUDGET_S, f"reading a header took {elapsed:.1f}s: the bulk array parsing is not active"
    assert info.arch == "gemma3"
    assert info.quant == "Q4_K_M"
    assert info.vocab_type == "llama" and info.vocab_size == GEMMA_VOCAB
    assert not info.has_chat_template
    assert info.context_length == 32768
    assert 260e6 < info.n_params < 275e6
    assert info.vocab.text(GEMMA_VOCAB - 1)  # the last token is reachable


def test_quantizations_of_one_model_share_a_vocabulary(gemma_q4, gemma_f16):
    q4, f16 = read_info(gemma_q4), read_info(gemma_f16)
    assert f16.quant == "F16" and f16.dominant_type == "F16"
    assert q4.vocab_fingerprint == f16.vocab_fingerprint
    assert q4.n_params == f16.n_params
    assert f16.file_size > 2 * q4.file_size


def test_different_tokenizers_have_different_fingerprints(gemma_q4, smollm_q4):
    assert read_info(gemma_q4).vocab_fingerprint != read_info(smollm_q4).vocab_fingerprint


def test_synthetic_fields(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", tokens=words(300), bos=5, eos=7, context=1234, chat_template="{{x}}",
                      n_embd=32, n_layers=3)
    info = read_info(path)
    assert (info.vocab_size, info.bos_id, info.eos_id, info.context_length) == (300, 5, 7, 1234)
    assert info.has_chat_template and info.embedding_length == 32 and info.n_layers == 3
    assert info.vocab.text(299) == "tok299"
    assert info.summary()["vocab_size"] == 300


def test_params_come_from_tensor_shapes(tmp_path):
    tensors = {"a.weight": np.zeros((7, 11), np.float32), "b.weight": np.zeros(13, np.float16)}
    info = read_info(write_gguf(tmp_path / "m.gguf", tokens=words(4), tensors=tensors))
    assert info.n_params == 7 * 11 + 13


def test_quant_falls_back_to_the_dominant_tensor_type(tmp_path):
    tensors = {"big.weight": np.zeros((64, 64), np.float32), "small.weight": np.zeros((4, 4), np.float16)}
    info = read_info(write_gguf(tmp_path / "m.gguf", tokens=words(4), file_type=None, tensors=tensors))
    assert info.quant == "F32" and info.dominant_type == "F32"


def test_native_drafter_fields(tmp_path):
    path = write_gguf(tmp_path / "d.gguf", arch="dflash", tokens=words(50),
                      extra={"dflash.block_size": 16, "dflash.has_confidence_head": True,
                             "dflash.target_layers": [2, 9, 17]})
    info = read_info(path)
    assert info.is_native_drafter
    assert info.block_size == 16 and info.has_confidence_head and info.target_layers == (2, 9, 17)
    assert info.summary()["confidence_head"] is True


def test_no_vocabulary(tmp_path):
    info = read_info(write_gguf(tmp_path / "m.gguf", tokens=None, vocab_type=None, bos=None, eos=None))
    assert info.vocab_size == 0 and info.vocab_type is None and info.bos_id is None


def test_split_model_counts_every_shard(tmp_path):
    write_gguf(tmp_path / "big.gguf", tokens=words(40), split_max_tensors=1)
    first = tmp_path / "big-00001-of-00003.gguf"
    info = read_info(first)
    assert info.n_shards == 3
    assert info.file_size == sum(p.stat().st_size for p in tmp_path.glob("big-*.gguf"))
    assert info.n_params == 40 * 16 + 16 * 16 + 16
    (tmp_path / "big-00003-of-00003.gguf").unlink()
    with pytest.raises(ModelLoadError, match="big-00003-of-00003.gguf is missing"):
        read_info(first)


# -- damaged files: one line each, never a traceback ------------------------------------------------------------

def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError) as exc:
        read_info(tmp_path / "nope.gguf")
    assert "not found" in _one_line(exc)


def test_directory(tmp_path):
    with pytest.raises(ModelLoadError) as exc:
        read_info(tmp_path)
    assert "directory" in _one_line(exc)


def test_empty_file(tmp_path):
    (tmp_path / "e.gguf").write_bytes(b"")
    with pytest.raises(ModelLoadError) as exc:
        read_info(tmp_path / "e.gguf")
    assert "empty" in _one_line(exc)


def test_not_a_gguf(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"<html>404</html>" * 10)
    with pytest.raises(ModelLoadError) as exc:
        read_info(tmp_path / "x.gguf")
    assert "not a GGUF" in _one_line(exc)


def test_unsupported_version(tmp_path):
    (tmp_path / "v.gguf").write_bytes(b"GGUF" + (99).to_bytes(4, "little") + bytes(64))
    with pytest.raises(ModelLoadError) as exc:
        read_info(tmp_path / "v.gguf")
    assert "corrupt" in _one_line(exc)


@pytest.mark.parametrize("keep", [4, 10, 30, 200, 2000])
def test_truncated_inside_the_header(smollm_q4, tmp_path, keep):
    # cut inside the magic/version, the counts, the first keys, the vocabulary
    damaged = tmp_path / "cut.gguf"
    with smollm_q4.open("rb") as f:
        damaged.write_bytes(f.read(keep))
    with pytest.raises(ModelLoadError) as exc:
        read_info(damaged)
    assert "corrupt or truncated" in _one_line(exc)


def test_truncated_inside_the_tensor_data(smollm_q4, tmp_path):
    damaged = tmp_path / "half.gguf"
    size = smollm_q4.stat().st_size
    with smollm_q4.open("rb") as src, damaged.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
        dst.truncate(size // 2)
    with pytest.raises(ModelLoadError) as exc:
        read_info(damaged)
    message = _one_line(exc)
    assert "truncated" in message and f"{size:,}" in message


def test_garbage_after_a_valid_start(smollm_q4, tmp_path):
    damaged = tmp_path / "garbled.gguf"
    data = bytearray(smollm_q4.read_bytes()[: 1 << 20])
    data[200:4000] = bytes(range(256)) * 14 + bytes(3800 - 256 * 14)  # overwrite keys and lengths
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as exc:
        read_info(damaged)
    _one_line(exc)
