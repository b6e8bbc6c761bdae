"""A cost cache shared by the homes of the tests that run `ask` in a subprocess.

Every test gets a fresh DSPARK_CHAT_HOME, which would make each run measure the same model's costs again (seconds
to minutes on a busy CPU). Costs are keyed by model file, context size and threads, so sharing them is safe.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cost_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("costs")


def new_home(folder: Path, cost_cache: Path) -> Path:
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(cost_cache, target_is_directory=True)
    return home
