"""The suite's log gate: every log line from the run is read back at the end; a secret,
a token, a signature or an unmasked CPF/CNPJ in any of them fails the run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

DIR_VARIABLE = "CONNECTPSP_TEST_LOG_DIR"

_PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    "a secret": re.compile(r"\b(cs|ct|at)_[A-Za-z0-9_-]{16,}|whsec_[A-Za-z0-9+/=]{16,}"),
    "a hex signature": re.compile(r"\b[0-9a-f]{64}\b"),
    "an unmasked CPF/CNPJ": re.compile(
        r"(?<![0-9A-Za-z-])([0-9]{11}|[0-9A-Z]{12}[0-9]{2})(?![0-9A-Za-z-])"
    ),
}


def log_dir() -> Path | None:
    value = os.environ.get(DIR_VARIABLE)
    return Path(value) if value else None


def remember_secret(*values: str) -> None:
    """Record what the tests handed out, so the scan can look for it literally."""
    directory = log_dir()
    if directory is None:
        return
    with (directory / f"secrets-{os.getpid()}.txt").open("a") as out:
        for value in values:
            out.write(value + "\n")


def problems(directory: Path) -> list[str]:
    secrets = {
        line.strip()
        for path in directory.glob("secrets-*.txt")
        for line in path.read_text().splitlines()
        if len(line.strip()) >= 12
    }
    found: list[str] = []
    lines = 0
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            lines += 1
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except ValueError:
                found.append(f"{where}: not a JSON log line: {line[:120]}")
                continue
            if not isinstance(record, dict) or "event" not in record:
                found.append(f"{where}: not a structured log record")
            if record.get("event") == "request" and not record.get("request_id"):
                found.append(f"{where}: a request logged without its request id")
            for secret in secrets:
                if secret in line:
                    found.append(f"{where}: a secret the tests created appears in the log")
            for name, pattern in _PATTERNS.items():
                if pattern.search(line):
                    found.append(f"{where}: {name} in the log: {pattern.search(line)}")
    return found


def line_count(directory: Path) -> int:
    return sum(
        1 for path in directory.glob("*.jsonl") for line in path.read_text().splitlines() if line
    )
