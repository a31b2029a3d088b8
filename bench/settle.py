"""Settlement's own cost, without the API or the dispatcher: accept N cash-outs through
the service, then run ``SettlementService.run_due`` in this thread until none is left,
and print the items settled per second and the process's CPU time per item.

    .venv/bin/python -m bench.settle --db sqlite --items 3000
    .venv/bin/python -m bench.settle --db postgresql --items 3000 --limit 128 --payees many

``--payees same`` pays one CPF key (as the bench's loads do), ``many`` a key of its own
per cash-out (DICT asked for each); ``--webhooks`` gives each cash-out a webhookUrl, so
that settling also queues its deliveries (never sent here); ``--no-events`` publishes no
events at all (no webhook messages, no business logs): settlement's own cost, with the
simulated network as its rail. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.uow import sql_unit_of_work_factory
from connectpsp.bootstrap import build
from connectpsp.domain.cashout import CashOutRequest, CashOutStatus, Payee, PixDestination
from connectpsp.domain.events import Event
from connectpsp.domain.pix import PixKeyType
from connectpsp.logs import configure_logging
from connectpsp.service.acceptance import Accepted, Decided
from connectpsp.service.ports import UnitOfWork
from connectpsp.service.settlement import SettlementService

from .config import PG_ADMIN_URL
from .fixtures import create_merchants, scratch_database

__all__ = ["main"]


def _cpf(n: int) -> str:
    """A valid CPF made from ``n``."""
    digits = [int(c) for c in f"{100_000_000 + n:09d}"[-9:]]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def _payee(n: int, many: bool) -> Payee:
    document = _cpf(n) if many else "12345678909"
    return Payee("Maria Silva", document, PixDestination(PixKeyType.CPF, document))


def _nothing(_uow: UnitOfWork, _events: list[Event]) -> None:
    return None


def _drain(settlement: SettlementService, limit: int | None) -> int:
    """Run settlement until a pass finds nothing due; the jobs claimed."""
    claimed = 0
    while True:
        found = settlement.run_due(limit) if limit else settlement.run_due()
        if not found:
            return claimed
        claimed += found


def run(kind: str, items: int, limit: int | None, many: bool, webhooks: bool, events: bool) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(kind, Path(tmp), "settle", PG_ADMIN_URL) as settings,
    ):
        container = build(settings)
        try:
            [merchant] = create_merchants(container, 1, fee=1)
            with container.uow() as uow:
                client = uow.clients.get(merchant.client_id)
            assert client is not None
            url = "https://receiver.example/hook" if webhooks else None
            futures: list[Future[Decided[object]]] = [
                container.cash_outs.submit(  # type: ignore[misc]
                    client, f"k{i}", CashOutRequest(1, f"r{i}", None, url, _payee(i, many))
                )
                for i in range(items)
            ]
            accepted = sum(isinstance(f.result().outcome, Accepted) for f in futures)
            wall, cpu = time.perf_counter(), time.process_time()
            settlement = container.settlement
            if not events:
                # Committed events neither rendered nor logged: settlement's own cost.
                uow = sql_unit_of_work_factory(container.db, container.clock, _nothing)
                settlement = SettlementService(
                    uow, rail=container.network, clock=container.clock, ispb=settings.ispb
                )
            claimed = _drain(settlement, limit)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            with container.db.engine.connect() as conn:
                done = conn.execute(
                    select(func.count()).where(t.cash_outs.c.status == CashOutStatus.COMPLETED)
                ).scalar_one()
        finally:
            container.close()
    print(
        f"{kind:10} items {accepted} settled {done} claims {claimed} limit {limit or 'default'}"
        f" payees {'many' if many else 'same'} webhooks {webhooks} events {events}:"
        f" {done / wall:,.0f} items/s, {cpu / max(done, 1) * 1e6:,.0f} us CPU per item"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--limit", type=int, default=None, help="claim size (run_due's own)")
    parser.add_argument("--payees", choices=["same", "many"], default="same")
    parser.add_argument("--webhooks", action="store_true")
    parser.add_argument(
        "--no-events", action="store_true", help="publish no events (no webhooks, no logs)"
    )
    args = parser.parse_args()
    # The server's log lines (JSON, one write each), thrown away: not structlog's default
    # console renderer, which costs settlement several times what the server's does.
    configure_logging(console=False, file=os.devnull)
    run(args.db, args.items, args.limit, args.payees == "many", args.webhooks, not args.no_events)


if __name__ == "__main__":
    main()
