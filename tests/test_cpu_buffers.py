"""Weights kept on the CPU stay out of llama.cpp's AMX buffer where the CPU backend has AMX: its kernels segfault on
some Xeons (ggml-org/llama.cpp#20824), this project's CI host among them. DSPARK_CPU_EXTRA_BUFTS overrides."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dspark_chat.engine import llama

# a batch of many tokens: the matrix products that crashed in ggml_backend_amx_mul_mat on an AMX host
DECODE_A_BATCH = """
import sys
from dspark_chat.engine import llama
llama.init_backend(verbose=True)
ctx = llama.Context(llama.Model(sys.argv[1]), 256, 64, 2)
logits = ctx.decode(list(range(10, 74)), 0, "all")
print("rows", logits.shape[0])
"""


@pytest.mark.parametrize("chosen", ["0", "1", ""])
def test_the_choice_follows_the_override_then_amx(chosen, monkeypatch):
    monkeypatch.setenv(llama.CPU_EXTRA_BUFTS_ENV, chosen)
    expected = {"0": False, "1": True}.get(chosen, "AMX_INT8 = 1" not in llama.system_info())
    assert llama.cpu_extra_buffer_types() is expected


def test_a_batch_decodes_without_the_amx_buffer(smollm_q4):
    env = {k: v for k, v in os.environ.items() if k != llama.CPU_EXTRA_BUFTS_ENV}
    r = subprocess.run([sys.executable, "-c", DECODE_A_BATCH, str(smollm_q4)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "rows 64" in r.stdout
    assert "AMX model buffer" not in r.stderr  # llama.cpp logs each weight buffer it allocates
