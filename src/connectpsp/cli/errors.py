"""How the CLI words a failure: one line, and the exit status (2 for a bad setting or
argument, 1 for anything else)."""

from __future__ import annotations

from collections.abc import Mapping

from connectpsp.domain.errors import ConnectPSPError, ValidationFailed
from connectpsp.settings import SettingsError

__all__ = ["USAGE", "CliError", "explain", "fields"]

USAGE = 2  # the exit status of a bad setting or argument; anything else is 1


class CliError(Exception):
    """A failure already worded for the operator: one line, and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def explain(error: Exception) -> tuple[str, int]:
    """Any error as one line and the exit status, for :func:`main`."""
    if isinstance(error, CliError):
        return error.message, error.status
    if isinstance(error, SettingsError):
        return str(error), USAGE
    if isinstance(error, ValidationFailed):
        return fields(error), USAGE
    if isinstance(error, ConnectPSPError):
        return error.message, 1
    # Anything else is a bug; its text may hold anything, so only its type is named.
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    return f"unexpected {name}; nothing was printed about it, to keep secrets out", 1


def fields(error: ValidationFailed, options: Mapping[str, str] | None = None) -> str:
    """``--name must not be empty; --fee-bps must be ...``: each field as its option."""
    options = options or {}
    return "; ".join(f"{options.get(e.field, e.field)} {e.message}" for e in error.errors)
