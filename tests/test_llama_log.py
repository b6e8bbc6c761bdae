"""llama.cpp's log stays out of the terminal unless asked for: --verbose lets all of it through, and
DSPARK_LLAMA_ERRORS=1 only its error lines (what a run that llama.cpp aborts needs to say why, e.g. a CUDA fault)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BAD_TOKEN = """
import sys
from dspark_chat.engine import llama
from dspark_chat.engine.errors import DSparkError
ctx = llama.Context(llama.Model(sys.argv[1]), 256, 32, 1)
try:
    ctx.decode([10**7], 0)
except DSparkError as err:
    print("refused:", err)
"""


@pytest.mark.parametrize("errors", ["1", ""])
def test_llama_errors_reach_stderr_only_when_asked_for(errors, smollm_q4):
    env = dict(os.environ, DSPARK_LLAMA_ERRORS=errors)
    r = subprocess.run([sys.executable, "-c", BAD_TOKEN, str(smollm_q4)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and "refused:" in r.stdout, r.stderr[-2000:]
    if errors:
        assert "invalid token" in r.stderr and "load_tensors" not in r.stderr  # errors, not the loader's info
    else:
        assert "invalid token" not in r.stderr
