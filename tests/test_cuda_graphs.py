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


def test_the_automatic_choice_follows_the_pairs_drafting_history():
    from dspark_chat.engine.calibration import Calibration
    from dspark_chat.engine.graphs_policy import MIN_ROUNDS, automatic_choice

    history = Calibration()
    assert automatic_choice(True, True, history)[0] is True  # no history yet: llama.cpp's default
    for i in range(MIN_ROUNDS):
        history.count_round(drafting=i % 20 != 0)  # drafted in 95% of rounds, like DSpark at alpha 0.8
    on, why = automatic_choice(True, True, history)
    assert on is False and "95%" in why
    assert automatic_choice(False, True, history)[0] is True  # a model drafter's steps need graphs
    assert automatic_choice(True, False, history)[0] is True  # CPU: nothing to switch
    often = Calibration()
    for i in range(MIN_ROUNDS):
        often.count_round(drafting=i % 5 != 0)  # 80%: the plain steps would lose more than the drafting gains
    assert automatic_choice(True, True, often)[0] is True
    rarely = Calibration()
    for i in range(MIN_ROUNDS):
        rarely.count_round(drafting=i % 50 == 0)  # a drafter that only probes (alpha 0)
    assert automatic_choice(True, True, rarely)[0] is True


def test_the_drafting_history_persists_with_the_pair(smollm_q4, tmp_path):
    from dspark_chat.engine.pair import Pair, PairOptions
    from dspark_chat.engine.session import GenerateParams
    from dspark_chat.engine.events import collect
    from dspark_chat.engine.sampling import SamplingParams

    options = PairOptions(n_ctx=512, threads=1, profile=False, cache_dir=tmp_path)
    with Pair(smollm_q4, "ngram", options) as pair:
        prompt = pair.target_model.tokenize("one two three one two three one two three")
        collect(pair.session().generate(prompt, GenerateParams(24, SamplingParams(temperature=0))))
        assert pair.cuda_graphs_reason == ""  # not a native drafter: nothing to say, nothing switched
        pair.save_state()
        rounds = pair.calibration.rounds
    saved = json.loads(next(tmp_path.glob("calibration-*.json")).read_text())
    assert saved["rounds"] == rounds > 0 and 0 <= saved["drafting_rounds"] <= rounds
    with Pair(smollm_q4, "ngram", options) as again:
        assert again.calibration.rounds == rounds and again.calibration.drafting_share == saved[
            "drafting_rounds"] / rounds
