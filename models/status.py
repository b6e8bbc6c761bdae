"""Where dspark-chat keeps its model files and whether the default pair is ready: a report for `doctor`.

Reads only file-system state and metadata (no model is loaded, nothing is downloaded or derived).
"""

from __future__ import annotations

from dspark_chat.engine.errors import DSparkError

from . import embedded, hub, library, paths
from .config import load_config


def report() -> dict:
    """A JSON-ready summary; every problem is a one-line string under its key, never an exception."""
    try:
        config = load_config()
        config_state = {"path": str(paths.config_file()), "exists": config.path is not None, "error": None,
                        "settings": config.as_options()}
    except DSparkError as exc:
        config_state = {"path": str(paths.config_file()), "exists": True, "error": str(exc), "settings": {}}
    models = library.local_models()
    present = [m for m in models if m.present]
    return {
        "config": config_state,
        "data_dir": str(paths.data_dir()),
        "models_dir": str(paths.models_dir()),
        "cache_dir": str(paths.cache_dir()),
        "hf_cache_dir": str(hub.hf_cache_dir()),
        "hub": {"endpoint": hub.endpoint(), "offline": hub.offline()},
        "builtin": embedded.status(),
        "models": {"present": len(present), "unreadable": sum(1 for m in present if m.info() is None),
                   "unfinished_downloads": [str(p) for p in hub.partials()]},
    }
