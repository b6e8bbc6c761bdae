"""Progress for long work (loading, deriving, downloading, measuring costs), on stderr so stdout stays clean.

On a terminal: live lines drawn with `rich` (already installed: textual depends on it), a spinner and the elapsed
time for each phase, a bar for work whose size is known (bytes, steps). In pipes and logs: one plain line per
phase, and a line when measured work ends. Quiet (`--json`): nothing.

A `Progress` is itself the `Callable[[str], None]` the engine and the models code take as `progress`/`say`: each
message starts a phase and ends the previous one. `on_bytes` fits the downloader's (file, done, total) callback.
Close it (or leave the `with` block) before writing to stdout, so the live lines and the answer do not mix.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from .term import color_enabled, is_terminal

PREFIX = "dspark-chat"
REFRESH_PER_S = 8  # redraws of the live lines: smooth enough, cheap enough to never slow decoding


class Task:
    """Work of known size (or not): `advance` or `update` it; it ends when its `with` block does."""

    def __init__(self, owner: "Progress", description: str, total: float | None, unit: str):
        self._owner = owner
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0.0
        self._started = time.perf_counter()
        self._done = False
        self._id = owner._start_task(self)

    def advance(self, amount: float = 1) -> None:
        self.update(self.completed + amount)

    def update(self, completed: float, total: float | None = None) -> None:
        self.completed = completed
        if total is not None:
            self.total = total
        self._owner._update_task(self)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started

    def finish(self) -> None:
        self._owner._finish_task(self)


class Progress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = is_terminal(self.stream) if live is None else live
        self._rich = None  # a started rich.progress.Progress, made on first use
        self._phase: Task | None = None
        self._downloads: dict[str, Task] = {}
        self._lock = threading.Lock()

    # -- the engine's and the models code's callbacks -----------------------------------------------------------
    def __call__(self, message: str) -> None:
        """A new phase ("loading X", "measuring target costs"): ends the one before."""
        if self.quiet:
            return
        self._end_phase()
        if self.live:
            self._phase = Task(self, message, None, "phase")
        else:
            self._line(message)

    def on_bytes(self, name: str, done: int, total: int) -> None:
        """Download progress, (file, bytes done, bytes total): one bar per file, ended when it is complete."""
        if self.quiet:
            return
        with self._lock:
            task = self._downloads.get(name)
            if task is None:
                self._end_phase()
                task = self._downloads[name] = Task(self, f"downloading {name}", total or None, "B")
        task.update(done, total or None)
        if total and done >= total:
            task.finish()

    @contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[Task]:
        """Measured work: `with progress.task("profiling", total=15) as t: ... t.advance()`."""
        self._end_phase()
        if self.quiet:
            yield _NullTask()
            return
        task = Task(self, description, total, unit)
        try:
            yield task
        finally:
            task.finish()

    def close(self) -> None:
        self._end_phase()
        for task in list(self._downloads.values()):
            task.finish()
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- drawing ------------------------------------------------------------------------------------------------
    def _end_phase(self) -> None:
        if self._phase is not None:
            self._phase.finish()
            self._phase = None

    def _line(self, text: str) -> None:
        try:
            self.stream.write(f"{PREFIX}: {text}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not break the work it reports on

    def _start_task(self, task: Task) -> object:
        if not self.live:
            if task.unit != "phase":
                self._line(f"{task.description}{_size(task.total, task.unit)} ...")
            return None
        bar = self._bar()
        return bar.add_task(task.description, total=task.total, unit=task.unit) if bar else None

    def _update_task(self, task: Task) -> None:
        if self._rich is not None and task._id is not None:
            self._rich.update(task._id, completed=task.completed, total=task.total)

    def _finish_task(self, task: Task) -> None:
        if task._done:
            return
        task._done = True
        if self._rich is not None and task._id is not None:
            total = task.total if task.total else max(task.completed, 1)
            self._rich.update(task._id, total=total, completed=total)
            self._rich.refresh()
        elif not self.live and task.unit != "phase":
            self._line(f"{task.description}: done in {task.elapsed_s:.1f} s")

    def _bar(self):
        if self._rich is None:
            try:
                self._rich = _make_rich(self.stream)
            except ImportError:  # no rich: plain lines still tell the story
                self.live = False
                return None
            self._rich.start()
        return self._rich


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, completed: float, total: float | None = None) -> None:
        pass


def _size(total: float | None, unit: str) -> str:
    if not total:
        return ""
    return f" ({_bytes(total)})" if unit == "B" else f" ({total:g} {unit})".rstrip()


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _make_rich(stream: TextIO):
    from rich.console import Console
    from rich.progress import BarColumn, Progress as RichProgress, ProgressColumn, SpinnerColumn, TextColumn
    from rich.text import Text

    colour = color_enabled(stream)

    class Amount(ProgressColumn):
        """bytes done/total and speed for downloads, n/total for steps, nothing for phases."""

        def render(self, task) -> Text:
            unit = task.fields.get("unit", "")
            if unit == "B":
                speed = f"  {_bytes(task.speed)}/s" if task.speed else ""
                total = f"/{_bytes(task.total)}" if task.total else ""
                return Text(f"{_bytes(task.completed)}{total}{speed}")
            if unit != "phase" and task.total:
                return Text(f"{task.completed:g}/{task.total:g} {unit}".rstrip())
            return Text("")

    class Bar(BarColumn):
        def render(self, task):
            return Text("") if task.fields.get("unit") == "phase" else super().render(task)

    class Elapsed(ProgressColumn):
        def render(self, task) -> Text:
            seconds = task.finished_time if task.finished else task.elapsed
            return Text(f"{seconds or 0:.1f}s", style="dim" if colour else "")

    console = Console(file=stream, no_color=not colour, highlight=False, emoji=False)
    done = Text("✓", style="green" if colour else "")
    return RichProgress(
        SpinnerColumn(finished_text=done, style="cyan" if colour else ""),
        TextColumn("{task.description}"),
        Bar(bar_width=24, style="grey37" if colour else "", complete_style="cyan" if colour else "",
            finished_style="green" if colour else ""),
        Amount(),
        Elapsed(),
        console=console,
        refresh_per_second=REFRESH_PER_S,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
