"""Reading /metrics and the business log in tests."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests import logscan

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    reply = httpx.get(base_url + "/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def routes(samples: Samples) -> set[str]:
    return {v for (_, labels) in samples for k, v in labels if k == "route"}


def log_lines(**match: Any) -> list[dict[str, Any]]:
    """This test process's log records whose fields include ``match``."""
    directory = logscan.log_dir()
    assert directory is not None
    path = directory / f"pytest-{os.getpid()}.jsonl"
    found = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if all(record.get(k) == v for k, v in match.items()):
            found.append(record)
    return found


def wait_for_log(timeout: float = 10, **match: Any) -> list[dict[str, Any]]:
    """``log_lines(**match)`` once there is one (a line written after the answer)."""
    deadline = time.monotonic() + timeout
    while not (found := log_lines(**match)):
        assert time.monotonic() < deadline, f"no log line with {match}"
        time.sleep(0.02)
    return found
