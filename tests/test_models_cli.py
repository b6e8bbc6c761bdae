"""`list`, `pull`, `rm` and `ask` model selection through the real CLI: exit codes and one-line errors checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .shared_costs import cost_cache, new_home  # noqa: F401 (a fixture)
from .synthetic_gguf import words, write_gguf

EXIT_MODEL_LOAD = 3
EXIT_INCOMPATIBLE = 4


@pytest.fixture
def home(tmp_path, cost_cache) -> Path:
    return new_home(tmp_path, cost_cache)


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSPARK_CHAT_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf")}
    return subprocess.run([sys.executable, "-m", "dspark_chat.app.cli", *argv], env=env, capture_output=True,
                          text=True, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess, code: int | None = None, progress: bool = False) -> str:
    """The error line; with `progress`, progress messages may come before it (never another error)."""
    assert proc.returncode != 0, proc.stdout
    if code is not None:
        assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    if progress:
        assert all(not line.startswith("dspark-chat: error") for line in lines[:-1]), proc.stderr
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("dspark-chat: error: "), proc.stderr
    return lines[0]


def test_list_json_on_a_fresh_install(home):
    proc = cli(home, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"smollm2-135m", "smollm2-135m-f16", "gemma3-270m", "gemma3-270m-f16"} <= set(rows)
    smollm = rows["smollm2-135m"]
    assert smollm["source"] == "embedded" and smollm["present"] and smollm["arch"] == "llama"
    assert smollm["quant"] == "Q4_1" and Path(smollm["path"]).is_file() and smollm["size"] > 90e6
    assert smollm["drafters"] == ["ngram"] and smollm["chat"]
    f16 = rows["gemma3-270m-f16"]
    assert f16["source"] == "derived" and not f16["present"] and f16["path"] is None
    assert f16["drafters"] == ["gemma3-270m", "ngram"]
    for row in rows.values():
        assert {"name", "path", "size", "arch", "quant", "source", "drafters"} <= set(row)


def test_list_all_shows_the_catalog(home):
    rows = {r["name"]: r for r in json.loads(cli(home, "list", "--json", "--all").stdout)}
    assert rows["qwen3-8b"]["source"] == "catalog" and rows["qwen3-8b"]["drafters"][0] == "qwen3-0.6b"
    table = cli(home, "list", "--all").stdout
    assert "qwen3-8b" in table and "(pull to download)" in table


def test_pull_of_a_builtin_needs_no_network_and_rm_frees_it(home):
    proc = cli(home, "pull", "smollm2-135m-f16")
    assert proc.returncode == 0, proc.stderr
    derived = Path(proc.stdout.strip())
    assert derived.is_file() and "deriving smollm2-135m-instruct-f16.gguf" in proc.stderr
    rows = {r["name"]: r for r in json.loads(cli(home, "list", "--json").stdout)}
    assert rows["smollm2-135m-f16"]["present"] and rows["smollm2-135m-f16"]["drafters"] == ["smollm2-135m", "ngram"]
    again = cli(home, "pull", "smollm2-135m-f16")
    assert again.returncode == 0 and "deriving" not in again.stderr  # once
    removed = cli(home, "rm", "smollm2-135m-f16")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"removed {derived}" and not derived.exists()


def test_rm_refuses_what_it_does_not_own(home):
    assert "part of the installed package" in one_error_line(cli(home, "rm", "smollm2-135m"))
    assert "no model named 'qwen3-8bb' here (did you mean qwen3-8b?)" in one_error_line(cli(home, "rm", "qwen3-8bb"))


def test_pull_unknown_name(home):
    line = one_error_line(cli(home, "pull", "gemma3-4bb"))
    assert "no model named 'gemma3-4bb' in the catalog (did you mean gemma3-4b?)" in line


def test_pull_offline(home):
    line = one_error_line(cli(home, "pull", "qwen3-0.6b"))
    assert "Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf is not downloaded and HF_HUB_OFFLINE is set" in line


def test_gemma_target_with_smollm_drafter_is_refused(home, gemma_q4, smollm_q4):
    line = one_error_line(cli(home, "ask", "hi", "--target", str(gemma_q4), "--drafter", str(smollm_q4)),
                          EXIT_INCOMPATIBLE)
    assert "their token ids mean different things" in line
    # names work like paths
    line = one_error_line(cli(home, "ask", "hi", "--target", "gemma3-270m", "--drafter", "smollm2"),
                          EXIT_INCOMPATIBLE, progress=True)  # the first use assembles Gemma: one message
    assert "SentencePiece" in line


def test_missing_target(home, tmp_path):
    line = one_error_line(cli(home, "ask", "hi", "--target", str(tmp_path / "nope.gguf")), EXIT_MODEL_LOAD)
    assert "model file not found" in line


def test_unknown_model_name(home):
    line = one_error_line(cli(home, "ask", "hi", "--target", "qwen3-8b"), EXIT_MODEL_LOAD)
    assert "qwen3-8b is not downloaded yet: run `dspark-chat pull qwen3-8b`" in line


def test_missing_drafter(home, smollm_q4, tmp_path):
    line = one_error_line(cli(home, "ask", "hi", "--target", str(smollm_q4), "--drafter", str(tmp_path / "d.gguf")),
                          EXIT_MODEL_LOAD)
    assert "model file not found" in line


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-gguf", "empty"])
def test_corrupt_target_or_drafter(home, smollm_q4, tmp_path, damage):
    bad = tmp_path / f"{damage}.gguf"
    if damage == "garbage":
        bad.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    elif damage == "truncated":
        with smollm_q4.open("rb") as f:
            bad.write_bytes(f.read(smollm_q4.stat().st_size // 3))
    elif damage == "not-gguf":
        bad.write_text("<html>Not Found</html>")
    else:
        bad.write_bytes(b"")
    for argv in (["--target", str(bad)], ["--target", str(smollm_q4), "--drafter", str(bad)]):
        line = one_error_line(cli(home, "ask", "hi", *argv), EXIT_MODEL_LOAD)
        assert bad.name in line


def test_a_gguf_llama_cpp_cannot_load(home, tmp_path):
    # a well-formed header with no usable weights: metadata passes, the engine refuses in one line
    fake = write_gguf(tmp_path / "hollow.gguf", tokens=words(32))
    line = one_error_line(cli(home, "ask", "hi", "--target", str(fake)), EXIT_MODEL_LOAD, progress=True)
    assert "hollow.gguf" in line


def test_a_named_model_drafter_decodes(home, smollm_f16):
    proc = cli(home, "ask", "--raw", "The capital of France is", "--target", str(smollm_f16), "--drafter",
               "smollm2", "--temperature", "0", "--max-tokens", "8", "--ctx-size", "512", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stats"]["mode"] == "model"


def test_auto_explains_a_drafter_too_close_in_size(gemma_f16):
    # the Q4_K_M fits the F16 but is 47% of its size: auto takes prompt lookup and says why
    from dspark_chat.models import embedded
    from dspark_chat.models.selection import select_pair

    embedded.gemma_q4_path()
    chosen = select_pair(str(gemma_f16), "auto")
    assert chosen.drafter == "ngram"
    assert chosen.note == ("drafter auto: gemma-3-270m-q4_k_m.gguf fits gemma-3-270m-f16.gguf but is 47% of its "
                           "size, too close to pay: n-gram lookup")
    assert select_pair(str(gemma_f16), None).drafter == "ngram"  # auto is the default for a chosen target


def test_drafter_auto_on_the_default_target_is_ngram(home):
    proc = cli(home, "ask", "Say yes.", "--drafter", "auto", "--temperature", "0", "--max-tokens", "4",
               "--ctx-size", "512", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stats"]["mode"] == "ngram"  # no model shares SmolLM2's vocabulary here


def test_the_default_pair_chats_offline(home):
    proc = cli(home, "ask", "Say yes.", "--temperature", "0", "--max-tokens", "4", "--ctx-size", "512", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["stats"]["mode"] == "ngram" and len(out["tokens"]) >= 1


def test_a_local_file_in_the_models_folder_is_listed_by_name(home, smollm_q4):
    folder = home / "data" / "models"
    folder.mkdir(parents=True)
    shutil.copy(smollm_q4, folder / "my-smollm.gguf")
    rows = {r["name"]: r for r in json.loads(cli(home, "list", "--json").stdout)}
    assert rows["my-smollm"]["source"] == "local"
    assert rows["my-smollm"]["drafters"] == ["ngram"]  # the same file size as the shipped one: not smaller
    assert "smollm2-135m" not in rows["smollm2-135m"]["drafters"]
    removed = cli(home, "rm", "my-smollm")
    assert removed.returncode == 0 and not (folder / "my-smollm.gguf").exists()
