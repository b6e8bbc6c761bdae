"""llama.cpp's CUDA graphs as a per-process choice: set before the first context, refused after, one line each.

On a CPU build the switch changes nothing measurable; what is tested is that the engine sets ggml's switch before
anything can read it, refuses to pretend it changed it later, and that the flag reaches the engine."""

from __future__ import annotations

import json
import subprocess
import sys

from .clitools import run_cli

CHILD = """
import json, os, sys
from dspark_chat.engine import llama
from dspark_chat.engine.errors import DSparkError
from dspark_chat.engine.pair import Pair, PairOptions
seen = {"before": llama.cuda_graphs_enabled()}
pair = Pair(sys.argv[1], None, PairOptions(n_ctx=256, threads=1, profile=False, cuda_graphs=False))
seen["env"] = os.environ.get(llama.CUDA_GRAPHS_OFF_ENV)
seen["after"] = llama.cuda_graphs_enabled()
llama.set_cuda_graphs(False)  # what is already in effect: fine
try:
    llama.set_cuda_graphs(True)
except DSparkError as exc:
    seen["refused"] = str(exc)
pair.close()
print(json.dumps(seen))
"""


def test_graphs_are_switched_before_the_first_context_and_refused_after(smollm_q4):
    r = subprocess.run([sys.executable, "-c", CHILD, str(smollm_q4)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["before"] is True and seen["env"] == "1" and seen["after"] is False
    assert "before the first model is loaded" in seen["refused"] and "\n" not in seen["refused"]


def test_the_flag_reaches_the_engine_and_bad_values_are_one_line(smollm_q4):
    r = run_cli("ask", "Hi", "--target", str(smollm_q4), "--drafter", "none", "--max-tokens", "4",
                "--temperature", "0", "--cuda-graphs", "off", "--json")
    assert r.returncode == 0, r.stderr
    bad = run_cli("ask", "Hi", "--target", str(smollm_q4), "--cuda-graphs", "sometimes")
    assert bad.returncode == 2 and "expected on or off" in bad.stderr and len(bad.error_lines()) == 1
