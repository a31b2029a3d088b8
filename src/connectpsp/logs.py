"""Structured JSON logs, one object per line, with the request id of the request being
served. Secrets, tokens and unmasked CPF/CNPJ are never logged: callers log ids and
codes, and a last processor masks anything that looks like a document or a token.

ConnectPSP's own lines go straight from structlog to the output, rendered by msgspec and
written with one ``write`` per line and output: every request logs a line, so this path
is kept short. Standard-library loggers (uvicorn, alembic) go through ``logging`` and end
in the same outputs, in the same shape.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

__all__ = ["configure_logging", "get_logger", "redact"]

_DOCUMENT = re.compile(r"(?<![0-9A-Za-z])([0-9]{11}|[0-9A-Z]{12}[0-9]{2})(?![0-9A-Za-z])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET = re.compile(r"\b(cs|ct|at|whsec)_[A-Za-z0-9_-]{16,}")
_HEX_SIGNATURE = re.compile(r"\b[0-9a-f]{64}\b")
_encoder = msgspec.json.Encoder(enc_hook=repr)


def _suspect(text: str) -> bool:
    """Whether any of the four shapes is in ``text``. Most values (a path, a status, an
    id) hold none, and every request logs a line: each search runs only where what it
    looks for could be (a token holds "eyJ", a secret "_", a signature 64 characters, a
    document 11). One search for all four, an alternation, cost four times as much on an
    id."""
    return (
        ("eyJ" in text and _JWT.search(text) is not None)
        or ("_" in text and _SECRET.search(text) is not None)
        or (len(text) >= 64 and _HEX_SIGNATURE.search(text) is not None)
        or (len(text) >= 11 and _DOCUMENT.search(text) is not None)
    )


def redact(text: str) -> str:
    if not _suspect(text):
        return text
    text = _JWT.sub("[token]", text)
    text = _SECRET.sub(r"\1_[secret]", text)
    text = _HEX_SIGNATURE.sub("[signature]", text)
    return _DOCUMENT.sub("[document]", text)


# The current second's text, made once a second: structlog's ISO stamper builds a
# datetime and its text for every line, and every request logs one.
_second: tuple[int, str] = (-1, "")


def _timestamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``timestamp``: UTC, ISO 8601, to the microsecond (always six digits)."""
    global _second
    micros = time.time_ns() // 1000
    whole, fraction = divmod(micros, 1_000_000)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    event["timestamp"] = f"{second[1]}.{fraction:06d}Z"
    return event


def _redact_event(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> bytes:
    line = _encoder.encode(event)
    if not line.isascii():
        # Escaped, as the standard library does: a raw U+2028 or NEL in a path would
        # split the line for readers that split on every Unicode line break.
        line = json.dumps(event, default=repr, separators=(",", ":")).encode()
    return line + b"\n"


class _Lines:
    """A structlog logger that writes each rendered line to every output at once."""

    def __init__(self, outputs: list[int]) -> None:
        self._outputs = outputs

    def write(self, line: bytes) -> None:
        for fd in self._outputs:
            os.write(fd, line)

    debug = info = warning = warn = error = critical = exception = msg = write


class _LinesHandler(logging.Handler):
    def __init__(self, lines: _Lines) -> None:
        super().__init__()
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.write(self.format(record).encode() + b"\n")
        except Exception:  # pragma: no cover - logging must never take the server down
            self.handleError(record)


def configure_logging(
    level: str = "INFO", *, file: str | None = None, console: bool = True
) -> None:
    """JSON lines to stderr (unless not ``console``), and appended to ``file`` too when
    given (``CONNECTPSP_LOG_FILE``). Standard-library loggers (uvicorn, alembic) go the
    same way."""
    outputs = [sys.stderr.fileno()] if console else []
    if file:
        outputs.append(os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    lines = _Lines(outputs)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
        structlog.processors.format_exc_info,
        _redact_event,
    ]
    structlog.configure(
        processors=[*shared, _render],
        logger_factory=lambda *_: lines,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    handler = _LinesHandler(lines)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
