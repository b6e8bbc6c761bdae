"""The command-line contracts of `ask` and `bench` (issue 2): scripts outside the repository read these fields."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "dspark_chat.app.cli"]


def run(*args, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=timeout)


def test_ask_json_contract(smollm_q4):
    r = run("ask", "What is 2+2?", "--target", smollm_q4, "--drafter", "ngram", "--max-tokens", 12,
            "--temperature", 0, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"text", "tokens", "stats"}
    assert isinstance(out["text"], str) and all(isinstance(t, int) for t in out["tokens"])
    stats = out["stats"]
    for key in ("tokens_per_s", "ttft_s", "drafted", "verified", "accepted", "acceptance_rate", "rounds",
                "mean_accepted_len", "mode"):
        assert key in stats, key
    assert stats["mode"] == "ngram"
    assert len(out["tokens"]) <= 12


def test_ask_reads_stdin_raw_and_system(gemma_q4, smollm_q4):
    raw = run("ask", "--raw", "--target", gemma_q4, "--drafter", "none", "--max-tokens", 5, "--temperature", 0,
              "--json", stdin="The capital of France is")
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout)["stats"]["mode"] == "plain"
    chat = run("ask", "--system", "Answer in French.", "--target", smollm_q4, "--drafter", "none",
               "--max-tokens", 8, "--temperature", 0.7, "--top-k", 20, "--top-p", 0.9, "--seed", 3,
               stdin="Hello")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()


def test_same_seed_same_answer(smollm_q4):
    args = ("ask", "Tell me a word.", "--target", smollm_q4, "--drafter", "ngram", "--max-tokens", 10,
            "--temperature", 1.0, "--seed", 42, "--json")
    a, b = run(*args), run(*args)
    assert json.loads(a.stdout)["tokens"] == json.loads(b.stdout)["tokens"]


def test_bench_json_contract(gemma_f16, gemma_q4, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "prompt": "1, 2, 3, 4,"},
        {"id": "b", "messages": [{"role": "user", "content": "Hi"}]},
    ]))
    r = run("bench", "--target", gemma_f16, "--drafter", gemma_q4, "--prompts", prompts, "--max-tokens", 8,
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [row["id"] for row in out["rows"]] == ["a", "b"]
    for row in out["rows"]:
        assert set(row) >= {"id", "plain", "speculative", "identical"}
        assert set(row["plain"]) >= {"tokens", "tokens_per_s"}
        assert set(row["speculative"]) >= {"tokens", "tokens_per_s", "acceptance_rate", "mean_accepted_len"}
    assert set(out["summary"]) >= {"identical", "total", "speedup_median", "plain_tokens_per_s",
                                   "speculative_tokens_per_s", "acceptance_rate"}
    assert out["summary"]["total"] == 2


def test_bench_table_is_readable(smollm_q4, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "x", "prompt": "a b a b a b"}) + "\n")
    r = run("bench", "--target", smollm_q4, "--drafter", "ngram", "--prompts", prompts, "--max-tokens", 8)
    assert r.returncode == 0, r.stderr
    assert "plain tok/s" in r.stdout and "identical 1/1" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (("ask", "hi", "--target", "/nonexistent/model.gguf"), "not found"),
    (("ask", "hi", "--target", "{smollm}", "--temperature", "-1"), "temperature"),
    (("bench", "--target", "{smollm}", "--prompts", "/nonexistent.jsonl"), "prompts file not found"),
    (("ask", "hi", "--target", "{gemma}", "--drafter", "{smollm}"), "vocabulary"),
])
def test_bad_input_is_one_line(args, needle, smollm_q4, gemma_q4):
    args = [a.format(smollm=smollm_q4, gemma=gemma_q4) for a in args]
    r = run(*args)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.startswith("dspark-chat") and "error: " in line]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_truncated_gguf_is_refused_cleanly(smollm_q4, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm_q4.read_bytes()[: 1 << 20])
    r = run("ask", "hi", "--target", broken)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr and "error" in r.stderr
