"""The acceptance engine: how every POST that takes an ``X-Idempotency-Key`` is decided.

Requests of any flow (a cash-out, a webhook endpoint, ...) queue for one writer thread,
which takes every request waiting and decides them all in one write transaction
(``BEGIN IMMEDIATE`` on SQLite):
- the stored outcomes of the batch's idempotency keys are read once; a key seen before
  is a replay (the same request) or ``IDEMPOTENCY_KEY_MISMATCH`` (another one);
- each flow loads, once for its requests, what its decisions need (balances locked,
  references taken...), then decides each request in arrival order against what the
  ones before it left: accepted, or refused with one of the flow's stored refusals;
- each flow writes its accepted requests, and every outcome is stored against its key,
  in the same transaction; only after the commit is any request answered.

One commit (one fsync) thus serves a whole batch, while each request gets exactly the
answer it would have had alone. A process that dies before the commit has answered
nobody and stored nothing: every retry starts afresh, and there is no "claimed" key to
expire.

An outcome is stored as data (JSON), never as HTTP: the API renders it, the same way the
first time and on every replay, so a replay gets the same bytes. An outcome that holds a
secret (a webhook endpoint's signing secret) is stored encrypted.

The request fingerprint (``service/fingerprints.py``) tells a replay from another request
under the same key.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    StorageConflict,
    StorageUnavailable,
)
from connectpsp.service.fingerprints import canonical_json, fingerprint
from connectpsp.service.ports import Cipher, StoredOutcome, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "MAX_BATCH",
    "MAX_WEIGHT",
    "AcceptanceEngine",
    "Accepted",
    "Decided",
    "Flow",
    "Refused",
    "Submission",
]

# Enough to amortise a commit; small enough that a batch's transaction stays short.
MAX_BATCH = 256
# The same bound in the work requests carry (one each, or a bulk request's items): a
# transaction stops taking requests once it holds this much, so many concurrent bulk
# requests never make one transaction of hundreds of thousands of items.
MAX_WEIGHT = 2_048
# A batch that meets a concurrent writer (another process took a key or a reference
# first, or a deadlock) runs again this often before its requests are run one by one.
_ATTEMPTS = 3

C = TypeVar("C")  # a flow's command: the parsed request
R = TypeVar("R")  # a flow's result: what an acceptance answers
S = TypeVar("S")  # a flow's batch state


@dataclass(frozen=True)
class Submission(Generic[C]):
    """One request as a flow sees it; ``context`` is what was learnt about it before it
    was queued (a payee's screening), kept out of its fingerprint."""

    client: Client
    key: str | None
    command: C
    context: Any = None


@dataclass(frozen=True)
class Accepted(Generic[R]):
    result: R


@dataclass(frozen=True)
class Refused:
    """A refusal stored against the key, and replayed like an acceptance."""

    error: ConnectPSPError


@dataclass(frozen=True)
class Decided(Generic[R]):
    """The answer to a request: its outcome, and whether it is a replay of a stored one."""

    outcome: Accepted[R] | Refused
    replayed: bool = False


class Flow(Protocol[C, S, R]):
    """A kind of request the engine decides. ``decide`` changes ``state`` only when it
    accepts (a refusal raises first), so the requests after it see exactly what it left."""

    name: str  # in every fingerprint, and never reused for another flow
    refusals: tuple[type[ConnectPSPError], ...]  # stored against the key and replayed
    secret: bool  # its results hold a secret: stored encrypted

    def load(self, uow: UnitOfWork, batch: Sequence[Submission[C]], now: datetime) -> S: ...

    def decide(self, state: S, submission: Submission[C], now: datetime) -> R: ...

    def write(self, uow: UnitOfWork, state: S, now: datetime) -> None:
        """Write everything ``decide`` accepted into ``state``."""
        ...

    def record(self, result: R) -> dict[str, Any]:
        """``result`` as JSON-able data, for replays."""
        ...

    def restore(self, record: dict[str, Any]) -> R: ...

    def committed(self, results: list[R]) -> None:
        """Called after a commit that accepted ``results`` (wake a worker, say)."""
        ...


@dataclass(frozen=True)
class _Request:
    flow: Flow[Any, Any, Any]
    submission: Submission[Any]
    fingerprint: str
    answer: Future[Decided[Any]]
    weight: int = 1

    @property
    def slot(self) -> tuple[str, str] | None:
        key = self.submission.key
        return None if key is None else (self.submission.client.id, key)


_Outcome = Decided[Any] | BaseException


class AcceptanceEngine:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        cipher: Cipher,
        max_batch: int = MAX_BATCH,
        max_weight: int = MAX_WEIGHT,
        canonical: Callable[[Any], bytes] = canonical_json,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._cipher = cipher
        self._canonical = canonical  # the fingerprint's JSON encoder
        self._max_batch = max_batch
        self._max_weight = max_weight
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # Keys queued or being decided in this process: a second request with one of
        # them is told it is in flight rather than queued behind the first.
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closed = False

    def decide(
        self, flow: Flow[C, Any, R], client: Client, key: str | None, command: C
    ) -> Decided[R]:
        """``submit``, waiting for the committed answer."""
        return self.submit(flow, client, key, command).result()

    def submit(
        self,
        flow: Flow[C, Any, R],
        client: Client,
        key: str | None,
        command: C,
        context: Any = None,
        weight: int = 1,
    ) -> Future[Decided[R]]:
        """Queue a request for the writer; the future holds its committed answer, or the
        error that kept it from being decided (nothing stored). ``weight``: how many
        requests' work it carries (a bulk request's items)."""
        answer: Future[Decided[R]] = Future()
        pending = _Request(
            flow,
            Submission(client, key, command, context),
            fingerprint(flow.name, command, self._canonical),
            answer,
            weight,
        )
        with self._lock:
            if self._closed:
                raise StorageUnavailable("The server is shutting down; retry.")
            slot = pending.slot
            if slot is not None:
                if slot in self._in_flight:
                    answer.set_exception(IdempotencyKeyInUse())
                    return answer
                self._in_flight.add(slot)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name="acceptance-writer", daemon=True
                )
                self._writer.start()
        self._queue.put(pending)
        return answer

    def forget_before(self, cutoff: datetime) -> int:
        """Drop the outcomes stored before ``cutoff``: their keys are free again."""
        with self._uow(write=True) as uow:
            forgotten = uow.idempotency.forget_before(cutoff)
            uow.commit()
        return forgotten

    def forget_older_than(self, retention: timedelta) -> int:
        return self.forget_before(self._clock.now() - retention)

    def close(self, timeout: float = 30.0) -> None:
        """Decide what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout)

    # the writer ----------------------------------------------------------------------

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            weight = first.weight
            # The request that reaches the weight is taken whole: a bulk request is never
            # split, so a transaction holds at most max_weight plus one request's work.
            while len(batch) < self._max_batch and weight < self._max_weight:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
                weight += more.weight
            try:
                outcomes = self._run(batch)
            except BaseException as error:  # never leave a request waiting for ever
                outcomes = [error] * len(batch)
            self._answer(batch, outcomes)

    def _answer(self, batch: list[_Request], outcomes: list[_Outcome]) -> None:
        with self._lock:
            for request in batch:
                if request.slot is not None:
                    self._in_flight.discard(request.slot)
        accepted: dict[int, tuple[Flow[Any, Any, Any], list[Any]]] = {}
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                request.answer.set_exception(outcome)
                continue
            if isinstance(outcome.outcome, Accepted) and not outcome.replayed:
                flow = request.flow
                accepted.setdefault(id(flow), (flow, []))[1].append(outcome.outcome.result)
            request.answer.set_result(outcome)
        for flow, results in accepted.values():
            flow.committed(results)

    def _run(self, batch: list[_Request]) -> list[_Outcome]:
        """Every request's outcome, committed; a request that cannot be decided with the
        others (an unexpected error) is decided alone, so it fails alone."""
        for _ in range(_ATTEMPTS):
            try:
                with self._uow(write=True) as uow:
                    outcomes = self._decide(uow, batch)
                    uow.commit()
                return outcomes
            except StorageConflict:
                continue  # run again: the other writer's rows are visible now
            except StorageUnavailable as error:
                return [error] * len(batch)
            except Exception as error:
                if len(batch) == 1:
                    return [error]
                break
        if len(batch) == 1:
            return [StorageConflict()]
        return [outcome for request in batch for outcome in self._run([request])]

    def _decide(self, uow: UnitOfWork, batch: list[_Request]) -> list[_Outcome]:
        now = self._clock.now()
        slots = sorted({r.slot for r in batch if r.slot is not None})
        stored = uow.idempotency.find(slots) if slots else {}
        fresh = [r for r in batch if r.slot not in stored]
        flows: dict[int, Flow[Any, Any, Any]] = {}
        for request in fresh:
            flows.setdefault(id(request.flow), request.flow)
        states = {
            ident: flow.load(uow, [r.submission for r in fresh if r.flow is flow], now)
            for ident, flow in flows.items()
        }
        outcomes: list[_Outcome] = []
        keep: list[StoredOutcome] = []
        for request in batch:
            previous = stored.get(request.slot) if request.slot is not None else None
            if previous is not None:
                outcomes.append(self._replay(previous, request))
                continue
            flow = request.flow
            try:
                result = flow.decide(states[id(flow)], request.submission, now)
            except flow.refusals as refusal:
                decided: Decided[Any] = Decided(Refused(refusal))
                record: dict[str, Any] = {"refused": _refusal_record(refusal)}
            except ConnectPSPError as error:  # not the request's outcome: nothing stored
                outcomes.append(error)
                continue
            else:
                decided = Decided(Accepted(result))
                record = {"accepted": flow.record(result)}
            if request.slot is not None:
                client_id, key = request.slot
                body = self._seal(flow, request.slot, record)
                keep.append(StoredOutcome(client_id, key, request.fingerprint, body))
            outcomes.append(decided)
        with uow.pipelined():  # the writes and the stored outcomes; a read inside still waits
            for ident, flow in flows.items():
                flow.write(uow, states[ident], now)
            uow.idempotency.store(keep, at=now)
        return outcomes

    def _replay(self, previous: StoredOutcome, request: _Request) -> _Outcome:
        if previous.fingerprint != request.fingerprint:
            return IdempotencyKeyMismatch()
        assert request.slot is not None
        flow = request.flow
        record = self._open(request.slot, previous.outcome)
        if "refused" in record:
            refusal = record["refused"]
            kind = next(k for k in flow.refusals if k.code == refusal["code"])
            return Decided(Refused(kind(refusal["message"], refusal["details"])), replayed=True)
        return Decided(Accepted(flow.restore(record["accepted"])), replayed=True)

    def _seal(
        self, flow: Flow[Any, Any, Any], slot: tuple[str, str], record: dict[str, Any]
    ) -> bytes:
        # Key order kept as given: a refusal's details replay in the order they were sent.
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        if flow.secret:
            text = "enc:" + self._cipher.encrypt(text, context=_context(slot))
        return text.encode()

    def _open(self, slot: tuple[str, str], stored: bytes) -> dict[str, Any]:
        text = stored.decode()
        if text.startswith("enc:"):
            text = self._cipher.decrypt(text.removeprefix("enc:"), context=_context(slot))
        found: dict[str, Any] = json.loads(text)
        return found


def _context(slot: tuple[str, str]) -> str:
    client_id, key = slot
    return f"idempotency:{client_id}:{key}"


def _refusal_record(error: ConnectPSPError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "details": error.details}
