"""Sending webhooks over HTTP, safely.

The guard resolves the URL's host and refuses it if any address is not a public one
(``domain.webhooks.forbidden_address``), unless loopback is allowed (the sandbox's
default, for local development). The sender then connects to the address it
validated, not to a fresh DNS answer, so a host that re-resolves to an internal
address between check and use (DNS rebinding) gets nowhere. Redirects are not followed.

The timeout bounds the whole attempt, not each phase of it: httpx's own timeout applies
afresh to every connect, write and read, so a receiver that trickles its status line
or headers a byte at a time would hold an attempt (and its lease) for as long as it
liked. Every socket operation of an attempt is given only what is left of the
attempt's deadline (``_DeadlineBackend``), and fails with a timeout once it has passed.
The deadline starts before the DNS lookup, whose time counts against it.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx

from connectpsp.domain.clock import Clock
from connectpsp.domain.webhooks import forbidden_address
from connectpsp.service.webhooks import BlockedUrl, SendResult

__all__ = ["AddressGuard", "HttpSender"]

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    def __init__(self, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve

    def check(self, url: str) -> None:
        self.resolve(url)

    def check_literal(self, url: str) -> None:
        """Refuse a URL whose host is itself a forbidden address, in any form the
        resolver would take (``2130706433``, ``0x7f000001``, ``[::ffff:10.0.0.1]``), or
        ``localhost``; without a DNS lookup. A name is checked when it is sent to."""
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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedUrl("must be an absolute http or https URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self._resolve(parts.hostname, port)
        except (OSError, UnicodeError):
            raise BlockedUrl(f"host {parts.hostname!r} does not resolve") from None
        if not addresses:
            raise BlockedUrl(f"host {parts.hostname!r} does not resolve")
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
    def __init__(self, guard: AddressGuard, *, timeout: float, clock: Clock) -> None:
        self._guard = guard
        self._clock = clock
        self._timeout = timeout
        transport = httpx.HTTPTransport(
            verify=_tls_context(),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        # httpx has no setting for httpcore's network backend; this one holds every
        # socket operation to the attempt's deadline.
        transport._pool._network_backend = _DeadlineBackend(httpcore.SyncBackend())
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            parts, address = self._guard.resolve(url)
        except BlockedUrl as blocked:
            return SendResult(None, None, elapsed(), error=f"blocked: {blocked}"[:200])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{host}:{port}").geturl()
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        request_headers = {**headers, "host": parts.netloc.rpartition("@")[2]}
        _attempt.deadline = started + self._timeout
        try:
            with self._client.stream(
                "POST", pinned, content=body, headers=request_headers, extensions=extensions
            ) as response:
                first = b""
                try:
                    for chunk in response.iter_bytes():
                        first += chunk
                        if len(first) >= 1024:
                            break
                except httpx.TimeoutException:
                    pass  # the answer's status came in time; a body that trickles is cut
                return SendResult(
                    response.status_code,
                    first[:1024].decode("utf-8", "replace"),
                    elapsed(),
                    retry_after=_retry_after(response.headers.get("retry-after"), self._clock),
                )
        except httpx.TimeoutException:
            return SendResult(None, None, elapsed(), error="timeout")
        except httpx.HTTPError as error:
            return SendResult(None, None, elapsed(), error=f"{type(error).__name__}"[:200])
        finally:
            _attempt.deadline = None

    def close(self) -> None:
        self._client.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default context, made once per process: loading a CA bundle takes tens of
    milliseconds, and every sender (a worker's, a restarted one's) would load it again."""
    return httpx.create_ssl_context()


class _Attempt(threading.local):
    """The ``time.monotonic()`` by which the attempt this thread is making must end."""

    deadline: float | None = None


_attempt = _Attempt()


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of this thread's attempt; ``expired`` is
    raised once nothing is left."""
    deadline = _attempt.deadline
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        within = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, within))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        within = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, within, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        within = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, within, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


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
