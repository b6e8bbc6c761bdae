"""Downloads through the real hub.py and huggingface_hub, against a fake hub on 127.0.0.1 (tests/fake_hub.py).

Each download runs `dspark-chat` in a subprocess with its own environment: huggingface_hub reads HF_ENDPOINT,
HF_HOME and HF_HUB_OFFLINE when it is imported, and a test must not depend on the caller's settings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dspark_chat.models.gguf_info import format_bytes

from .clitools import interruptible
from .fake_hub import FakeHub
from .synthetic_gguf import words, write_gguf

REPO = "someone/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
PAYLOAD_BYTES = 400_000
# huggingface_hub hands bytes to the file in 10 MB pieces: a resumable part needs a file bigger than that
RESUMABLE_BYTES = 24_000_000


def gguf_bytes(tmp_path: Path, name: str, vocab: list[str], payload: int = PAYLOAD_BYTES) -> bytes:
    rng = np.random.default_rng(len(name))
    tensors = {"blob.weight": rng.integers(-128, 127, payload, dtype=np.int8)}
    return write_gguf(tmp_path / "src" / name, tokens=vocab, tensors=tensors).read_bytes()


@pytest.fixture
def hub():
    with FakeHub() as h:
        yield h


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def cli_env(hub: FakeHub | None, home: Path, endpoint: str | None = None, **env_extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HF_ENDPOINT")}
    env.update(DSPARK_CHAT_HOME=str(home), HF_HOME=str(home / "hf"), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", HF_HUB_DISABLE_TELEMETRY="1",
               HF_ENDPOINT=endpoint or (hub.url if hub else "http://127.0.0.1:9"))
    env.update({k: str(v) for k, v in env_extra.items()})
    return env


def cli(args: list[str], hub: FakeHub | None, home: Path, endpoint: str | None = None, **env_extra):
    return subprocess.run([sys.executable, "-m", "dspark_chat.app.cli", *args], capture_output=True, text=True,
                          env=cli_env(hub, home, endpoint, **env_extra), timeout=300)


def cli_process(args: list[str], hub: FakeHub, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dspark_chat.app.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(hub, home), **interruptible())


def error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert lines and lines[-1].startswith("dspark-chat: error: "), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return lines[-1]


def test_pull_reports_progress_and_verifies(hub, home, tmp_path):
    # huggingface_hub writes in 10 MB pieces: 24 MB paced over about a second shows the file growing
    content = gguf_bytes(tmp_path, FILE, words(64), payload=RESUMABLE_BYTES)
    hub.state.add(REPO, FILE, content)
    hub.state.throttle_s = 0.15
    proc = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert path == home / "data" / "models" / "hub" / "someone" / "tiny-GGUF" / FILE
    assert path.read_bytes() == content
    assert not list(path.parent.glob("*.part*"))
    progress = [line for line in proc.stderr.splitlines() if f"{FILE}: " in line and "%" in line]
    size = format_bytes(len(content))
    assert progress and progress[-1].endswith(f"100% ({size} of {size})")
    assert any(0 < int(line.split(": ")[2].split("%")[0]) < 100 for line in progress), progress
    assert "checking the sha256" in proc.stderr
    # HEAD on resolve (hub), then GET of the blob on the CDN origin
    assert [(o, m) for o, m, _, _ in hub.state.requests] == [("hub", "HEAD"), ("cdn", "GET")]


def test_dropped_connection_resumes_within_the_run(hub, home, tmp_path):
    content = gguf_bytes(tmp_path, FILE, words(64), payload=RESUMABLE_BYTES)
    hub.state.add(REPO, FILE, content)
    hub.state.drop_first_get = True
    proc = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == content
    ranges = hub.state.ranged_gets()
    assert len(ranges) == 1 and ranges[0] != "bytes=0-", ranges  # continued from the bytes it had


def test_interrupted_download_resumes_in_the_next_run(hub, home, tmp_path):
    content = gguf_bytes(tmp_path, FILE, words(64), payload=RESUMABLE_BYTES)
    hub.state.add(REPO, FILE, content)
    hub.state.drop_first_get = True
    hub.state.refuse_ranges = True  # the hub stays down after the drop: this run must give up
    first = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    line = error_line(first)
    assert "interrupted at" in line and "run the same command again to resume" in line
    part = home / "data" / "models" / "hub" / "someone" / "tiny-GGUF" / (FILE + ".part")
    kept = part.stat().st_size
    assert 0 < kept < len(content)

    hub.state.refuse_ranges = False
    hub.state.requests.clear()
    second = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr
    assert Path(second.stdout.strip()).read_bytes() == content
    assert hub.state.ranged_gets() == [f"bytes={kept}-"]
    assert not part.exists()


def test_ctrl_c_keeps_the_part_and_the_next_pull_resumes(hub, home, tmp_path):
    content = gguf_bytes(tmp_path, FILE, words(64), payload=RESUMABLE_BYTES)
    hub.state.add(REPO, FILE, content)
    hub.state.throttle_s = 0.4  # eight pieces: several seconds, time to press Ctrl-C part way
    part = home / "data" / "models" / "hub" / "someone" / "tiny-GGUF" / (FILE + ".part")
    proc = cli_process(["pull", f"{REPO}/{FILE}"], hub, home)
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("dspark-chat: error: download of tiny-Q4_K_M.gguf interrupted at") and "(stopped)" in line
    kept = part.stat().st_size
    assert 0 < kept < len(content)
    hub.state.throttle_s = 0.0
    again = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()).read_bytes() == content
    assert hub.state.ranged_gets()[-1] == f"bytes={kept}-"


def test_missing_repository(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    line = error_line(cli(["pull", "nobody/nothing-GGUF/x.gguf"], hub, home))
    assert "no repository nobody/nothing-GGUF" in line


def test_missing_file_lists_the_files_there(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    proc = cli(["pull", f"{REPO}/tiny-Q9_9.gguf"], hub, home)
    line = error_line(proc)
    assert f"{REPO} has no file tiny-Q9_9.gguf" in line and f"its GGUF files: {FILE}" in line
    assert proc.returncode == 8


def test_offline_mode_makes_no_request(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    line = error_line(cli(["pull", f"{REPO}/{FILE}"], hub, home, HF_HUB_OFFLINE="1"))
    assert "HF_HUB_OFFLINE is set" in line
    assert hub.state.requests == []


def test_offline_mode_uses_what_is_here(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    assert cli(["pull", f"{REPO}/{FILE}"], hub, home).returncode == 0
    hub.state.requests.clear()
    proc = cli(["pull", f"{REPO}/{FILE}"], hub, home, HF_HUB_OFFLINE="1")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).name == FILE
    assert hub.state.requests == []


def test_offline_with_a_prefilled_huggingface_cache(hub, home, tmp_path):
    content = gguf_bytes(tmp_path, FILE, words(8))
    hub.state.add(REPO, FILE, content)
    # fill the Hugging Face cache the way `hf download` does, with huggingface_hub itself
    fill = (f"from huggingface_hub import hf_hub_download; "
            f"print(hf_hub_download({REPO!r}, {FILE!r}))")
    env = {**os.environ, "HF_HOME": str(home / "hf"), "HF_ENDPOINT": hub.url, "NO_PROXY": "127.0.0.1"}
    env.pop("HF_HUB_OFFLINE", None)
    filled = subprocess.run([sys.executable, "-c", fill], env=env, capture_output=True, text=True, timeout=120)
    assert filled.returncode == 0, filled.stderr
    cached = Path(filled.stdout.strip().splitlines()[-1])
    assert cached.is_relative_to(home / "hf" / "hub")
    hub.state.requests.clear()

    proc = cli(["pull", f"{REPO}/{FILE}"], hub, home, HF_HUB_OFFLINE="1")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == cached
    rows = {r["name"]: r for r in json.loads(cli(["list", "--json"], hub, home, HF_HUB_OFFLINE="1").stdout)}
    assert rows[f"{REPO}/{FILE}"]["path"] == str(cached) and rows[f"{REPO}/{FILE}"]["source"] == "downloaded"
    line = error_line(cli(["rm", f"{REPO}/{FILE}"], hub, home, HF_HUB_OFFLINE="1"))
    assert "Hugging Face cache" in line and cached.exists()
    assert hub.state.requests == []


def test_unreachable_hub(home):
    line = error_line(cli(["pull", f"{REPO}/{FILE}"], None, home, endpoint="http://127.0.0.1:9"))
    assert "cannot reach 127.0.0.1:9" in line and "offline?" in line


def test_not_enough_disk_space(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    hub.state.announce_size = 10**16  # 10 PB
    proc = cli(["pull", f"{REPO}/{FILE}"], hub, home)
    assert "not enough disk space" in error_line(proc) and proc.returncode == 7
    assert hub.state.ranged_gets() == [] and ("cdn", "GET") not in [(o, m) for o, m, _, _ in hub.state.requests]


def test_damaged_transfer_is_caught_by_the_checksum(hub, home, tmp_path):
    hub.state.add(REPO, FILE, gguf_bytes(tmp_path, FILE, words(8)))
    hub.state.damage_blobs = True
    line = error_line(cli(["pull", f"{REPO}/{FILE}"], hub, home))
    assert "sha256 mismatch" in line
    folder = home / "data" / "models" / "hub" / "someone" / "tiny-GGUF"
    assert sorted(p.name for p in folder.iterdir()) == []


def test_pull_a_repository_picks_its_q4_k_m(hub, home, tmp_path):
    for name in ("tiny-Q8_0.gguf", FILE, "tiny-F16.gguf"):
        hub.state.add(REPO, name, gguf_bytes(tmp_path, name, words(8), payload=1000))
    hub.state.add(REPO, "README.md", b"# tiny")
    proc = cli(["pull", REPO], hub, home)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).name == FILE
    assert any(p.startswith(f"/api/models/{REPO}/tree/main") for _, _, p, _ in hub.state.requests)


def test_split_model_is_pulled_listed_and_removed_whole(hub, home, tmp_path):
    write_gguf(tmp_path / "src" / "big.gguf", tokens=words(40), split_max_tensors=1)
    for shard in sorted((tmp_path / "src").glob("big-*.gguf")):
        hub.state.add(REPO, shard.name, shard.read_bytes())
    proc = cli(["pull", f"{REPO}/big-00001-of-00003.gguf"], hub, home)
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip()).parent
    assert sorted(p.name for p in folder.glob("big-*.gguf")) == [f"big-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    rows = [r for r in json.loads(cli(["list", "--json"], hub, home).stdout) if r["source"] == "downloaded"]
    assert [r["name"] for r in rows] == [f"{REPO}/big-00001-of-00003.gguf"]
    removed = cli(["rm", f"{REPO}/big-00001-of-00003.gguf"], hub, home)
    assert removed.returncode == 0, removed.stderr
    assert not list(folder.glob("big-*.gguf"))


def test_catalog_name_brings_its_drafter_and_auto_finds_it(hub, home, tmp_path, monkeypatch):
    # serve synthetic files under the catalog's real repository names
    from dspark_chat.models import catalog

    target, drafter = catalog.get("qwen3-8b"), catalog.get("qwen3-0.6b")
    vocab = words(500)
    hub.state.add(target.repo, target.file, gguf_bytes(tmp_path, "t.gguf", vocab, payload=300_000))
    hub.state.add(drafter.repo, drafter.file, gguf_bytes(tmp_path, "d.gguf", vocab, payload=30_000))
    proc = cli(["pull", "qwen3-8b"], hub, home)
    assert proc.returncode == 0, proc.stderr
    assert [Path(p).name for p in proc.stdout.split()] == [target.file, drafter.file]
    assert "drafter qwen3-0.6b fits qwen3-8b" in proc.stderr

    rows = {r["name"]: r for r in json.loads(cli(["list", "--json"], hub, home).stdout)}
    assert rows["qwen3-8b"]["source"] == "downloaded" and rows["qwen3-8b"]["drafters"] == ["qwen3-0.6b", "ngram"]
    assert set(rows["qwen3-8b"]) >= {"name", "path", "size", "arch", "quant", "source", "drafters"}

    monkeypatch.setenv("DSPARK_CHAT_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    from dspark_chat.models.selection import select_pair

    chosen = select_pair("qwen3-8b", "auto")
    assert Path(chosen.drafter).name == drafter.file and "model drafter" in chosen.note

    assert cli(["rm", "qwen3-0.6b"], hub, home).returncode == 0
    assert select_pair("qwen3-8b", "auto").drafter == "ngram"
    line = error_line(cli(["rm", "qwen3-0.6b"], hub, home))
    assert "not on this machine" in line
