"""The background loops, as ``connectpsp serve`` and ``connectpsp worker`` run them:
settlement and housekeeping in one loop, webhook delivery in a loop of its own, so that
settlement never waits on a receiver."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from connectpsp.service.settlement import SettlementService
from connectpsp.worker.dispatcher import WebhookDispatcher
from connectpsp.worker.runner import Step, Worker, every

__all__ = ["HOUSEKEEPING_EVERY", "background"]

# How often housekeeping (forgetting old idempotency keys, pruning counters) runs.
HOUSEKEEPING_EVERY = timedelta(minutes=1)


def background(
    *,
    settlement: SettlementService,
    dispatcher: WebhookDispatcher,
    housekeeping: Sequence[Step],
    poll: timedelta,
    due: Sequence[Step] = (),
) -> Worker:
    """The worker: settlement and the ``due`` steps (expiring charges), then each
    housekeeping step at most once a minute, in one loop; the dispatcher beside it, woken
    when settlement or a due step made webhooks due and when an attempt ends (a slot is
    free)."""
    delivery = Worker([dispatcher.dispatch_due], poll=poll, name="connectpsp-webhooks")
    dispatcher.wake_when_free(delivery.wake)

    def settle() -> int:
        settled = settlement.run_due()
        if settled:  # its webhooks may be due now
            delivery.wake()
        return settled

    def woken(step: Step) -> Step:
        def run() -> int:
            done = step()
            if done:  # it may have queued webhooks
                delivery.wake()
            return done

        return run

    chores = [every(HOUSEKEEPING_EVERY, step) for step in housekeeping]
    return Worker([settle, *map(woken, due), *chores], poll=poll, beside=[delivery])
