"""Where dspark-chat keeps its files. One variable, DSPARK_CHAT_HOME, moves all of them (tests, portable installs).

Without it the platform's own places are used (platformdirs): config, data (conversations, downloaded and derived
models) and cache (measured costs, calibration).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "dspark-chat"
HOME_VAR = "DSPARK_CHAT_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_VAR)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP))


def config_file() -> Path:
    return config_dir() / "config.toml"


def models_dir() -> Path:
    """Models we derive or download outside the Hugging Face cache."""
    return data_dir() / "models"
