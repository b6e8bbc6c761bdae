"""Errors a user can cause. Each message is one line, fit to print as it is."""

from __future__ import annotations


class DSparkError(Exception):
    """Base of every error the CLI prints on one line and exits non-zero for."""

    exit_code = 1


class UsageError(DSparkError):
    """A flag or configuration value out of range: the same exit code as argparse's own usage errors."""

    exit_code = 2


class ModelLoadError(DSparkError):
    """A GGUF file is missing, unreadable, corrupt or not a language model."""

    exit_code = 3


class IncompatibleDrafterError(DSparkError):
    """The drafter cannot draft for this target (vocabulary, features, shapes)."""

    exit_code = 4


class ContextOverflowError(DSparkError):
    """The conversation does not fit the context window, even after truncation."""

    exit_code = 5


class DecodeError(DSparkError):
    """llama.cpp refused to evaluate a batch."""

    exit_code = 6
