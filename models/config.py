"""The configuration file: one TOML file in the platform's config folder (`paths.config_file()`).

Every key is optional; what the file leaves out falls back to the defaults in code (`app/options.py` DEFAULTS and
the embedded default pair), and a command-line flag beats both. A bad value stops the program with one line that
names the key. Example (all keys):

    [models]
    target = "qwen3-8b"        # catalog name, name from `dspark-chat list`, or a .gguf path
    drafter = "auto"           # auto | ngram | none | a name or .gguf path
    n_gpu_layers = -1          # layers on the GPU: 0 none, -1 all
    threads = 0                # CPU threads: 0 = one per physical core
    ctx_size = 8192            # context window in tokens
    cuda_graphs = true         # llama.cpp's CUDA graphs (false can pay for native DSpark drafters on NVIDIA GPUs)

    [sampling]
    temperature = 0.7          # 0 = greedy
    top_k = 40                 # 0 = off
    top_p = 0.95               # 1 = off
    min_p = 0.05               # 0 = off
    max_tokens = 1024          # most tokens in one answer
    seed = 42                  # fixed seed (leave out for a fresh one each time)

    [speculation]
    draft_max = 16             # most drafted tokens verified in one round
    draft_fixed = 4            # verify exactly this many every round (experiments; leave out for cost-aware)

    [ui]
    theme = "textual-dark"     # a Textual theme name
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from dspark_chat.engine.errors import DSparkError

from . import paths
from .toml import tomllib


class ConfigError(DSparkError):
    """A configuration file that cannot be used as written."""

    exit_code = 2


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return "an integer"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"an integer {_range(lo, hi)}"
        return None

    return check


def _float(lo: float, hi: float | None = None, lo_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if (v <= lo if lo_open else v < lo) or (hi is not None and v > hi):
            low = f"above {lo}" if lo_open else f"at least {lo}"
            return f"a number {low}" + (f" and at most {hi}" if hi is not None else "")
        return None

    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"from {lo} to {hi}"
    return f"of at least {lo}" if lo is not None else f"of at most {hi}"


# section -> key -> validator (returns what the value should have been, or None when it is fine)
SCHEMA: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "models": {
        "target": _text,
        "drafter": _text,
        "n_gpu_layers": _int(-1),
        "threads": _int(0, 1024),
        "ctx_size": _int(128),
        "cuda_graphs": _bool,
    },
    "sampling": {
        "temperature": _float(0.0, 100.0),
        "top_k": _int(0),
        "top_p": _float(0.0, 1.0, lo_open=True),
        "min_p": _float(0.0, 1.0),
        "max_tokens": _int(1),
        "seed": _int(0),
    },
    "speculation": {
        "draft_max": _int(0, 256),
        "draft_fixed": _int(0, 256),
    },
    "ui": {
        "theme": _text,
    },
}


FLOAT_KEYS = {"temperature", "top_p", "min_p"}  # TOML writes 1 for 1.0: keep them floats


@dataclass(frozen=True)
class Config:
    """What the file sets; None means "not set here" (the code default applies)."""

    target: str | None = None
    drafter: str | None = None
    n_gpu_layers: int | None = None
    threads: int | None = None
    ctx_size: int | None = None
    cuda_graphs: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    draft_max: int | None = None
    draft_fixed: int | None = None
    theme: str | None = None
    path: Path | None = field(default=None, compare=False)

    def as_options(self) -> dict[str, Any]:
        """The keys the file sets, flat, for `app.options.value(args, name, config)`."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "path" and getattr(self, f.name) is not None}


def _unknown(path: Path, key: str, choices: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(choices)})"
    return ConfigError(f"{path}: unknown key {key!r}{hint}")


def parse(data: dict, path: Path) -> Config:
    """Validate a parsed TOML document; ConfigError names the first bad key."""
    all_keys = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys]
    values: dict[str, Any] = {}
    for section, body in data.items():
        if section not in SCHEMA:
            # a key written outside its section is the likeliest slip: point at where it belongs
            home = [f"{s}.{section}" for s, keys in SCHEMA.items() if section in keys]
            if home:
                raise ConfigError(f"{path}: {section!r} belongs in the [{home[0].split('.')[0]}] section")
            raise _unknown(path, section, list(SCHEMA))
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {section} must be a [{section}] section")
        for key, value in body.items():
            check = SCHEMA[section].get(key)
            if check is None:
                raise _unknown(path, f"{section}.{key}", all_keys)
            expected = check(value)
            if expected:
                raise ConfigError(f"{path}: {section}.{key} must be {expected}, got {value!r}")
            values[key] = float(value) if key in FLOAT_KEYS else value
    return Config(**values, path=path)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The configuration in `path` (default: `paths.config_file()`); an empty Config when there is no file."""
    path = Path(path) if path is not None else paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=None)
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {str(exc).splitlines()[0]}") from None
    return parse(data, path)
