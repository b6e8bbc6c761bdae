"""Every way a download can fail, as one line a user can act on (see hub.py for the downloading itself)."""

from __future__ import annotations

from dspark_chat.engine.errors import DSparkError

from .gguf_info import format_bytes


class DownloadError(DSparkError):
    """A download that could not start or finish (network, hub answer, checksum)."""

    exit_code = 8


class DownloadInterrupted(DownloadError):
    """Stopped part way; the partial file stays and the next pull resumes it."""


class DownloadStopped(DownloadInterrupted):
    """Stopped by the user (Ctrl-C); the partial file stays."""

    exit_code = 130  # the CLI's code for an interruption


class DiskFullError(DSparkError):
    exit_code = 7  # the CLI's code for a full disk


def transfer_errors() -> tuple[type[BaseException], ...]:
    """What a transfer can fail with, whichever HTTP client this huggingface_hub uses."""
    from huggingface_hub.errors import HfHubHTTPError

    found: list[type[BaseException]] = [HfHubHTTPError, ValueError, OSError]
    for module, names in (("httpx2", ("HTTPError", "StreamError")), ("httpx", ("HTTPError", "StreamError")),
                          ("requests", ("RequestException",))):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        found += [getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)]
    return tuple(found)


def interrupted(file: str, have: int, total: int | None, why: str) -> str:
    size = f" of {format_bytes(total)}" if total else ""
    return (f"download of {file} interrupted at {format_bytes(have)}{size} ({why}); "
            f"run the same command again to resume")


def transfer_failed(exc: BaseException, repo: str, file: str, have: int, total: int | None) -> DSparkError:
    """The bytes stopped coming: keep the part, say how to resume."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        why = f"the hub answered {getattr(getattr(exc, 'response', None), 'status_code', '?')}"
    elif isinstance(exc, ValueError) and "too large" in str(exc):
        return DownloadError(f"{file} is over 50 GB and the hub serves such files only through Xet: "
                             f"`pip install hf_xet`, then `hf download {repo} {file}`")
    else:
        why = short(exc)
    return DownloadInterrupted(interrupted(file, have, total, why))


def metadata_failed(exc: BaseException, host: str, repo: str, file: str, revision: str,
                    file_hint: str = "") -> DSparkError:
    """The hub's answer to "where is this file?" was not a file: one line for each reason."""
    from huggingface_hub import errors as e

    if isinstance(exc, e.GatedRepoError):
        return DownloadError(f"{repo} is gated: accept its terms on {host}/{repo} and log in with `hf auth login`")
    if isinstance(exc, e.RepositoryNotFoundError):
        return DownloadError(f"no repository {repo} on {host} (or it is private: log in with `hf auth login`)")
    if isinstance(exc, e.RevisionNotFoundError):
        return DownloadError(f"{repo} has no revision {revision!r}")
    if isinstance(exc, e.EntryNotFoundError):
        return DownloadError(f"{repo} has no file {file}{file_hint}")
    if isinstance(exc, e.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        return DownloadError(f"{host} answered {status} for {repo}/{file}")
    if isinstance(exc, e.OfflineModeIsEnabled):
        return DownloadError(f"{repo}/{file} is not downloaded and HF_HUB_OFFLINE is set")
    if isinstance(exc, OSError) and "does not seem to be served by a Hugging Face Hub" in str(exc):
        return not_a_hub(host)
    return DownloadError(f"cannot reach {host} ({short(exc)}): offline? Local models still work; "
                         f"set HF_HUB_OFFLINE=1 to skip the hub")


def not_a_hub(host: str) -> DSparkError:
    return DownloadError(f"{host} does not answer like a Hugging Face hub (check HF_ENDPOINT)")


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
