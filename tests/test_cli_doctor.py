"""`dspark-chat doctor` on the real install: versions, backend, paths, the pair, the native DSpark symbols."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from dspark_chat.engine import llama as engine_llama

from .clitools import ROOT, run_cli

CHECKS = {"python", "llama-cpp-python", "backend", "threads", "paths", "config", "default pair", "gpu offload",
          "native DSpark API", "greedy tokens"}


def doctor_json(*args, env=None) -> tuple[int, dict]:
    r = run_cli("doctor", "--json", *args, env=env)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_json_fields(smollm_q4):
    code, d = doctor_json("--target", smollm_q4, "--drafter", "ngram")
    assert code == 0 and d["ok"] is True, d["checks"]
    assert d["dspark_chat"] == version("dspark-chat")
    assert d["python"]["version"].startswith("3.")
    llama = d["llama_cpp_python"]
    assert llama["version"] == version("llama-cpp-python") and llama["error"] is None
    assert llama["llama_cpp"] and llama["ggml"] and llama["commit"]
    assert os.path.exists(llama["library"])
    backend = d["backend"]
    assert backend["devices"], "ggml registers at least the CPU"
    assert any(dev["type"] == "CPU" and dev["backend"] == "CPU" for dev in backend["devices"])
    assert backend["name"] in ["CPU", *backend["gpu_backends"]]
    assert "CPU :" in backend["system_info"]
    # AMX builds keep weights out of llama.cpp's extra CPU buffers (engine/llama.py, CPU_EXTRA_BUFTS_ENV)
    assert backend["cpu_extra_buffer_types"] is ("AMX_INT8 = 1" not in backend["system_info"])
    assert isinstance(d["gpu_offload"]["supported"], bool)
    assert d["gpu_offload"]["supported"] == bool(backend["gpu_backends"])
    assert d["threads"]["default"] >= 1
    home = os.environ["DSPARK_CHAT_HOME"]
    assert all(d["paths"][k].startswith(home) for k in ("config_file", "data_dir", "cache_dir", "models_dir"))
    pair = d["default_pair"]
    assert pair["status"] == "ok" and pair["mode"] == "ngram"
    assert Path(pair["target"]).resolve() == smollm_q4.resolve()
    assert pair["load_s"] > 0
    assert set(d["native_dspark"]["symbols"]) == set(engine_llama.NATIVE_DSPARK_SYMBOLS)
    assert d["native_dspark"]["present"] is True  # llama-cpp-python 0.3.36 exports every one
    # the stock CPU build here: the target's greedy tokens are taken on the host
    assert d["device_argmax"] == {"patched": False, "default_on": False, "drafter_probs": False,
                                  "drafter_default_on": False}
    assert {c["name"] for c in d["checks"]} == CHECKS
    assert all(c["status"] in ("ok", "info", "warn", "fail") for c in d["checks"])


def test_mangled_names_are_the_ones_libllama_exports():
    """The Itanium names doctor looks for are what `nm -D` lists in the installed libllama."""
    nm = shutil.which("nm")
    if not nm:
        pytest.skip("nm (binutils) is not installed")
    library = engine_llama.build_info()["library"]
    exported = set(subprocess.run([nm, "-D", "--defined-only", library], capture_output=True, text=True,
                                  check=True).stdout.split())
    for call, candidates in engine_llama.NATIVE_DSPARK_SYMBOLS.items():
        assert any(c in exported for c in candidates), f"{call}: none of {candidates} in {library}"
        assert engine_llama.native_dspark_symbols()[call] in exported


def test_default_pair_without_configuration():
    code, d = doctor_json()
    assert d["default_pair"]["status"] in ("ok", "not configured")  # ok once the embedded default is wired in
    assert code == 0


def test_readable_report_says_what_to_do(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    r = run_cli("doctor", "--target", bad, "--drafter", "none")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    pair = next(i for i, ln in enumerate(lines) if ln.startswith("FAIL") and "default pair" in ln)
    assert "broken.gguf" in lines[pair] and "->" in lines[pair + 1]
    assert "problem(s): default pair" in r.stdout
    for name in CHECKS - {"default pair"}:
        assert name in r.stdout


def test_expected_backend():
    code, d = doctor_json("--expect-backend", "cpu", "--no-load")
    assert code == 0 and any(c["name"] == "expected backend" and c["status"] == "ok" for c in d["checks"])
    missing = next(b for b in ("Vulkan", "CUDA", "Metal") if b not in d["backend"]["gpu_backends"])
    code, d = doctor_json("--expect-backend", missing, "--no-load")
    assert code == 1 and d["ok"] is False
    check = next(c for c in d["checks"] if c["name"] == "expected backend")
    assert check["status"] == "fail" and f"-DGGML_{missing.upper()}=on" in check["fix"]
    assert "--no-cache-dir" in check["fix"]
    if "CUDA" not in d["backend"]["gpu_backends"]:  # a CUDA rebuild is pointed at install.sh's patched source
        code, d = doctor_json("--expect-backend", "CUDA", "--no-load")
        check = next(c for c in d["checks"] if c["name"] == "expected backend")
        assert code == 1 and "install.sh --backend cuda, which also applies the DSpark patches" in check["fix"]


def test_broken_llama_cpp_install_is_explained():
    env = {"LLAMA_CPP_LIB_PATH": str(ROOT / "no-such-lib")}
    code, d = doctor_json(env=env)
    assert code == 1
    assert d["llama_cpp_python"]["error"] and d["llama_cpp_python"]["version"] == version("llama-cpp-python")
    check = next(c for c in d["checks"] if c["name"] == "llama-cpp-python")
    assert check["status"] == "fail" and "LLAMA_CPP_LIB_PATH" in check["fix"]
    r = run_cli("doctor", env=env)
    assert r.returncode == 1 and "FAIL  llama-cpp-python" in r.stdout


def test_invalid_config_file_fails_the_config_check():
    from dspark_chat.models import paths

    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("target = [unclosed\n")
    try:
        code, d = doctor_json("--no-load")
    finally:
        path.unlink()
    assert code == 1
    check = next(c for c in d["checks"] if c["name"] == "config")
    assert check["status"] == "fail" and str(path) in check["fix"]
