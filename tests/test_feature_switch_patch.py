"""packaging/patch_feature_switch.py: it applies once, refuses sources it was not written for, and a target whose
feature copy is switched the cheap way hands out the same layer inputs as one that copied from the start.

The features test needs a llama.cpp built from a patched sdist: DSPARK_TEST_SWITCH_LIB names the folder holding its
libllama, DSPARK_TEST_GPU_LAYERS puts the target on a GPU (where the fused kernels skip writing tensors no output
flag protects: what the graph rebuild is for). Without the first it is skipped. Checked on 2026-12-06 with a CPU
build of the patched 0.3.36 sdist, both with the cheap switch and with the stock reserve.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .clitools import check_source_patch, packaging_module


def test_feature_switch_patch_applies_once_and_refuses_unknown_sources(tmp_path):
    original = packaging_module("patch_feature_switch").ORIGINAL
    text = check_source_patch("patch_feature_switch", tmp_path, "void f(uint32_t lid, bool enable) {\n" + original,
                              "void llama_context::set_embeddings_layer_inp() { /* changed upstream */ }\n")
    assert "gf_res_prev_active = nullptr" in text and text.count("sched_need_reserve = true") == 1


FEATURES = """
import json, os, sys
import numpy as np
from dspark_chat.engine import dflash_bindings as native
from dspark_chat.engine import llama
model = llama.Model(sys.argv[1], n_gpu_layers=int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0")))
layers = [1, 3]
always, switched = llama.Context(model, 256, 32, 1), llama.Context(model, 256, 32, 1)
for layer in layers:
    native.set_layer_input_output(always.ptr, layer, True)
reads = {c: [native.LayerInputs(c.ptr, layer, model.n_embd, 32) for layer in layers] for c in (always, switched)}
rng = np.random.default_rng(0)
pos, worst, compared = 0, 0.0, 0
# same-size decodes around each switch: the ones a reused graph would serve
plan = ([(16, False)] + [(1, False)] * 6 + [(1, True)] * 3 + [(1, False)] * 4 + [(3, True)] + [(1, True)] * 2
        + [(2, False)] * 3 + [(2, True)] * 2 + [(1, False)] * 2 + [(1, True)])
for n, on in plan:
    for layer in layers:
        native.set_layer_input_output(switched.ptr, layer, on)
    tokens = rng.integers(10, 3000, size=n).tolist()
    always.decode(tokens, pos, "last")
    switched.decode(tokens, pos, "last")
    pos += n
    if on:
        for a, b in zip(reads[always], reads[switched]):
            worst = max(worst, float(np.abs(a.rows(n) - b.rows(n)).max()))
            compared += 1
print(json.dumps({"worst": worst, "compared": compared}))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_SWITCH_LIB"), reason="needs a patched llama.cpp build")
def test_a_cheaply_switched_copy_hands_out_the_same_features(tmp_path):
    from tests.tools import synth

    target = synth.build_llama(tmp_path / "t.gguf", synth.SMALL, synth.synthetic_tokenizer(4000))
    for cheap in ("1", "0"):
        env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_SWITCH_LIB"],
                   DSPARK_CHEAP_FEATURE_SWITCH=cheap)
        r = subprocess.run([sys.executable, "-c", FEATURES, str(target)], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert got["compared"] == 18
        assert got["worst"] < 1e-3, (cheap, got)
