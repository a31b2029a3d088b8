"""Operators changing one client at once, on both databases: each ``clients update``
reads the client locked and writes it in one transaction, so none of the concurrent
changes is lost, and none undoes a concurrent disable."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from connectpsp.bootstrap import Container
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.clients import ClientChanges


def test_concurrent_updates_each_keep_the_others_changes(container: Container) -> None:
    clients = container.clients
    client_id = clients.create("concurrent", fee_plan=FeePlan(fixed=1, bps=1)).client_id
    changes: list[dict[str, Any]] = [
        {"name": "Renamed"},
        {"fee_fixed": 7},
        {"fee_bps": 100},
        {"cash_in_fee_fixed": 20},
        {"cash_in_fee_bps": 50},
        {"per_transaction_limit": 20_00},
        {"daily_limit": 500_00},
        {"risk": {"night_limit": 10_00}},
    ]
    start = threading.Barrier(len(changes) + 1)
    failures: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        start.wait()
        try:
            job()
        except BaseException as error:  # reported below, with the thread's error
            failures.append(error)

    jobs: list[Callable[[], object]] = [
        functools.partial(clients.update, client_id, ClientChanges(**c)) for c in changes
    ]
    jobs.append(functools.partial(clients.set_active, client_id, False))
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    after = clients.get(client_id)
    assert after.name == "Renamed" and not after.active
    assert (after.fee_plan, after.cash_in_fee_plan) == (FeePlan(7, 100), FeePlan(20, 50))
    assert (after.per_transaction_limit, after.daily_limit) == (20_00, 500_00)
    assert after.risk.night_limit == 10_00
