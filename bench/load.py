"""The load generator: one call of ``run_load`` per process, each with its own event loop.

- Closed loop (saturation): ``concurrency`` connections, each sending its next request
  as soon as the last one is answered.
- Open loop (latency): requests are due at fixed times (``rate`` per second), and each
  latency is measured from the time the request was *due*, not from when a free
  connection sent it. A stalled server therefore shows up as latency instead of silently
  lowering the offered rate (coordinated omission).

Times are ``time.monotonic()``, which on Linux is one clock for every process, so the
harness can give all generators one start time and the webhook receiver can compute
end-to-end latency from a due time carried in the ``externalReference``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from .http1 import Connection, get_request, post_request

__all__ = ["Caller", "LoadResult", "LoadSpec", "run_load"]


@dataclass(frozen=True)
class Caller:
    """One merchant's request headers, computed once (the signature is per token)."""

    token: str
    application_token: str
    signature: str


@dataclass(frozen=True)
class LoadSpec:
    port: int
    route: str  # "cash_out", "cash_out_batch" or "healthz"
    mode: str  # "closed" or "open"
    concurrency: int  # connections in this process
    start_at: float  # time.monotonic() at which the warm-up starts
    warmup: float
    seconds: float
    tag: str  # unique per process and phase: idempotency keys and references derive from it
    callers: tuple[Caller, ...] = ()
    rate: float = 0.0  # open loop: requests per second from this process
    webhook_url: str | None = None
    first_caller: int = 0  # spreads processes over the clients
    items: int = 0  # "cash_out_batch": cash-outs per request (each counts as a success)
    requests: int = 0  # closed loop: stop after this many requests from this process (0: none)

    @property
    def window(self) -> tuple[float, float]:
        start = self.start_at + self.warmup
        return start, start + self.seconds


@dataclass
class LoadResult:
    # Successes: 202s, 200s for /healthz, and a batch's accepted items.
    ok: int = 0  # completed inside the window
    accepted: int = 0  # every success, warm-up and drain included
    first_ok: float = 0.0  # time.monotonic() of the first answered success, 0 if none
    statuses: Counter[int] = field(default_factory=Counter)  # failures; 0 = connection error
    latencies_us: list[int] = field(default_factory=list)  # of requests due in the window
    late: int = 0  # open loop: requests still unanswered when the drain gave up
    sample_error: str = ""
    window: tuple[float, float] = (0.0, 0.0)  # the measured window, set by the harness

    def merge(self, other: LoadResult) -> None:
        self.ok += other.ok
        self.accepted += other.accepted
        if other.first_ok and (not self.first_ok or other.first_ok < self.first_ok):
            self.first_ok = other.first_ok
        self.statuses.update(other.statuses)
        self.latencies_us += other.latencies_us
        self.late += other.late
        self.sample_error = self.sample_error or other.sample_error


class _Requests:
    """Renders request ``i`` of this process; every cash-out has a fresh key and reference."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.host = f"127.0.0.1:{spec.port}"
        self.ok_status = 202 if spec.route == "cash_out" else 200
        self.batch = spec.route == "cash_out_batch"
        self.items = spec.items if self.batch else 1
        self._healthz = get_request("/healthz", self.host)
        self._headers = [
            {
                "Authorization": f"Bearer {c.token}",
                "ApplicationToken": c.application_token,
                "DigitalSignature": c.signature,
            }
            for c in spec.callers
        ]
        hook = f',"webhookUrl":"{spec.webhook_url}"' if spec.webhook_url else ""
        # The body is built by hand: json.dumps per request would cost the generator
        # more than the server's parsing costs the server.
        self._body_head = b'{"amount":"0.01","externalReference":"'
        self._body_tail = (
            '","payee":{"name":"Maria Silva","document":"12345678909",'
            '"destination":{"type":"PIX","pixKeyType":"CPF","pixKey":"12345678909"}}'
            f"{hook}}}"
        ).encode()

    def render(self, i: int, due: float) -> bytes:
        if self.spec.route == "healthz":
            return self._healthz
        headers = self._headers[(self.spec.first_caller + i) % len(self._headers)]
        # "b<due ns>-..." lets the webhook receiver compute end-to-end latency.
        reference = f"b{int(due * 1e9)}-{self.spec.tag}-{i}"
        keyed = {**headers, "X-Idempotency-Key": f"{self.spec.tag}-{i}"}
        if self.spec.route == "cash_out":
            body = self._body_head + reference.encode() + self._body_tail
            return post_request("/cash-out", self.host, keyed, body)
        # A batch: every item a fresh reference, the request's own with the item's number.
        items = b",".join(
            self._body_head + f"{reference}-{n}".encode() + self._body_tail
            for n in range(self.items)
        )
        return post_request("/cash-out/batch", self.host, keyed, b'{"items":[' + items + b"]}")


_ITEM_ACCEPTED = b'{"status":202,'


async def _send(conn: Connection, raw: bytes, result: LoadResult, requests: _Requests) -> int:
    """Send one request; its successes (a batch's accepted items), 0 on failure."""
    try:
        status, body = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        result.statuses[0] += 1
        result.sample_error = result.sample_error or repr(error)
        await asyncio.sleep(0.01)  # do not spin on a refused connection
        return 0
    if status != requests.ok_status:
        result.statuses[status] += 1
        result.sample_error = result.sample_error or f"{status} {body[:300]!r}"
        return 0
    done = body.count(_ITEM_ACCEPTED) if requests.batch else 1
    if done < requests.items:  # a batch's refused items, counted under its 200
        result.statuses[status] += requests.items - done
        result.sample_error = result.sample_error or f"{status} {body[:300]!r}"
    result.accepted += done
    if done and not result.first_ok:
        result.first_ok = time.monotonic()
    return done


async def _closed(spec: LoadSpec, conns: list[Connection], result: LoadResult) -> None:
    requests = _Requests(spec)
    start, end = spec.window
    counter = iter(range(1 << 62))

    async def loop(conn: Connection) -> None:
        while (sent := time.monotonic()) < end:
            i = next(counter)
            if spec.requests and i >= spec.requests:
                return
            done = await _send(conn, requests.render(i, sent), result, requests)
            now = time.monotonic()
            if start <= now < end and done:
                result.ok += done
                if sent >= start:
                    result.latencies_us.append(int((now - sent) * 1e6))

    await _sleep_until(spec.start_at)
    await asyncio.gather(*(loop(c) for c in conns))


async def _open(spec: LoadSpec, conns: list[Connection], result: LoadResult) -> None:
    requests = _Requests(spec)
    start, end = spec.window
    interval = 1.0 / spec.rate
    counter = iter(range(1 << 62))

    async def loop(conn: Connection) -> None:
        while True:
            i = next(counter)
            due = spec.start_at + i * interval
            if due >= end:
                return
            await _sleep_until(due)
            done = await _send(conn, requests.render(i, due), result, requests)
            if due >= start and done:
                now = time.monotonic()
                result.ok += done if now < end else 0
                result.latencies_us.append(int((now - due) * 1e6))

    tasks = [asyncio.ensure_future(loop(c)) for c in conns]
    # Requests due before the end are waited for (their latency is the point), but not
    # for ever: an overloaded server would otherwise hold the harness hostage.
    _, pending = await asyncio.wait(tasks, timeout=end - time.monotonic() + 30)
    for task in pending:
        task.cancel()
    result.late = len(pending)


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _main(spec: LoadSpec) -> LoadResult:
    result = LoadResult()
    conns = [Connection("127.0.0.1", spec.port) for _ in range(spec.concurrency)]
    try:
        if spec.mode == "closed":
            await _closed(spec, conns, result)
        else:
            await _open(spec, conns, result)
    finally:
        for conn in conns:
            conn.close()
    return result


def run_load(spec: LoadSpec) -> LoadResult:
    """The entry point of one load-generator process."""
    try:
        import uvloop  # the server's own loop; cheaper per request than asyncio's

        return uvloop.run(_main(spec))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.run(_main(spec))
