"""The synthetic model generator (tests/tools/synth.py): files llama.cpp loads, and behaviour known by construction.

The GPU benchmarks build 8B-shape pairs with the same code; here it runs on tiny shapes on the CPU.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dspark_chat.engine.events import Done, Step
from dspark_chat.engine.llama import Model
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams
from dspark_chat.engine.stats import GenerationStats

from .conftest import ROOT
from .lossless import WholeDraft
from .tools import synth

GREEDY = SamplingParams(temperature=0.0)
ALPHA_TOLERANCE = 0.08  # a few hundred drafted positions: the realised share of right tokens varies this much


def chain_acceptance(target, drafter, prompts, max_tokens=150, fixed=8) -> tuple[float, Pair]:
    """accepted / reached drafts (a position is reached when every earlier draft was accepted)."""
    accepted = reached = 0
    with Pair(target, drafter, PairOptions(n_ctx=1024, schedule=ScheduleConfig(fixed_draft=fixed))) as pair:
        for prompt in prompts:
            plain = [ev for ev in pair.plain_session().generate(prompt, GenerateParams(max_tokens, GREEDY))
                     if isinstance(ev, Done)][0]
            for ev in pair.session().generate(prompt, GenerateParams(max_tokens, GREEDY)):
                if isinstance(ev, Step):
                    accepted += ev.accepted
                    reached += min(ev.verified, ev.accepted + 1)
                else:
                    assert ev.tokens == plain.tokens
    return accepted / reached, pair


@pytest.fixture(scope="module")
def vocab():
    return synth.synthetic_tokenizer(4000)


def test_synthetic_tokenizer_round_trips(tmp_path, vocab):
    path = synth.build_llama(tmp_path / "t.gguf", synth.TINY, vocab)
    model = Model(path)
    assert model.n_vocab == 4000 and model.arch == "llama"
    text = "hello world, abc"
    assert model.detokenize(model.tokenize(text, add_special=False)).strip() == text


def test_chain_target_follows_its_chain(tmp_path, vocab):
    chain = synth.SuccessorChain.for_tokenizer(vocab, seed=3)
    path = synth.build_llama(tmp_path / "t.gguf", synth.TINY, vocab, seed=3, chain=chain)
    with Pair(path, None, PairOptions(n_ctx=512, profile=False)) as pair:
        done = [ev for ev in pair.plain_session().generate([1, 1234], GenerateParams(200, GREEDY))
                if isinstance(ev, Done)][0]
    seq = [1234] + done.tokens
    assert len(done.tokens) == 200
    assert all(chain.next_id[a] == b for a, b in zip(seq, seq[1:]))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
def test_greedy_acceptance_is_alpha_by_construction(tmp_path, vocab, alpha):
    pair = synth.build_chain_pair(tmp_path, alpha, tokenizer=vocab)
    prompts = [[1, 300 + 41 * i] for i in range(4)]
    for drafter, kind in ((pair.model_drafter, "model"), (pair.dspark_drafter, "dspark")):
        got, opened = chain_acceptance(pair.target, drafter, prompts)
        assert opened.mode == kind
        assert abs(got - alpha) < ALPHA_TOLERANCE, (kind, got)


def test_dspark_chain_blocks_and_confidence(tmp_path, vocab):
    """The Markov head walks the drafter's chain from the anchor; the confidence head says where it is right."""
    pair = synth.build_chain_pair(tmp_path, 0.6, tokenizer=vocab, drafter_shape=None)
    chain = synth.SuccessorChain.for_tokenizer(vocab, 11).drafter(0.6, 5)
    with Pair(pair.target, pair.dspark_drafter, PairOptions(n_ctx=512, profile=False)) as opened:
        history = [1, 2000, 2001, 2002]
        opened.session()._prefill(history, GenerationStats())
        draft = opened.drafter.draft(history, 16, GREEDY, np.random.default_rng(0), WholeDraft())
    expected, prev = [], history[-1]
    for _ in range(16):
        expected.append(int(chain.next_id[prev]))
        prev = expected[-1]
    assert draft.tokens == expected
    right = chain.right[[history[-1], *expected[:-1]]]
    assert np.all(draft.confidences[right] > 0.9) and np.all(draft.confidences[~right] < 0.1)


def test_quantized_chain_pair_keeps_its_behaviour(tmp_path, vocab):
    """Q4_K_M through the app's own quantizer, at a width where k-quants apply (256)."""
    shape = synth.SMALL
    dspark = synth.DFlashShape(n_ff=256, markov_rank=64)
    pair = synth.build_chain_pair(tmp_path, 0.8, tokenizer=vocab, target_shape=shape, drafter_shape=None,
                                  dspark_shape=dspark, quant="Q4_K_M")
    assert "q4_k_m" in pair.target.name and "q4_k_m" in pair.dspark_drafter.name
    assert Model(pair.target).description().find("Q4_K") >= 0
    got, _ = chain_acceptance(pair.target, pair.dspark_drafter, [[1, 777], [1, 1500]])
    assert abs(got - 0.8) < ALPHA_TOLERANCE


def test_command_line_builds_loadable_files(tmp_path):
    def run(*args):
        r = subprocess.run([sys.executable, "-m", "tests.tools.synth", *map(str, args)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    target = run("target", tmp_path / "t.gguf", "--shape", "2,64,128,4,2", "--vocab", 3000, "--chain-seed", 4)
    drafter = run("target", tmp_path / "d.gguf", "--shape", "tiny", "--vocab", 3000, "--chain-seed", 4,
                  "--alpha", 0.7, "--seed", 2)
    dspark = run("dflash", tmp_path / "s.gguf", "--target", target, "--markov-rank", 32, "--alpha", 0.7,
                 "--seed", 2, "--block-size", 8)
    dflash = run("dflash", tmp_path / "f.gguf", "--target", target, "--markov-rank", 0, "--share-embeddings")
    for path, arch in ((target, "llama"), (drafter, "llama"), (dspark, "dflash"), (dflash, "dflash")):
        assert Model(path).arch == arch
    assert Model(dspark).meta("dflash.block_size") == "8"
