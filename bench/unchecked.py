"""``python -m bench.unchecked PORT``: ``connectpsp serve --no-worker`` with every fraud
check off, for the checks' rows of ``python -m bench`` only.

No setting turns the checks off, on purpose: an operator must never be one variable
away from accepting cash-outs unchecked. The benchmark needs a server without them to
show what they cost (issue 20), so this builds one here: the very ``serve`` command,
whose container is built as always and then given a cash-out service that
- screens nothing: every payee is unmarked, with no DICT look-up and no cache;
- reads no client's history and records no decision: its flow is the real one, handed
  a unit of work whose risk store is empty and keeps nothing.
Everything else (the HTTP stack, authentication, the acceptance engine, the balance,
limit and reference checks, the writes, the business log) is the server's own. What
is left of the checks is their in-memory part: the fraud-marker check on an unmarked
payee and the decision's dataclass, which nothing keeps.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from unittest import mock

from connectpsp import bootstrap
from connectpsp.bootstrap import Container
from connectpsp.cli.server import serve
from connectpsp.domain.cashout import AcceptedCashOut, CashOutRequest
from connectpsp.domain.cashout_acceptance import UNMARKED
from connectpsp.domain.cashout_batch import BatchResult, CashOutBatch
from connectpsp.domain.risk import Decision, Screening, Tally
from connectpsp.service.acceptance import Submission
from connectpsp.service.cashouts import CashOutFlow, CashOutService
from connectpsp.service.ports import UnitOfWork

__all__ = ["UncheckedFlow", "Unscreened", "main", "unchecked"]


class Unscreened:
    """A screener that finds every payee unmarked, without asking anyone."""

    def screen(self, request: CashOutRequest) -> Screening:
        return UNMARKED

    def remembered(self, request: CashOutRequest) -> Screening | None:
        return UNMARKED


class _NoHistory:
    """A risk store with no history to read, that keeps no decision."""

    def tallies(
        self, client_ids: list[str], points: list[tuple[str, datetime]]
    ) -> tuple[dict[str, Tally], dict[tuple[str, datetime], Tally]]:
        return {}, {}

    def paid(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        return set()

    def record(self, decisions: list[Decision]) -> None:
        pass

    def decisions(
        self, *, client_id: str | None, since: datetime | None, limit: int
    ) -> list[Decision]:
        return []


class _Unrecorded:
    """The batch's unit of work, but for its risk store."""

    risk = _NoHistory()

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)


class UncheckedFlow(CashOutFlow):
    """The server's cash-out flow (``checked``), whose batches see no risk history and
    record no decision. Deciding, recording and restoring an outcome are the flow's
    own; after a commit, ``checked`` is told, as it would be (the worker's wake-up, the
    business log)."""

    def __init__(self, checked: CashOutFlow) -> None:
        super().__init__(on_accepted=lambda: None)
        self._checked = checked

    def load(
        self,
        uow: UnitOfWork,
        batch: Sequence[Submission[CashOutRequest | CashOutBatch]],
        now: datetime,
    ) -> Any:
        return self._checked.load(cast(UnitOfWork, _Unrecorded(uow)), batch, now)

    def write(self, uow: UnitOfWork, state: Any, now: datetime) -> None:
        self._checked.write(cast(UnitOfWork, _Unrecorded(uow)), state, now)

    def committed(self, results: list[AcceptedCashOut | BatchResult]) -> None:
        self._checked.committed(results)


def unchecked(container: Container) -> CashOutService:
    """A cash-out service like ``container.cash_outs``, on the same acceptance engine,
    with every fraud check off."""
    service = CashOutService(container.uow, engine=container.engine, screener=Unscreened())
    service.flow = UncheckedFlow(container.cash_outs.flow)
    return service


def _build(*args: Any, **kwargs: Any) -> Container:
    container = _BUILD(*args, **kwargs)
    container.cash_outs = unchecked(container)
    return container


_BUILD = bootstrap.build


def main(port: int) -> None:
    # ``serve`` builds its container with ``connectpsp.bootstrap.build``, looked up when
    # it runs: the one change to the command is the container's cash-out service.
    with mock.patch.object(bootstrap, "build", _build):
        serve(port=port, no_worker=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
