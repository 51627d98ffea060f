"""Errors a user can cause and fix. Each carries one readable sentence; nothing here is a traceback.

Every layer raises a subclass of :class:`AdaptaError` for bad input (a malformed file, an impossible
hyperparameter, a model that cannot be loaded safely). The command line and the web UI print
``str(error)`` and nothing else; unexpected exceptions are bugs and keep their traceback.
"""

from __future__ import annotations


class AdaptaError(Exception):
    """A problem with the user's input, explained in one sentence that says what to do."""


class SpecError(AdaptaError):
    """The job spec is invalid; ``problems`` holds one sentence per invalid field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) if self.problems else "the job spec is invalid")


class DataError(AdaptaError):
    """A data file cannot be read or does not fit the task (names the file and the row or column)."""


class ModelError(AdaptaError):
    """A base model cannot be found or cannot be loaded safely."""


class UnsupportedError(AdaptaError):
    """The request is valid but cannot run here (for example QLoRA without CUDA)."""
