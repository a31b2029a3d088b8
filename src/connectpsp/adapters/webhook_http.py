"""Sending webhooks over HTTP, safely and cheaply.

The guard resolves the URL's host and refuses it if any address is not a public one
(``domain.webhooks.forbidden_address``), unless loopback is allowed (the sandbox's
default, for local development). The sender then connects to the address it
validated, not to a fresh DNS answer, so a host that re-resolves to an internal
address between check and use (DNS rebinding) gets nowhere. Redirects are not followed.

The timeout bounds the whole attempt (DNS lookup, connect, TLS, send, the answer's
status and headers), not each read: a receiver that trickles its status line a byte
at a time is cut off at the deadline. A body still arriving then is cut there too; the
status already counts.

Attempts run as tasks of one event loop, over keep-alive HTTP/1.1 connections
(``adapters.webhook_connection``): a thread and an httpx request per attempt cost more
CPU than the rest of a delivery (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urlsplit

import h11

from connectpsp.adapters.webhook_connection import (
    IDLE_SECONDS,
    Answer,
    Connection,
    PoolKey,
    Request,
)
from connectpsp.domain.clock import Clock
from connectpsp.domain.webhooks import forbidden_address, is_http_url
from connectpsp.service.ports import BlockedUrl, SendResult

__all__ = ["AddressGuard", "HttpSender"]

Resolver = Callable[[str, int], list[str]]
_KEPT_BODY = 1024  # of an answer's body, recorded with the attempt
_IDLE_PER_ADDRESS = 16


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    def __init__(self, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        # check_literal's answers (None: allowed; else why not), by URL: it needs no DNS,
        # so they hold, and every cash-out with a webhookUrl asks.
        self._literal: dict[str, str | None] = {}

    def check(self, url: str) -> None:
        self.resolve(url)

    def check_literal(self, url: str) -> None:
        """Refuse a URL whose host is itself a forbidden address, in any form the
        resolver would take (``2130706433``, ``0x7f000001``, ``[::ffff:10.0.0.1]``), or
        ``localhost``; without a DNS lookup. A name is checked when it is sent to."""
        if url in self._literal:
            refused = self._literal[url]
        else:
            try:
                self._check_literal(url)
                refused = None
            except BlockedUrl as blocked:
                refused = str(blocked)
            if len(self._literal) >= 1024:
                self._literal.clear()
            self._literal[url] = refused
        if refused is not None:
            raise BlockedUrl(refused)

    def _check_literal(self, url: str) -> None:
        if not is_http_url(url):
            raise BlockedUrl("must be an absolute http or https URL")
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            addresses = ["127.0.0.1"]
        else:
            try:
                infos = socket.getaddrinfo(
                    host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
                )
            except (OSError, UnicodeError):
                return
            addresses = [str(info[4][0]) for info in infos]
        self._refuse_forbidden(addresses)

    def resolve(self, url: str) -> tuple[SplitResult, str]:
        """The URL's parts and the one validated address to connect to."""
        # Also at each send: a URL stored before its port was checked is refused as
        # blocked (a failed attempt), not raised out of the sender.
        if not is_http_url(url):
            raise BlockedUrl("must be an absolute http or https URL")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError):
            raise BlockedUrl(f"host {host!r} does not resolve") from None
        if not addresses:
            raise BlockedUrl(f"host {host!r} does not resolve")
        self._refuse_forbidden(addresses)
        return parts, addresses[0]

    def _refuse_forbidden(self, addresses: list[str]) -> None:
        for address in addresses:
            if forbidden_address(address) and not (self._allow_loopback and _is_loopback(address)):
                raise BlockedUrl(
                    "resolves to an address webhooks may not reach (loopback, private, "
                    "link-local or reserved)"
                )


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class HttpSender:
    """POSTs webhooks over keep-alive HTTP/1.1 connections, on the caller's event loop.

    One event loop carries every attempt under way (no thread per attempt); the usual
    answer is read by hand, any other by h11. Connections are kept per validated
    address (and TLS host name) and reused while the receiver keeps them open."""

    def __init__(self, guard: AddressGuard, *, timeout: float, clock: Clock) -> None:
        self._guard = guard
        self._clock = clock
        self.timeout = timeout
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._swept = 0.0
        self._literal: dict[str, tuple[SplitResult, str]] = {}  # checked URLs with an address

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._drop_idle()
            self._loop = loop
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        # One scope bounds the whole attempt. Once the answer's status is in, it counts:
        # a body that trickles or breaks off is cut there, and only its connection goes.
        exchanged: tuple[PoolKey, Connection, Answer] | None = None
        first, whole = bytearray(), False
        try:
            async with asyncio.timeout_at(loop.time() + self.timeout):
                parts, address = await self._resolve(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                key = (parts.scheme, address, port, parts.hostname or "")
                request = _request(parts, headers, body)
                exchanged = (key, *await self._exchange(key, request))
                whole = await exchanged[1].read_body(first, _KEPT_BODY)
        except BlockedUrl as blocked:
            return SendResult(None, None, elapsed(), error=f"blocked: {blocked}"[:200])
        except TimeoutError:
            if exchanged is None:
                return SendResult(None, None, elapsed(), error="timeout")
        except (OSError, h11.ProtocolError) as error:  # ssl.SSLError is an OSError
            if exchanged is None:
                return SendResult(None, None, elapsed(), error=type(error).__name__[:200])
        key, connection, response = exchanged
        if whole and connection.reusable():
            self._keep(key, connection)
        else:
            connection.close()
        return SendResult(
            response.status_code,
            first[:_KEPT_BODY].decode("utf-8", "replace"),
            elapsed(),
            retry_after=_retry_after(response.header(b"retry-after"), self._clock),
        )

    async def _resolve(self, url: str) -> tuple[SplitResult, str]:
        """The guard's check; a host name's DNS lookup runs in a thread, an address's
        needs none."""
        known = self._literal.get(url)
        if known is not None:
            return known
        if not is_http_url(url):
            raise BlockedUrl("must be an absolute http or https URL")
        host = urlsplit(url).hostname or ""
        if not _is_address(host):
            return await asyncio.get_running_loop().run_in_executor(None, self._guard.resolve, url)
        checked = self._guard.resolve(url)  # raises for a forbidden address: not kept
        if len(self._literal) >= 1024:
            self._literal.clear()
        self._literal[url] = checked  # an address resolves to itself, now and later
        return checked

    async def _exchange(self, key: PoolKey, request: Request) -> tuple[Connection, Answer]:
        """Send on an idle connection, or a new one if none is open (or the idle one
        turns out closed before it answers anything)."""
        while (connection := self._take_idle(key)) is not None:
            try:
                return connection, await connection.request(request)
            except (OSError, h11.ProtocolError):
                connection.close()  # the receiver had closed it: open another
                if connection.answered_anything:
                    raise
            except BaseException:
                connection.close()
                raise
        connection = await Connection.open(key)
        try:
            return connection, await connection.request(request)
        except BaseException:
            connection.close()
            raise

    def _take_idle(self, key: PoolKey) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.open_for_reuse(now):
                return connection
            connection.close()
        return None

    def _keep(self, key: PoolKey, connection: Connection) -> None:
        now = time.monotonic()
        connection.idle_since = now
        idle = self._idle.setdefault(key, [])
        if len(idle) < _IDLE_PER_ADDRESS:
            idle.append(connection)
        else:
            connection.close()
        if now - self._swept > IDLE_SECONDS:
            self._swept = now
            self._close_stale(now)

    def _close_stale(self, now: float) -> None:
        for pool_key, kept in list(self._idle.items()):
            for stale in [c for c in kept if not c.open_for_reuse(now)]:
                stale.close()
                kept.remove(stale)
            if not kept:
                del self._idle[pool_key]

    def _drop_idle(self) -> None:
        for kept in self._idle.values():
            for connection in kept:
                connection.close()
        self._idle.clear()

    def close(self) -> None:
        """Close the idle connections (call it from the sender's loop, or once that loop
        has stopped)."""
        self._drop_idle()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _request(parts: SplitResult, headers: dict[str, str], body: bytes) -> Request:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    fields = [
        ("host", parts.netloc.rpartition("@")[2]),
        *headers.items(),
        ("content-length", str(len(body))),
    ]
    return Request(target, fields, body)


def _retry_after(value: str | None, clock: Clock) -> timedelta | None:
    """``Retry-After`` as seconds or as an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - clock.now(), timedelta())
