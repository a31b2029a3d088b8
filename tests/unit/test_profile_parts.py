"""``python -m bench.profile`` names each part of the path by a function and the file it
is in: a part whose function moved counts no sample and reads 0% (the idempotency
fingerprint did, from ``service/acceptance.py`` to ``service/fingerprints.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench.profile import PARTS, shares

SRC = Path(__file__).resolve().parents[2] / "src" / "connectpsp"


@pytest.mark.parametrize(
    ("function", "path"), [pytest.param(f, p, id=label.strip()) for label, f, p in PARTS if f]
)
def test_each_part_names_a_function_that_is_where_it_says(function: str, path: str) -> None:
    *owner, name = function.split(".")
    files = [f for f in SRC.rglob("*.py") if f.as_posix().endswith(path)]
    assert len(files) == 1, f"{path} is {len(files)} files"
    text = files[0].read_text()
    assert re.search(rf"^\s*(?:async )?def {re.escape(name)}\(", text, re.MULTILINE), function
    if owner:
        assert re.search(rf"^class {re.escape(owner[0])}\b", text, re.MULTILINE), function


def test_a_sample_counts_for_every_part_it_ran_inside() -> None:
    writer = "Thread.run (threading.py:1);AcceptanceEngine._write (/x/service/acceptance.py:9)"
    collapsed = (
        f"{writer};CashOutFlow.write (/x/service/cashouts.py:3) 3\n"
        "run (server.py:1);fingerprint (/x/service/fingerprints.py:17) 2\n"
    )
    total, found = shares(collapsed)
    assert total == 5
    assert found["acceptance writer thread"] == 3 and found["  the batch's writes"] == 3
    assert found["  the idempotency fingerprint"] == 2
    assert found["event loop: HTTP, auth, validation, the answer"] == 2


def test_the_worker_threads_samples_are_not_the_event_loops() -> None:
    worker = "Thread.run (threading.py:1);Worker.run (/x/worker/runner.py:66)"
    commit = "SqlUnitOfWork.commit (/x/adapters/storage/uow.py:80)"
    collapsed = (
        f"{worker};SettlementService.run_due (/x/service/settlement.py:96);{commit} 4\n"
        f"{worker};WebhookDispatcher.dispatch_due (/x/worker/dispatcher.py:114) 1\n"
        "Thread.run (threading.py:1);WebhookDispatcher._send_forever"
        " (/x/worker/dispatcher.py:213) 2\n"
        "run (server.py:1);create_cash_out (/x/api/routes/cash_outs.py:40) 3\n"
    )
    total, found = shares(collapsed)
    assert total == 10
    assert found["worker threads: settlement, housekeeping, the dispatcher"] == 5
    assert found["  settlement"] == 4 and found["  the webhook dispatcher"] == 1
    assert found["webhook sending loop thread"] == 2
    assert found["  commit"] == 0  # settlement's, not the acceptance writer's
    assert found["event loop: HTTP, auth, validation, the answer"] == 3
