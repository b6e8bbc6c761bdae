"""app/progress.py: plain lines in pipes and logs, nothing when quiet, live lines on a terminal (rich)."""

from __future__ import annotations

import io
import re

from dspark_chat.app.progress import Progress


def test_plain_phases_and_measured_work():
    out = io.StringIO()
    with Progress(stream=out, live=False) as progress:
        progress("loading model.gguf")
        with progress.task("measuring target costs", total=15, unit="points") as task:
            for _ in range(15):
                task.advance()
        for done in (0, 50_000_000, 100_000_000):
            progress.on_bytes("model.gguf", done, 100_000_000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "dspark-chat: loading model.gguf"
    assert lines[1] == "dspark-chat: measuring target costs (15 points) ..."
    assert re.fullmatch(r"dspark-chat: measuring target costs: done in \d+\.\d s", lines[2])
    assert lines[3] == "dspark-chat: downloading model.gguf (100.0 MB) ..."
    assert re.fullmatch(r"dspark-chat: downloading model.gguf: done in \d+\.\d s", lines[4])
    assert len(lines) == 5  # one line per event, not one per update


def test_quiet_prints_nothing():
    out = io.StringIO()
    with Progress(quiet=True, stream=out, live=False) as progress:
        progress("loading")
        with progress.task("work", total=3) as task:
            task.advance(3)
        progress.on_bytes("f", 1, 2)
    assert out.getvalue() == ""


def test_live_display_draws_phases_bars_and_a_finish_mark():
    out = io.StringIO()
    progress = Progress(stream=out, live=True)
    progress("loading model.gguf")
    with progress.task("deriving model-f16.gguf", total=4, unit="steps") as task:
        task.advance(4)
    progress.on_bytes("big.gguf", 2_000_000, 2_000_000)
    progress.close()
    text = out.getvalue()
    for expected in ("loading model.gguf", "deriving model-f16.gguf", "4/4 steps", "downloading big.gguf",
                     "2.0 MB/2.0 MB", "✓"):
        assert expected in text, text


def test_a_closed_stream_does_not_break_the_work():
    out = io.StringIO()
    out.close()
    progress = Progress(stream=out, live=False)
    progress("loading")  # must not raise
    with progress.task("x", total=1) as task:
        task.advance()
