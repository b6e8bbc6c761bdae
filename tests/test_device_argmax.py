"""The target's greedy tokens taken on the device (engine/device_argmax.py) are the host's argmaxes, for every
drafter kind; sampling generations still read the logits; packaging/patch_rows_argmax.py keeps its contract.

DSPARK_DEVICE_ARGMAX=1 turns the device path on wherever llama.cpp can take it: stock llama.cpp builds one argmax
op per row, the patched build one for all rows (the one-op test below needs DSPARK_TEST_ROWS_LIB, the folder of a
patched libllama, and runs on the GPU with DSPARK_TEST_GPU_LAYERS; checked on 2026-12-06 with a CPU build of the
patched 0.3.36 sdist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import llama_cpp
import pytest

from dspark_chat.engine import device_argmax
from dspark_chat.engine.chat import chat_tokens
from dspark_chat.engine.events import collect
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams

from .clitools import check_source_patch, packaging_module
from .tools import synth
from .test_dspark import smollm_dspark, smollm_info, synth_dir  # noqa: F401  (fixtures)

GREEDY = SamplingParams(temperature=0.0)
SAMPLED = SamplingParams(temperature=0.8, top_k=40, seed=7)


def generations(target, drafter, prompts, forced):
    """Greedy tokens of the plain and the speculative session for each prompt, then one sampled generation."""
    options = PairOptions(n_ctx=1024, profile=False, schedule=ScheduleConfig(fixed_draft=forced))
    with Pair(target, drafter, options) as pair:
        rows = pair.target_ctx.rows_argmax
        out = {"device": rows is not None, "greedy": [], "verified": 0}
        for prompt in prompts:
            for session in (pair.plain_session(), pair.session()):
                done, _ = collect(session.generate(prompt, GenerateParams(24, GREEDY)))
                out["greedy"].append(done.tokens)
                out["verified"] += done.stats.verified
        out["on_while_greedy"] = rows is not None and rows.on
        done, _ = collect(pair.session().generate(prompts[0], GenerateParams(24, SAMPLED)))
        out["sampled"] = done.tokens
        out["on_while_sampling"] = rows is not None and rows.on
        return out


@pytest.fixture(scope="module")
def prompts(smollm_f16, chat_prompts):
    with Pair(smollm_f16, None, PairOptions(n_ctx=1024, profile=False)) as pair:
        return [chat_tokens(pair.target_model, m) for m in chat_prompts[:5]]


@pytest.mark.parametrize("kind", ["model", "ngram", "dspark"])
def test_device_argmax_gives_the_host_argmax_tokens(kind, smollm_f16, smollm_q4, smollm_dspark, prompts,  # noqa: F811
                                                    monkeypatch):
    drafter = {"model": smollm_q4, "ngram": "ngram", "dspark": smollm_dspark}[kind]
    monkeypatch.setenv(device_argmax.ENV, "0")
    host = generations(smollm_f16, drafter, prompts, 4)
    monkeypatch.setenv(device_argmax.ENV, "1")
    device = generations(smollm_f16, drafter, prompts, 4)
    assert not host["device"] and device["device"] and device["on_while_greedy"]
    assert device["verified"] > 0, "forced drafting must exercise verification"
    assert device["greedy"] == host["greedy"]
    assert not device["on_while_sampling"], "sampling reads the logits: the device argmax is off for it"
    assert device["sampled"] == host["sampled"]


def test_a_prompt_goes_in_whole_batches_with_the_device_argmax_on(smollm_f16, smollm_dspark, prompts,  # noqa: F811
                                                                    monkeypatch):
    """A prompt's batches have no output row, features copied or not, so with the device argmax on they are as wide
    as with it off (batches of 64 made a DSpark pair's 4096-token prefill 1.5x as long on an H100, run W); the
    tokens are the host path's."""
    prompt = (prompts[0] * 30)[:700]
    out = {}
    for where in ("0", "1"):
        monkeypatch.setenv(device_argmax.ENV, where)
        options = PairOptions(n_ctx=1024, profile=False, schedule=ScheduleConfig(fixed_draft=4))
        with Pair(smollm_f16, smollm_dspark, options) as pair:
            ctx, seen = pair.target_ctx, []
            decode = ctx.decode
            ctx.decode = lambda tokens, pos0, outputs="last": seen.append(
                (len(tokens), outputs, ctx.rows_argmax is not None and ctx.rows_argmax.on,
                 pair.drafter.capturing)) or decode(tokens, pos0, outputs)
            done, _ = collect(pair.session().generate(prompt, GenerateParams(16, GREEDY)))
            out[where] = done.tokens, seen[:2]
    assert out["0"][0] == out["1"][0]
    assert out["1"][1] == [(512, "none", True, True), (len(prompt) - 1 - 512, "none", True, True)]
    assert [size for size, *_ in out["0"][1]] == [512, len(prompt) - 1 - 512]


def test_device_argmax_is_on_by_default_only_for_a_patched_gpu_build(monkeypatch):
    """Run U: with the patch's one op and no logits copied, the device argmax cuts the Python of a round on an H100
    at no cost to the verify; stock llama.cpp's op per row made verifies dearer (runs Q, T) and a CPU build gains
    nothing. The environment overrides both ways."""
    monkeypatch.delenv(device_argmax.ENV, raising=False)
    assert device_argmax.wanted(-1, gpu=True, has_patch=True) is True
    assert device_argmax.wanted(99, gpu=True, has_patch=True) is True
    assert device_argmax.wanted(0, gpu=True, has_patch=True) is False  # every layer on the CPU
    assert device_argmax.wanted(-1, gpu=True, has_patch=False) is False  # stock llama.cpp
    assert device_argmax.wanted(-1, gpu=False, has_patch=True) is False  # a CPU build
    # this machine's own library: a CPU build here, so off
    assert device_argmax.wanted(-1) is (bool(llama_cpp.llama_supports_gpu_offload()) and device_argmax.patched())
    monkeypatch.setenv(device_argmax.ENV, "0")
    assert device_argmax.wanted(-1, gpu=True, has_patch=True) is False
    monkeypatch.setenv(device_argmax.ENV, "1")
    assert device_argmax.wanted(-1, gpu=False, has_patch=False) is True and device_argmax.wanted(0) is True


def test_rows_argmax_patch_applies_once_and_refuses_unknown_sources(tmp_path):
    module = packaging_module("patch_rows_argmax")
    body = (module.ORIGINAL_FUNCTION + "    // ...\n" + module.ORIGINAL_LOOP + "\n        // ...\n"
            + module.ORIGINAL_APPLY + "}\n")
    text = check_source_patch("patch_rows_argmax", tmp_path, body,
                              "void llm_graph_context::build_sampling() const { /* changed upstream */ }\n")
    assert "ggml_argmax(ctx0, logits_t)" in text and text.count("backend_apply(sampler, ctx0, gf, &data)") == 1
    assert 'extern "C" LLAMA_API int dspark_rows_argmax(void)' in text


ONE_OP = """
import json, os, sys
import llama_cpp as ll
import numpy as np
from dspark_chat.engine import device_argmax, llama
model = llama.Model(sys.argv[1], n_gpu_layers=int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0")))
host, dev = llama.Context(model, 256, 32, 1), llama.Context(model, 256, 32, 1, rows_argmax=True)
dev.rows_argmax.set(True)
rng = np.random.default_rng(0)
pos, same, rows, copied = 0, True, 0, 0
for n in (1, 5, 1, 9, 3, 17, 1):
    tokens = rng.integers(10, 3000, size=n).tolist()
    expected = host.decode(tokens, pos, "all").argmax(axis=1).tolist()
    got = dev.decode_argmax(tokens, pos, "all").tolist()
    # the rows whose logits llama.cpp copied to the host beside their tokens
    copied += sum(ll.llama_get_sampled_logits_count_ith(dev._ptr, i) > 0 for i in range(n))
    same, rows, pos = same and got == expected, rows + n, pos + n
print(json.dumps({"patched": device_argmax.patched(), "bulk": dev.rows_argmax._bulk is not None, "same": same,
                  "rows": rows, "logits_copied": int(copied)}))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_ROWS_LIB"), reason="needs a patched llama.cpp build")
@pytest.mark.parametrize("one_op,keep_logits", [("1", "0"), ("1", "1"), ("0", "0")])
def test_one_argmax_for_all_rows_gives_each_rows_argmax(one_op, keep_logits, smollm_f16):
    """The patched op gives each row's argmax and copies no row's logits (DSPARK_ROWS_LOGITS=1 and the stock path,
    DSPARK_ONE_ARGMAX=0, copy every row's); the rows' tokens are read in one call (dspark_sampled_tokens)."""
    env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_ROWS_LIB"], DSPARK_ONE_ARGMAX=one_op,
               DSPARK_ROWS_LOGITS=keep_logits)
    r = subprocess.run([sys.executable, "-c", ONE_OP, str(smollm_f16)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    copied = 0 if (one_op, keep_logits) == ("1", "0") else 37
    assert got == {"patched": True, "bulk": True, "same": True, "rows": 37, "logits_copied": copied}


def test_the_device_argmax_survives_switching_back_and_forth(smollm_f16, prompts, monkeypatch):
    """Greedy, sampled, greedy again, and a caller reading logits in between: llama.cpp initializes a sampler
    chain on a context once only, so each switch on gets a chain of its own."""
    monkeypatch.setenv(device_argmax.ENV, "1")
    with Pair(smollm_f16, "ngram", PairOptions(n_ctx=1024, profile=False)) as pair:
        session = pair.session()
        runs = []
        for sampling in (GREEDY, SAMPLED, GREEDY):
            done, _ = collect(session.generate(prompts[1], GenerateParams(12, sampling)))
            runs.append(done.tokens)
            assert pair.target_ctx.rows_argmax.on is sampling.greedy
        session.reset()  # the KV cache to ourselves for a moment
        logits = pair.target_ctx.decode(prompts[1][:4], 0, "all")
        assert not pair.target_ctx.rows_argmax.on and logits.shape[0] == 4
        session.reset()
        done, _ = collect(session.generate(prompts[1], GenerateParams(12, GREEDY)))
        assert runs[0] == runs[2] == done.tokens and pair.target_ctx.rows_argmax.on


PEAKS = """
import json, os, sys
import llama_cpp as ll
import numpy as np
from dspark_chat.engine import device_argmax, llama
model = llama.Model(sys.argv[1], n_gpu_layers=int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0")))
host = llama.Context(model, 1024, 512, 1)  # batches split as dev splits them: logits differ by shape on a GPU
dev = llama.Context(model, 1024, 512, 1, rows_argmax=True, row_probs=True)  # the pair's batch size
dev.rows_argmax.set(True)
rng = np.random.default_rng(1)
pos, same, worst, copied, probs = 0, True, 0.0, 0, 0
for n in (1, 7, 1, 1, 40, 1):
    tokens = rng.integers(10, 3000, size=n).tolist()
    row = host.decode(tokens, pos, "last")[0].astype(np.float64)
    x, p = dev.decode_peak(tokens, pos)
    exact = 1.0 / np.exp(row - row.max()).sum()
    same = same and x == int(row.argmax())
    worst = max(worst, abs(p - exact) / exact)
    last = n - 1
    copied += ll.llama_get_sampled_logits_count_ith(dev._ptr, last) > 0
    probs += ll.llama_get_sampled_probs_count_ith(dev._ptr, last)
    pos += n
print(json.dumps({"same": bool(same), "close": bool(worst < 1e-4), "worst": float(worst), "logits_copied": int(copied), "probs": int(probs)}))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_ROWS_LIB"), reason="needs a patched llama.cpp build")
@pytest.mark.parametrize("model", ["smollm", "tiny"])
def test_a_drafter_step_takes_its_token_and_probability_on_the_device(model, smollm_f16, tmp_path):
    """A marked chain's row gives its argmax and softmax(row)[argmax], one float each: the model drafter's
    token and confidence without its logits on the host (prompts split into batches included). A model of few
    tensors has a small graph budget, which a context reserving one such row per batch token overflowed
    (GGML_ASSERT(obj_new) with the 1B drafter in run V): a drafter's context reserves one row."""
    path = smollm_f16
    if model == "tiny":
        path = synth.build_llama(tmp_path / "tiny.gguf", synth.TINY, synth.synthetic_tokenizer(4000))
    env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_ROWS_LIB"])
    env.pop("DSPARK_ROWS_LOGITS", None)
    r = subprocess.run([sys.executable, "-c", PEAKS, str(path)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    worst = got.pop("worst")
    assert got == {"same": True, "close": True, "logits_copied": 0, "probs": 6}, worst


DRAFTER_PEAKS = """
import json, os, sys
from dspark_chat.engine import device_argmax
from dspark_chat.engine.events import collect
from dspark_chat.engine.pair import Pair, PairOptions
from dspark_chat.engine.sampling import SamplingParams
from dspark_chat.engine.scheduler import ScheduleConfig
from dspark_chat.engine.session import GenerateParams
target, drafter, prompts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
layers = int(os.environ.get("DSPARK_TEST_GPU_LAYERS", "0"))
out = {}
for forced in (4, 2):  # drafting every round: blocks of 4 step by step, of 2 pipelined where drafted on the host
    for where in ("0", "1"):
        os.environ[device_argmax.ENV] = where
        options = PairOptions(n_ctx=1024, profile=False, n_gpu_layers=layers, pipelined_drafting=forced == 2,
                              schedule=ScheduleConfig(fixed_draft=forced))
        with Pair(target, drafter, options) as pair:
            rows = pair.drafter.ctx.rows_argmax
            run = {"on_device": rows is not None, "greedy": [], "drafted": 0, "accepted": 0}
            for prompt in prompts:
                plain, _ = collect(pair.plain_session().generate(prompt, GenerateParams(24, SamplingParams(0.0))))
                done, _ = collect(pair.session().generate(prompt, GenerateParams(24, SamplingParams(0.0))))
                run["greedy"].append([plain.tokens, done.tokens])
                run["drafted"] += done.stats.drafted
                run["accepted"] += done.stats.accepted
            run["on_while_greedy"] = rows is not None and rows.on
            run["launched_unused"] = pair.drafter.launched_unused
            sampled = SamplingParams(temperature=0.8, top_k=40, seed=7)
            run["sampled"] = collect(pair.session().generate(prompts[0], GenerateParams(24, sampled)))[0].tokens
            run["on_while_sampling"] = rows is not None and rows.on
        out[f"{forced}-{where}"] = run
print(json.dumps(out))
"""


@pytest.mark.skipif(not os.environ.get("DSPARK_TEST_ROWS_LIB"), reason="needs a patched llama.cpp build")
def test_the_model_drafter_on_the_device_stays_lossless(smollm_f16, smollm_q4, prompts):
    """With its steps' tokens and confidences from the device the model drafter's sessions still give plain
    decoding's tokens and draft what the host's path drafts (step by step or pipelined there); sampling reads
    the logits as before."""
    env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.environ["DSPARK_TEST_ROWS_LIB"])
    env.pop("DSPARK_ONE_ARGMAX", None)
    r = subprocess.run([sys.executable, "-c", DRAFTER_PEAKS, str(smollm_f16), str(smollm_q4), json.dumps(prompts)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for forced in ("4", "2"):
        host, device = out[f"{forced}-0"], out[f"{forced}-1"]
        assert not host["on_device"] and device["on_device"] and device["on_while_greedy"]
        assert all(plain == spec for plain, spec in device["greedy"])
        assert device["greedy"] == host["greedy"]
        assert not device["on_while_sampling"] and device["sampled"] == host["sampled"]
        assert device["drafted"] > 0 and device["accepted"] > 0
        assert device["drafted"] == host["drafted"], "forced drafting drafts alike on either side"
        assert device["launched_unused"] == 0, "on the device the gate decides before a step is launched"
