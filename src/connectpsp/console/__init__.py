"""The operator console (``/console``): a server-rendered web app for the people who run
the PSP, not for its clients. See docs/console.md."""

from __future__ import annotations

from connectpsp.console.app import install
from connectpsp.console.services import ConsoleServices

__all__ = ["ConsoleServices", "install"]
