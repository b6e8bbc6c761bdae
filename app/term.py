"""What the terminal we write to can show: colour (honouring NO_COLOR) and live, redrawn lines.

One place decides, so every command, the progress display and `doctor` agree.
"""

from __future__ import annotations

import os
from typing import TextIO

# SGR colour codes for the few states we colour; bold/dim would also be SGR, so we keep to these.
COLORS = {"green": "32", "yellow": "33", "red": "31", "cyan": "36", "grey": "90"}


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def color_enabled(stream: TextIO) -> bool:
    """NO_COLOR (any non-empty value, https://no-color.org) always wins; FORCE_COLOR asks for colour in pipes."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def paint(text: str, color: str, stream: TextIO) -> str:
    if not color_enabled(stream):
        return text
    return f"\x1b[{COLORS[color]}m{text}\x1b[0m"
