"""The GPU benchmark (benchmarks/gpu_bench.py) end to end on tiny shapes on the CPU: the same code that runs on
the GPU builds chain files, measures every row and writes the JSON fields docs/benchmarks.md relies on."""

from __future__ import annotations

import json
import math

from benchmarks import (gpu_bench, gpu_block_parts, gpu_drafter_costs, gpu_files, gpu_host_profile,
                        gpu_host_segments, gpu_overlap, gpu_shape_change, gpu_switch_cost, gpu_ttft)
from dspark_chat.engine import session as session_module
from dspark_chat.engine.textstream import TextStream

ROW_FIELDS = ("alpha", "drafter_kind", "plain_tps", "dspark_tps", "llamacpp_tps", "acceptance_rate",
              "mean_accepted_len", "python_ms_per_round", "scheduler_verified_k", "identical_to_plain")


def test_tiny_run_writes_every_row(tmp_path):
    files, out = tmp_path / "files", tmp_path / "out"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.9"])
    gpu_bench.main(["all", "--folder", str(files), "--shape", "tiny", "--alphas", "0.9", "--quant", "",
                    "--out", str(out), "--n-gpu-layers", "0", "--threads", "1", "--max-tokens", "24",
                    "--reps", "1", "--curve-max", "2"])
    result = json.loads((out / "results.json").read_text())
    rows = {r["drafter_kind"]: r for r in result["rows"]}
    assert set(rows) == {"model", "dspark", "ngram"}
    for row in rows.values():
        assert all(k in row for k in ROW_FIELDS), row
        assert row["identical_to_plain"], row  # lossless, whatever the scheduler chose
        assert row["plain_tps"] > 0 and row["dspark_tps"] > 0
        # one character per round of each timed generation, its verified drafts read back from the trace
        trace = row["round_traces"][-1]
        assert len(trace) == row["rounds"]
        assert sum(int(c) for c in trace if c.isdigit()) + 10 * trace.count("+") <= row["verified"]
    assert result["ngram_prompt_round_trip"]  # the repeated chain walk means the same tokens as text
    assert list(result["verify_curve"]["ms"]) == ["1", "2", "3"]  # n = 1 .. curve-max + 1
    assert "| dspark |" in (out / "summary.md").read_text()


def test_pipelined_ab_measures_each_model_row_both_ways(tmp_path):
    files, out = tmp_path / "files", tmp_path / "out"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.9"])
    gpu_bench.main(["all", "--folder", str(files), "--shape", "tiny", "--alphas", "0.9", "--quant", "",
                    "--out", str(out), "--n-gpu-layers", "0", "--threads", "1", "--max-tokens", "24",
                    "--reps", "1", "--no-curve", "--kinds", "model", "--pipelined", "ab"])
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["pipelined"] for r in rows] == [False, True]
    for row in rows:
        assert row["identical_to_plain"] and 0.0 <= row["host_share"] < 1.0, row
        # an estimate from two runs (noise can make it negative), never more than the whole round
        assert math.isfinite(row["host_unhidden_ms_per_round"]) and row["host_unhidden_share"] < 1.0, row


def test_overlap_probe_runs_on_tiny_files(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    manifest = json.loads((files / "manifest.json").read_text())
    res = gpu_overlap.measure(manifest["target"], manifest["model_drafters"]["a080"], 0, ns=(1, 3), js=(1, 2))
    assert len(res["rows"]) == 4
    for row in res["rows"]:
        # on a CPU nothing overlaps (llama_decode computes before it returns): both orders cost about the same
        assert row["overlapped_ms"] > 0 and row["serial_ms"] > 0


def test_shape_change_probe_runs_on_tiny_files(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.6"])
    out = tmp_path / "shape.json"
    assert gpu_shape_change.main(["--folder", str(files), "--n-gpu-layers", "0", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"same_n", "varying_n", "after_drafter_step", "after_3_drafter_steps"}
    assert sorted(res["same_n"]) == ["1", "2", "3", "4", "5", "6"] and all(t > 0 for t in res["varying_n"].values())


def test_drafter_cost_probe_runs_on_tiny_files(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    out = tmp_path / "drafter_costs.json"
    assert gpu_drafter_costs.main(["--folder", str(files), "--n-gpu-layers", "0", "--no-graphs",
                                   "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["cuda_graphs"] and not res["without_cuda_graphs"]["cuda_graphs"]
    assert set(res["model_drafter"]) == {"catch-up 2 then steps", "steps only"}
    dspark = res["dspark"]
    assert dspark["rounds_fixed"]["round_ms"] > 0 and dspark["rounds_varying"]["round_ms"] > 0
    assert set(dspark["block_repeated"]) == {"2", "5", "9", "13", "16"}


def test_llamacpp_statistics_are_parsed():
    # the lines llama-speculative-simple prints at the end of a run (examples/speculative-simple)
    log = ("encoded  201 tokens in    0.050 seconds, speed: 4020.000 t/s\n"
           "decoded  257 tokens in    0.700 seconds, speed:  367.143 t/s\n\n"
           "n_draft   = 16\nn_predict = 257\nn_drafted = 300\nn_accept  = 240\naccept    = 80.000%\n")
    m = gpu_bench.SPEED.search(log)
    assert (int(m.group(1)), float(m.group(3))) == (257, 367.143)
    counts = {k: float(rx.search(log).group(1)) for k, rx in gpu_bench.COUNTS.items()}
    assert counts == {"n_draft": 16, "n_predict": 257, "n_drafted": 300, "n_accept": 240}


def test_host_profile_probe_runs_on_tiny_files(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    out = tmp_path / "host.json"
    assert gpu_host_profile.main(["--folder", str(files), "--n-gpu-layers", "0", "--kind", "model",
                                  "--tokens", "16", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["mode"] == "model" and res["rounds"] > 0 and res["python_ms_per_round"] > 0
    assert res["top_own_time"] and all(r["own_ms_per_round"] >= 0 for r in res["top_own_time"])


def test_host_segments_probe_splits_a_dspark_round_and_unwraps(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    verify, push = session_module.verify_greedy, TextStream.push
    out = tmp_path / "segments.json"
    assert gpu_host_segments.main(["--folder", str(files), "--n-gpu-layers", "0", "--kind", "dspark",
                                   "--tokens", "16", "--reps", "2", "--fixed-draft", "3", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["mode"] == "dspark" and res["rounds"] > 0 and len(res["python_ms_per_round_runs"]) == 2
    steps = res["steps_ms_per_round"]
    assert {"drafter draft", "verify (argmax)", "scheduler observe"} <= set(steps)
    assert all(ms >= 0 for ms in steps.values())
    # the wrappers are gone again: the engine's own functions, not the probe's
    assert session_module.verify_greedy is verify and TextStream.push is push


def test_host_segments_probe_splits_an_ngram_round_on_its_repetitive_prompt(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    out = tmp_path / "segments.json"
    assert gpu_host_segments.main(["--folder", str(files), "--n-gpu-layers", "0", "--kind", "ngram",
                                   "--tokens", "32", "--reps", "2", "--fixed-draft", "8", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["mode"] == "ngram" and res["kind"] == "ngram" and res["rounds"] > 0
    # the prompt repeats a chain walk, so the lookup finds continuations: the drafter's step was taken
    assert res["steps_ms_per_round"]["drafter draft"] > 0


def test_block_parts_times_each_variant_of_a_tiny_drafter(tmp_path):
    out = tmp_path / "parts.json"
    assert gpu_block_parts.main(["--folder", str(tmp_path / "files"), "--shape", "tiny", "--n-gpu-layers", "0",
                                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["variants"]) == {"dspark", "no-confidence", "rank-16", "dflash"}
    for row in res["variants"].values():
        assert set(row["block_ms"]) == {str(n) for n in gpu_block_parts.SIZES} and min(row["block_ms"].values()) > 0
    # slopes only: which variant costs more is a timing, and timings are the benchmark's to print (this one flaked
    # on a loaded machine)
    assert all(isinstance(row["ms_per_position"], float) for row in res["variants"].values())
    assert len(res["ms_per_position_by_part"]) == 4
    assert gpu_block_parts.main(["--folder", str(tmp_path / "files"), "--shape", "tiny", "--n-gpu-layers", "0",
                                 "--variants", "dspark", "--out", str(out)]) == 0
    one = json.loads(out.read_text())
    assert set(one["variants"]) == {"dspark"} and "ms_per_position_by_part" not in one


def test_probe_trace_times_each_call_of_a_tiny_pair(tmp_path):
    """benchmarks/gpu_probe_trace.py: rounds that drafted or switched the target's feature copy, with every
    llama.cpp call of both contexts timed, and the scheduler's state after each generation."""
    from benchmarks import gpu_probe_trace

    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0"])
    out = tmp_path / "trace.json"
    assert gpu_probe_trace.main(["--folder", str(files), "--alpha", "0", "--runs", "2", "--max-tokens", "40",
                                 "--n-gpu-layers", "0", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["drafter"] == "chain-dspark-a000.gguf" and len(result["runs"]) == 2
    first = result["runs"][0]
    assert first["rounds"] == 40 and set(first["scheduler"]) >= {"probe_wait", "switch_cost_ms", "copy_share"}
    traced = [r for run in result["runs"] for r in run["traced_rounds"]]
    assert all("target.decode" in r["calls_ms"] for r in traced)
    assert all("dspark.draft" in r["calls_ms"] for r in traced if r["drafted"])
    switches = [r for r in traced if "switch.set" in r["calls_ms"]]
    assert all(("switch.to_on" in r["calls_ms"]) != ("switch.to_off" in r["calls_ms"]) for r in switches)



def test_switch_cost_probe_times_the_decodes_around_a_switch(tmp_path):
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0"])
    out = tmp_path / "switch.json"
    assert gpu_switch_cost.main(["--folder", str(files), "--n-gpu-layers", "0", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["median_ms"]) == {"steady_off", "steady_on", "first_after_switch", "second_after_switch"}
    assert res["layers"] and all(t > 0 for t in res["median_ms"].values()) and "switch_extra_ms" in res


def test_ttft_probe_times_each_length_both_sessions(tmp_path, monkeypatch):
    """benchmarks/gpu_ttft.py on tiny files, with the target's argmax on the device and off."""
    files = tmp_path / "files"
    gpu_files.main(["--folder", str(files), "--shape", "tiny", "--alphas", "0.8"])
    manifest = json.loads((files / "manifest.json").read_text())
    assert gpu_ttft.prompt_of([1, 5, 6, 7], 9) == [1, 5, 6, 7, 5, 6, 7, 5, 6]
    for where in ("0", "1"):
        monkeypatch.setenv("DSPARK_DEVICE_ARGMAX", where)
        res = gpu_ttft.measure(manifest["target"], manifest["dspark_drafters"]["a080"], 0, [40, 150], 1,
                               manifest["prompt_ids"])
        assert res["mode"] == "dspark" and res["device_argmax"] is (where == "1")
        assert [(r["prompt_tokens"], r["session"]) for r in res["rows"]] == [
            (40, "plain"), (40, "speculative"), (150, "plain"), (150, "speculative")]
        for row in res["rows"]:
            assert 0 < row["prefill_ms"] <= row["ttft_ms"] and len(row["runs_ms"]) == 1, row
            if row["session"] == "speculative":  # 150 tokens: one target batch, then the first round's
                split = row["prefill_split_ms"]
                assert split["batches"] >= 1 and split["drafter_observe_ms"] > 0
                assert split["drafter_inject_ms"] > 0 and split["target_wait_ms"] >= 0
