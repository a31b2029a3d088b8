"""Blocks of received funds (``domain.blocks``): released when their time runs out (the
worker's step) or by the operator (``connectpsp blocks release``). A Pix from a payer
DICT marks for fraud is held when it is credited (``service.cashins``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectpsp.domain.blocks import Block, BlockReason
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import IllegalTransition, NotFound, StorageConflict
from connectpsp.service.ports import UnitOfWork, UnitOfWorkFactory

__all__ = ["RELEASE_TOPIC", "Blocks", "hold"]

RELEASE_TOPIC = "release_block"


def hold(uow: UnitOfWork, block: Block) -> None:
    """Record ``block`` and queue its release for when its time runs out; its hold
    transfer is the caller's to record, with the credit it holds."""
    uow.blocks.add(block)
    job = (block.id, {"blockId": block.id})
    uow.outbox.enqueue(RELEASE_TOPIC, [job], available_at=block.expires_at)


def _release(uow: UnitOfWork, block: Block, at: datetime, by: str) -> Block:
    released, back = block.release(at, by)
    if not uow.blocks.release(released):
        raise StorageConflict()  # released meanwhile: the retry sees it
    uow.ledger.record([back])
    return released


class Blocks:
    """The operator's view of blocks: list them, release one (``connectpsp blocks``);
    and the worker's step that releases those whose time ran out."""

    def __init__(
        self, uow: UnitOfWorkFactory, *, clock: Clock, lease: timedelta = timedelta(seconds=30)
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._lease = lease

    def release_due(self, limit: int = 64) -> int:
        """Release the blocks whose time ran out (the worker's step); the jobs claimed."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            until = now + self._lease
            jobs = uow.outbox.claim(RELEASE_TOPIC, now=now, lease_until=until, limit=limit)
            uow.commit()
        for job in jobs:
            with self._uow(write=True) as uow:
                block = uow.blocks.get(job.ref)
                if block is not None and block.active:
                    _release(uow, block, now, "expiry")
                uow.outbox.finish(job.id, at=now)
                uow.commit()
        return len(jobs)

    def listed(self, *, client_id: str | None = None, active_only: bool = True) -> list[Block]:
        with self._uow() as uow:
            return uow.blocks.listed(client_id=client_id, active_only=active_only, limit=1000)

    def release(self, block_id: str, *, by: str) -> Block:
        with self._uow(write=True) as uow:
            block = uow.blocks.get(block_id)
            if block is None:
                raise NotFound(f"No block {block_id}.")
            if block.reason is BlockReason.MED:
                raise IllegalTransition(
                    "A MED block ends by its infraction's decision: "
                    "connectpsp infractions accept|reject.",
                    {"reason": block.reason.value},
                )
            released = _release(uow, block, self._clock.now(), by)
            uow.commit()
        return released
