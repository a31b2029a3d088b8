"""The results table: printed, and appended to ``BENCHMARKS.md`` so that earlier runs
stay and progress shows."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .config import Config

__all__ = ["MEASUREMENTS", "Row", "machine", "render_table", "write_markdown"]

# Every measurement a complete run reports, per database (the smoke test checks them).
MEASUREMENTS = (
    "HTTP ceiling: GET /healthz, closed loop",
    "raw SQL, hot account: transactions/s",
    "raw SQL, 1,000 accounts: transactions/s",
    "raw SQL, issue 19's minimal statements, hot account: transactions/s",
    "raw SQL, issue 19's minimal statements, 1,000 accounts: transactions/s",
    "cash-outs/s at saturation, hot client",
    "cash-outs/s at saturation, 1,000 clients",
    "cash-outs/s at saturation, hot client, every fraud check on",
    "cash-outs/s at saturation, hot client, the client's rules off",
    "cash-outs/s at saturation, hot client, every fraud check off",
    "cash-outs/s at saturation, hot client, metrics on",
    "cash-outs/s at saturation, hot client, 2 API processes",
    "cash-outs/s at saturation, 1,000 clients, 2 API processes",
    "latency at 25% of saturation, hot client",
    "latency at 50% of saturation, hot client",
    "latency at 80% of saturation, hot client",
    "latency at 25% of saturation, 1,000 clients",
    "latency at 50% of saturation, 1,000 clients",
    "latency at 80% of saturation, 1,000 clients",
    "whole path at saturation, hot client: webhooks/s",
    "end-to-end POST to webhook at 50% of the whole path's saturation, hot client",
    "webhook deliveries/s to a fast receiver",
    "raw SQL, issue 19's minimal statements in batches of 1,000, hot account: cash-outs/s",
    "batch cash-outs/s, batches of 1,000, hot client",
    "batch whole path: settled and webhook received/s",
    "peak RSS, server without worker",
    "peak RSS, server with worker",
)


@dataclass(frozen=True)
class Row:
    database: str
    measurement: str
    result: str
    notes: str = ""


def machine() -> str:
    """Cores and memory of this machine, and the Python that ran the benchmark."""
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {memory} RAM, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, fixed args
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
        return found.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def render_table(rows: list[Row]) -> str:
    """A plain-text table for the terminal."""
    headers = ("database", "measurement", "result", "notes")
    cells = [headers, *((r.database, r.measurement, r.result, r.notes) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3])
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  -----")
    return "\n".join(lines)


def _settings_line(config: Config) -> str:
    return (
        f"phases of {config.seconds:g} s after {config.warmup:g} s of warm-up; "
        f"{config.concurrency} concurrent requests/connections from {config.procs} "
        f"load process(es); {config.clients} clients in the many-clients case; "
        f"fee {config.fee_centavos} centavo(s) per cash-out; batches of "
        f"{config.batch_items} from {config.batch_concurrency} connection(s)"
    )


def write_markdown(path: Path, rows: list[Row], config: Config, started: datetime) -> None:
    """Append this run as a section of ``path``; create the file if it is missing."""
    command = config.command + (" --smoke" if config.smoke else "")
    section = [
        "",
        f"## {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- settings: {_settings_line(config)}",
        "",
        "| database | measurement | result | notes |",
        "|---|---|---|---|",
        *(f"| {r.database} | {r.measurement} | {r.result} | {r.notes} |" for r in rows),
        "",
    ]
    if not path.exists():
        path.write_text("# Benchmarks\n\nAppended by `make bench`; newest last.\n")
    with path.open("a") as out:
        out.write("\n".join(section))
