"""Bad input gets one line on stderr and the documented exit code, never a traceback (docs/cli.md, cli_help.py).

Everything runs the installed console script on real files: real missing paths, truncated and corrupt GGUFs,
a real llama-cpp-python pointed at a library folder that does not exist.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from dspark_chat.app.cli_help import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from dspark_chat.engine.errors import ContextOverflowError, IncompatibleDrafterError, ModelLoadError

from .clitools import ROOT, console_script, interruptible, run_cli

GREEDY = ("--temperature", "0", "--max-tokens", "4")


def assert_one_error_line(r, code: int, *words: str) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    errors = r.error_lines()
    assert len(errors) == 1, r.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def ask_json(*args, **kw):
    """`ask --json`: stderr carries nothing but errors, so 'one line' can be checked exactly."""
    r = run_cli("ask", *args, "--json", **kw)
    if r.returncode != 0:
        assert len(r.stderr_lines) == 1, r.stderr
    return r


@pytest.fixture
def truncated_gguf(tmp_path, smollm_q4):
    path = tmp_path / "truncated.gguf"
    with smollm_q4.open("rb") as f:
        path.write_bytes(f.read(2_000_000))  # a real header, tensors cut off
    return path


def test_missing_model_file(tmp_path):
    r = ask_json("hi", "--target", tmp_path / "nope.gguf", "--drafter", "none")
    assert_one_error_line(r, ModelLoadError.exit_code, "not found", "nope.gguf")


def test_truncated_gguf(truncated_gguf):
    r = ask_json("hi", "--target", truncated_gguf, "--drafter", "none")
    assert_one_error_line(r, ModelLoadError.exit_code, "truncated.gguf")


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a model at all\n" * 100])
def test_corrupt_gguf(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    r = ask_json("hi", "--target", path, "--drafter", "none")
    assert_one_error_line(r, ModelLoadError.exit_code, "bad.gguf")


def test_directory_instead_of_a_model(tmp_path):
    r = ask_json("hi", "--target", tmp_path, "--drafter", "none")
    assert_one_error_line(r, ModelLoadError.exit_code, "directory")


def test_drafter_with_another_vocabulary(smollm_q4, gemma_q4):
    r = ask_json("hi", "--target", smollm_q4, "--drafter", gemma_q4, *GREEDY)
    assert_one_error_line(r, IncompatibleDrafterError.exit_code, "vocabulary")


def test_context_overflow(smollm_q4):
    r = ask_json("word " * 400, "--raw", "--target", smollm_q4, "--drafter", "none", "--ctx-size", "128", *GREEDY)
    assert_one_error_line(r, ContextOverflowError.exit_code, "context")


@pytest.mark.parametrize("flag,value", [
    ("--max-tokens", "abc"), ("--max-tokens", "0"), ("--temperature", "-1"), ("--temperature", "hot"),
    ("--top-p", "0"), ("--top-p", "1.5"), ("--min-p", "1"), ("--top-k", "-3"), ("--ctx-size", "5"),
    ("--threads", "0"), ("--n-gpu-layers", "-2"), ("--draft-max", "-1"), ("--seed", "x"),
])
def test_bad_flag_values_are_usage_errors(flag, value, smollm_q4):
    r = run_cli("ask", "hi", "--target", smollm_q4, flag, value)
    line = assert_one_error_line(r, EXIT_USAGE, flag)
    assert len(r.stderr_lines) == 1  # no usage dump, no loading message: nothing ran
    assert "--help" in line


@pytest.mark.parametrize("args", [("frobnicate",), ("ask", "--no-such-flag"), ("bench",)])
def test_usage_errors(args):
    r = run_cli(*args)
    assert_one_error_line(r, EXIT_USAGE)
    assert len(r.stderr_lines) == 1


def test_empty_prompt_on_stdin(smollm_q4):
    r = run_cli("ask", "--target", smollm_q4, input="   \n")
    assert_one_error_line(r, EXIT_ERROR, "empty")


def test_broken_llama_cpp_install_points_at_doctor(smollm_q4):
    r = run_cli("ask", "hi", "--target", smollm_q4, env={"LLAMA_CPP_LIB_PATH": str(ROOT / "no-such-lib")})
    assert_one_error_line(r, EXIT_ERROR, "doctor")


def test_verbose_after_the_command_shows_llama_cpp_log(smollm_q4):
    # (a damaged file is refused from its metadata before llama.cpp sees it, so a good model shows the log)
    args = ("hi", "--target", smollm_q4, "--drafter", "none", "--max-tokens", "1")
    quiet = ask_json(*args)
    assert "llama_model_load" not in quiet.stderr
    loud = run_cli("ask", *args, "--verbose")
    assert loud.returncode == 0
    assert "llama_model_load" in loud.stderr  # llama.cpp's own words about the file
    before = run_cli("--verbose", "ask", *args)
    assert "llama_model_load" in before.stderr


def test_ctrl_c_exits_130_with_one_line(smollm_q4):
    proc = subprocess.Popen([console_script(), "ask", "--raw", "Once upon a time", "--target", str(smollm_q4),
                             "--drafter", "none", "--max-tokens", "3000", "--temperature", "1", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, **interruptible())
    assert proc.stdout.read(1)  # generation has started
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    lines = [ln for ln in err.decode().splitlines() if ": error: " in ln]
    assert lines == ["dspark-chat: error: interrupted"]
    assert b"Traceback" not in err
