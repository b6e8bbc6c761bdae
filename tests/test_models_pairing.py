"""Pairing from metadata: real models (refused and accepted pairs) and synthetic vocabularies for each rule."""

from __future__ import annotations

import numpy as np
import pytest

from dspark_chat.engine.errors import IncompatibleDrafterError
from dspark_chat.models.gguf_info import read_info
from dspark_chat.models.pairing import (
    MAX_DRAFTER_SIZE_RATIO, VOCAB_SIZE_MARGIN, check_pair, choose_drafter, compatible, require_pair,
)

from .synthetic_gguf import words, write_gguf


# -- real models --------------------------------------------------------------------------------------------------

def test_gemma_and_smollm_are_refused_with_a_reason(gemma_q4, smollm_q4):
    verdict = check_pair(read_info(gemma_q4), read_info(smollm_q4))
    assert not verdict
    assert "SentencePiece" in verdict.reason and "byte-level BPE" in verdict.reason
    assert "262,144" in verdict.reason and "49,152" in verdict.reason
    assert "\n" not in verdict.reason
    with pytest.raises(IncompatibleDrafterError) as exc:
        require_pair(read_info(smollm_q4), read_info(gemma_q4))
    assert exc.value.exit_code == 4


def test_a_model_with_itself_is_accepted(smollm_q4, gemma_q4):
    for path in (smollm_q4, gemma_q4):
        assert check_pair(read_info(path), read_info(path))


def test_gemma_f16_target_with_its_q4_drafter(gemma_f16, gemma_q4):
    verdict = check_pair(read_info(gemma_f16), read_info(gemma_q4))
    assert verdict, verdict.reason
    assert "262,144 shared tokens" in verdict.reason


def test_smollm_f16_target_with_its_q4_drafter(smollm_f16, smollm_q4):
    assert check_pair(read_info(smollm_f16), read_info(smollm_q4))


def test_auto_skips_a_drafter_too_close_in_size(gemma_f16, gemma_q4, smollm_q4):
    # the Q4_K_M is 47% of the F16: compatible, listed, but a step costs too much to ever pay (see pairing.py)
    target, q4 = read_info(gemma_f16), read_info(gemma_q4)
    assert q4.file_size > MAX_DRAFTER_SIZE_RATIO * target.file_size
    choice = choose_drafter(target, [read_info(p) for p in (gemma_f16, gemma_q4, smollm_q4)])
    assert choice.kind == "ngram" and "too close to pay" in choice.reason
    assert [i.path for i in compatible(target, [target, q4])] == [q4.path]


def test_auto_falls_back_to_ngram_for_the_small_model(gemma_q4, gemma_f16, smollm_q4):
    # the F16 is bigger than the Q4_K_M target: drafting with it could never pay
    choice = choose_drafter(read_info(gemma_q4), [read_info(p) for p in (gemma_q4, gemma_f16, smollm_q4)])
    assert choice.spec == "ngram" and choice.kind == "ngram"


# -- synthetic vocabularies ---------------------------------------------------------------------------------------

def _model(tmp_path, name, tokens, size_pad: int = 0, **kw):
    tensors = {"w.weight": np.zeros(max(1, size_pad), np.uint8).view(np.int8)} if size_pad else None
    return read_info(write_gguf(tmp_path / name, tokens=tokens, tensors=tensors, **kw))


def test_one_differing_token_is_named(tmp_path):
    base = words(1000)
    other = list(base)
    other[637] = "different"
    verdict = check_pair(_model(tmp_path, "t.gguf", base), _model(tmp_path, "d.gguf", other))
    assert not verdict
    assert "token 637" in verdict.reason and "'different'" in verdict.reason and "'tok637'" in verdict.reason


def test_a_difference_in_length_only(tmp_path):
    # same first bytes, one token longer: the comparison must not stop at the shorter record
    base = words(50)
    other = list(base)
    other[10] = "tok10x"
    verdict = check_pair(_model(tmp_path, "t.gguf", base), _model(tmp_path, "d.gguf", other))
    assert not verdict and "token 10" in verdict.reason


def test_padding_within_the_margin_is_accepted(tmp_path):
    base = words(1000)
    padded = base + [f"<pad{i}>" for i in range(VOCAB_SIZE_MARGIN)]
    assert check_pair(_model(tmp_path, "t.gguf", padded), _model(tmp_path, "d.gguf", base))
    assert check_pair(_model(tmp_path, "t2.gguf", base), _model(tmp_path, "d2.gguf", padded))


def test_sizes_beyond_the_margin_are_refused(tmp_path):
    base = words(1000)
    padded = base + [f"<pad{i}>" for i in range(VOCAB_SIZE_MARGIN + 1)]
    verdict = check_pair(_model(tmp_path, "t.gguf", padded), _model(tmp_path, "d.gguf", base))
    assert not verdict and "1,129" in verdict.reason and "1,000" in verdict.reason


def test_vocabulary_types_must_match(tmp_path):
    verdict = check_pair(_model(tmp_path, "t.gguf", words(10), vocab_type="llama"),
                         _model(tmp_path, "d.gguf", words(10), vocab_type="gpt2"))
    assert not verdict and "SentencePiece" in verdict.reason


def test_bos_and_eos_must_match(tmp_path):
    verdict = check_pair(_model(tmp_path, "t.gguf", words(10), bos=1, eos=2),
                         _model(tmp_path, "d.gguf", words(10), bos=1, eos=3))
    assert not verdict and "1/3" in verdict.reason and "1/2" in verdict.reason


def test_a_model_without_vocabulary_is_refused(tmp_path):
    verdict = check_pair(_model(tmp_path, "t.gguf", words(10)),
                         _model(tmp_path, "d.gguf", None, vocab_type=None))
    assert not verdict and "no vocabulary" in verdict.reason


def test_native_drafter_pairs_by_vocabulary_and_shape(tmp_path):
    target = _model(tmp_path, "t.gguf", words(100), n_embd=32, n_layers=12)
    fits = _model(tmp_path, "d.gguf", words(100), arch="dflash", n_embd=32,
                  extra={"dflash.block_size": 16, "dflash.target_layers": [2, 6, 11]})
    assert check_pair(target, fits)
    wrong_width = _model(tmp_path, "w.gguf", words(100), arch="dflash", n_embd=64)
    assert "hidden size 64" in check_pair(target, wrong_width).reason
    too_deep = _model(tmp_path, "x.gguf", words(100), arch="dflash", n_embd=32,
                      extra={"dflash.target_layers": [2, 30]})
    assert "layer 30" in check_pair(target, too_deep).reason
    other_vocab = _model(tmp_path, "v.gguf", words(100, "x"), arch="dflash", n_embd=32)
    assert "disagree on token 0" in check_pair(target, other_vocab).reason


def test_a_native_drafter_is_no_target(tmp_path):
    native = _model(tmp_path, "d.gguf", words(10), arch="dflash")
    assert "native DSpark/DFlash drafter" in check_pair(native, native).reason


def test_auto_prefers_native_then_the_smallest_model(tmp_path):
    target = _model(tmp_path, "t.gguf", words(100), size_pad=100_000)
    small = _model(tmp_path, "s.gguf", words(100), size_pad=10_000)
    medium = _model(tmp_path, "m.gguf", words(100), size_pad=30_000)
    too_big = _model(tmp_path, "b.gguf", words(100), size_pad=int(100_000 * MAX_DRAFTER_SIZE_RATIO) + 5_000)
    stranger = _model(tmp_path, "x.gguf", words(100, "x"), size_pad=1_000)
    native = _model(tmp_path, "n.gguf", words(100), arch="dflash", size_pad=40_000)

    assert choose_drafter(target, [target, small, medium, too_big, stranger, native]).kind == "dspark"
    choice = choose_drafter(target, [target, medium, small, too_big, stranger])
    assert choice.kind == "model" and choice.spec == str(small.path)
    assert choose_drafter(target, [target, too_big, stranger]).spec == "ngram"
    assert [i.path.name for i in compatible(target, [target, medium, small, too_big, stranger, native])] == \
        ["n.gguf", "s.gguf", "m.gguf", "b.gguf"]
