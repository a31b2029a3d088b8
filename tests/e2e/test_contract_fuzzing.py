"""Schemathesis against our own /openapi.json, with valid credentials and signature, in
positive and negative modes, following the schema's links (stateful). No 5xx, no answer
outside the documented statuses, shapes and content types, and invalid input refused.
``CONNECTPSP_FUZZ_EXAMPLES`` raises the bound (``make reliability``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from connectpsp.service.auth import signature_for
from tests.support import RunningServer, new_merchant

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def test_schemathesis_finds_nothing(
    settling_server: RunningServer, tmp_path: Path, figures: Callable[..., None]
) -> None:
    m = new_merchant(settling_server, fund=1_000_000_00)
    token = m.token
    examples = os.environ.get("CONNECTPSP_FUZZ_EXAMPLES", "15")
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{settling_server.base_url}/openapi.json",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        f"ApplicationToken: {m.creds.application_token}",
        "-H",
        f"DigitalSignature: {signature_for(token, m.creds.crypto_token)}",
        "-H",
        "X-Idempotency-Key: fuzz-run",
        "--mode",
        "all",
        "--checks",
        CHECKS,
        "--max-examples",
        examples,
        "--seed",
        "20261123",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    figures(
        max_examples=int(examples),
        summary=[line.strip() for line in summary.splitlines() if line.strip()][:30],
        failures=result.returncode != 0,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # each ran, none skipped
        assert f"✅ {phase}" in summary, summary
