"""Running the installed `dspark-chat` console script as a user would: a real process, real stdout and stderr."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 300
ROOT = Path(__file__).resolve().parent.parent


def console_script() -> str:
    """The `dspark-chat` installed next to this interpreter (the venv under test), else the one on PATH."""
    here = Path(sys.executable).parent / ("dspark-chat.exe" if os.name == "nt" else "dspark-chat")
    if here.exists():
        return str(here)
    found = shutil.which("dspark-chat")
    assert found, "the dspark-chat console script is not installed (pip install -e .)"
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interruptible() -> dict:
    """Popen arguments for a child that Ctrl-C (SIGINT) must reach. A shell starts background jobs with SIGINT
    ignored and exec keeps that, so a test suite run as `bash .ci/run &` would see the app finish instead."""
    return {"preexec_fn": _default_sigint} if os.name == "posix" else {}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr_lines if ": error: " in line]


def run_cli(*args: str, env: dict | None = None, input: str | None = None, timeout: float = TIMEOUT_S) -> Result:
    full_env = {**os.environ, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = subprocess.run([console_script(), *map(str, args)], input=input if input is not None else "",
                          capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_in_terminal(*args: str, env: dict | None = None, timeout: float = TIMEOUT_S) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal (what a person sees), return the exit code and raw bytes."""
    primary, secondary = pty.openpty()
    full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = subprocess.Popen([console_script(), *map(str, args)], stdin=subprocess.DEVNULL, stdout=secondary,
                            stderr=secondary, env=full_env, cwd=ROOT)
    os.close(secondary)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(primary)
    return proc.wait(timeout=max(1.0, deadline - time.monotonic())), out


# -- packaging/'s Python scripts (a folder of scripts, not a package) --------------------------------------------

def packaging_module(name: str):
    """packaging/NAME.py imported as a module, for its constants and functions."""
    import importlib

    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def run_packaging_script(name: str, *args) -> subprocess.CompletedProcess:
    """packaging/NAME.py run as a user would: its own process, its exit code and one-line messages."""
    return subprocess.run([sys.executable, str(ROOT / "packaging" / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def check_source_patch(name: str, folder: Path, body: str, changed_upstream: str) -> str:
    """The contract every source patch keeps (packaging/sdist_patch.py), checked on a fake sdist in `folder`: the
    patch applies to `body` once (a second run says so) and leaves the text around it alone; a file that changed
    upstream, or a folder that is no sdist, gets one line and exit 1. Returns the patched text."""
    module = packaging_module(name)
    sdist = folder / "sdist"
    source = sdist / module.TARGET
    source.parent.mkdir(parents=True)
    source.write_text("// before\n" + body + "// after\n")
    first, second = run_packaging_script(name, sdist), run_packaging_script(name, sdist)
    assert first.returncode == 0 and "patched" in first.stdout
    assert second.returncode == 0 and "already patched" in second.stdout
    text = source.read_text()
    assert text.startswith("// before\n") and text.endswith("// after\n") and module.MARK in text
    source.write_text(changed_upstream)
    changed = run_packaging_script(name, sdist)
    assert changed.returncode == 1 and changed.stderr.count("\n") == 1 and "does not apply" in changed.stderr
    missing = run_packaging_script(name, folder / "nothing")
    assert missing.returncode == 1 and "not a llama-cpp-python sdist" in missing.stderr
    return text
