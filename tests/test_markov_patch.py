"""packaging/patch_markov_head.py: it applies once, refuses sources it was not written for, the padded Markov
product it adds drafts the same blocks as the stock one, and the drafts it writes into the confidence rows are the
argmaxes the engine would take (the engine then uses them).

The other tests need a llama.cpp built from a patched sdist (a CPU build will do: DSPARK_MARKOV_PAD=1 forces the
padded graph there; on the CPU it costs 2.3x the stock product, which is why it is off there by default):
DSPARK_TEST_PATCHED_LIB names the folder holding its libllama, DSPARK_TEST_GPU_LAYERS puts the drafter on a GPU.
Without the first they are skipped. Checked on 2026-12-06 with a CPU build of the patched 0.3.36 sdist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .clitools import check_source_patch, packaging_module

patch_module = packaging_module("patch_markov_head")


def test_markov_patch_applies_once_and_refuses_unknown_sources(tmp_path):
    # the places as llama-cpp-python 0.3.36 vendors them, between neighbours the patch must leave alone
    body = (patch_module.ORIGINAL_HEAD + "...) {\n" + patch_module.ORIGINAL_SLOTS + "    // loop\n"
            + patch_module.ORIGINAL_BIAS + patch_module.ORIGINAL_CHAIN + patch_module.ORIGINAL_CONF_OUT)
    text = check_source_patch("patch_markov_head", tmp_path, body,
                              patch_module.ORIGINAL_HEAD + "// a llama.cpp whose Markov head changed\n")
    assert patch_module.ORIGINAL_BIAS not in text and "ggml_pad(ctx0, w1_prev" in text
    assert text.count("static bool dspark_pad_markov_bias") == 1 and text.count("static bool dspark_graph_tokens") == 1
    assert patch_module.ORIGINAL_CHAIN not in text and text.count(patch_module.PATCHED_CONF_OUT) == 1
    assert text.count(patch_module.PATCHED_SLOTS) == 1


BLOCK = """
import json, os, sys
import numpy as np
from dspark_chat.engine import dflash_bindings as native
from dspark_chat.engine import llama
model = llama.Model(sys.argv[1], n_gpu_layers=int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0")))
ctx = llama.Context(model, 256, 64, 1)
native.set_nextn_output(ctx.ptr, True, masked=True)
conf = native.NextnOutput(ctx.ptr, model.n_embd, 64)
width = len(native.target_layer_ids(model.ptr)) * model.n_embd
rng = np.random.default_rng(0)
ctx.decode_embeddings(rng.normal(size=(12, width)).astype(np.float32), 0)
block = np.full(8, native.mask_token(model.vocab_ptr), dtype=np.int32)
block[0] = 7
logits = ctx.decode(block, 12, "all").copy()
rows = conf.rows(8)
print(json.dumps({"argmax": logits.argmax(axis=1).tolist(), "logits": logits[:, :64].tolist(),
                  "conf": rows[:, 0].tolist(), "column1": rows[:, 1].tolist(), "column2": rows[:, 2].tolist()}))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_PATCHED_LIB"), reason="needs a patched llama.cpp build")
def test_the_padded_markov_product_drafts_the_same_block(tmp_path):
    from tests.tools import synth

    tok = synth.synthetic_tokenizer(4000)
    target = synth.TargetInfo(tmp_path / "t.gguf", "llama", synth.TINY.n_embd, synth.TINY.n_layer, tok, None)
    drafter = synth.build_dflash(tmp_path / "dspark.gguf", target, synth.DSPARK_TINY, 3)
    seen = {}
    for pad, tokens in (("0", "0"), ("1", "1")):
        env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_PATCHED_LIB"], DSPARK_MARKOV_PAD=pad,
                   DSPARK_GRAPH_TOKENS=tokens)
        r = subprocess.run([sys.executable, "-c", BLOCK, str(drafter)], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        seen[pad] = json.loads(r.stdout.strip().splitlines()[-1])
    stock, padded = seen["0"], seen["1"]
    # the chained drafts in the confidence rows: the argmaxes of the logits, marked; the stock output repeats the
    # confidence over the row
    assert [int(x) for x in padded["column1"]] == padded["argmax"]
    assert padded["column2"] == [patch_module.GRAPH_TOKENS_MARK] * 8
    assert stock["column1"] == stock["conf"] == stock["column2"]
    assert padded["argmax"] == stock["argmax"]
    assert max(abs(a - b) for ra, rb in zip(stock["logits"], padded["logits"]) for a, b in zip(ra, rb)) < 1e-3
    assert max(abs(a - b) for a, b in zip(stock["conf"], padded["conf"])) < 1e-4


SESSION = """
import json, os, sys
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.events import collect
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.session import GenerateParams
target, drafter = sys.argv[1], sys.argv[2]
options = PairOptions(threads=1, n_ctx=512, profile=False, schedule=ScheduleConfig(fixed_draft=6),
                      n_gpu_layers=int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0")))
greedy = GenerateParams(48, SamplingParams(temperature=0.0))
with Pair(target, drafter, options) as pair:
    done, _ = collect(pair.session().generate([1, 640], greedy))
    plain, _ = collect(pair.plain_session().generate([1, 640], greedy))
    print(json.dumps({"tokens": done.tokens, "plain": plain.tokens, "drafted": done.stats.drafted,
                      "accepted": done.stats.accepted, "graph_tokens": pair.drafter.graph_tokens}))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_PATCHED_LIB"), reason="needs a patched llama.cpp build")
def test_the_engine_takes_the_drafts_the_patched_graph_chained(tmp_path):
    """With a patched llama.cpp the DSpark drafter reads its drafts from the confidence rows instead of taking
    argmaxes over the vocabulary on the host: the same drafts (the same accepted count), the target's own output."""
    from dspark_chat.engine import dflash_bindings as native
    from tests.tools import synth

    assert native.GRAPH_TOKENS_MARK == patch_module.GRAPH_TOKENS_MARK
    pair = synth.build_chain_pair(tmp_path / "chain", 0.7, tokenizer=synth.synthetic_tokenizer(4000))
    seen = {}
    for tokens in ("1", "0"):
        env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_PATCHED_LIB"], DSPARK_GRAPH_TOKENS=tokens)
        r = subprocess.run([sys.executable, "-c", SESSION, str(pair.target), str(pair.dspark_drafter)],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        seen[tokens] = json.loads(r.stdout.strip().splitlines()[-1])
    graph, host = seen["1"], seen["0"]
    assert graph["graph_tokens"] > 0 and host["graph_tokens"] == 0
    assert graph["tokens"] == graph["plain"] == host["tokens"]
    assert graph["drafted"] == host["drafted"] > 0 and graph["accepted"] == host["accepted"] > 0
