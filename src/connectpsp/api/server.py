"""The HTTP server: uvicorn (httptools, uvloop) as ``connectpsp serve`` and the tests run it,
with deadlines on clients that are slow to send.

uvicorn closes a connection that idles after a response (``timeout_keep_alive``), but
nothing else: a client that opens a connection and sends nothing, or trickles a request
head or body a byte at a time, holds its connection (and a file descriptor) for ever, and
each byte even cancels the keep-alive timer. ``SlowClientDeadlines`` adds the two deadlines
uvicorn lacks (its issue #157, open since 2018), measured from the start and not reset by
each byte:

- the request head (request line and headers) must be complete within
  ``header_timeout_seconds`` of the connection opening, or of the first byte of the next
  request on a kept-alive connection;
- the body must be complete within ``body_timeout_seconds`` of the head.

A connection past a deadline with part of a request gets ``408 REQUEST_TIMEOUT`` and is
closed; one that sent nothing is just closed. A request that the app is answering is never
cut: the deadlines are about the client sending, and a response already under way is
finished first (the connection then closes instead of being kept alive).

A request the HTTP parser refuses (a control character in a header, a broken request line,
a URL over 64 KiB) gets ``400 HTTP_ERROR`` in the API's error shape, where uvicorn would
answer in plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connectpsp.api.errors import HTTP_FALLBACK, error_body
from connectpsp.logs import get_logger
from connectpsp.settings import Settings

__all__ = ["SlowClientDeadlines", "deadlines_protocol", "run", "server_config"]

log = get_logger("connectpsp.server")
REQUEST_TIMEOUT_CODE = "REQUEST_TIMEOUT"
STARTUP_FAILURE = 3  # uvicorn.run's exit status when the server could not start


class SlowClientDeadlines(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on receiving each request's head and
    body. One timer per connection at most: a new connection starts with one, and a
    request whose head and body arrive in one read (the usual case) adds none."""

    header_timeout: float = 5.0
    body_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._mid_head = False  # some of a request head has arrived, not all of it
        self._awaiting_body = False  # the head is in, the body is not complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None or self.transport.is_closing():
            return
        if self._awaiting_body:
            self._arm(self.body_timeout)
        elif self._between_requests() and self.timeout_keep_alive_task is None:
            # Bytes of a next request (uvicorn's data_received has just cancelled the
            # keep-alive timer), or the rest of a body the app answered without reading.
            self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        self._mid_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._mid_head = False
        self._awaiting_body = True
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._disarm()
        super().on_message_complete()

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._awaiting_body:
            if self.flow.read_paused:
                # We stopped reading (back-pressure, or a pipelined request waiting its
                # turn): the client cannot be late while we are not listening.
                self._arm(self.body_timeout)
            elif cycle.response_complete:  # answered without the rest of the body
                self.transport.close()
            elif cycle.response_started:
                cycle.keep_alive = False  # finish this response, then close
            else:
                cycle.disconnected = True  # the app waiting for the body gets a disconnect
                self._send_408("body", self.body_timeout)
        elif not self._between_requests():
            cycle.keep_alive = False  # an earlier request is being answered: finish it first
        elif self._mid_head:
            self._send_408("head", self.header_timeout)
        else:  # not a byte of a request: nobody to answer
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses (it has logged ``msg`` as a
        warning), in the error shape rather than in plain text."""
        self._send_and_close(
            HTTPStatus.BAD_REQUEST, error_body(HTTP_FALLBACK, "The request is not valid HTTP/1.1.")
        )

    def _send_408(self, part: str, seconds: float) -> None:
        log.info("request_timeout", part=part, seconds=seconds)
        body = error_body(
            REQUEST_TIMEOUT_CODE, f"The request {part} was not received within {seconds:g} s."
        )
        self._send_and_close(HTTPStatus.REQUEST_TIMEOUT, body)

    def _send_and_close(self, status: HTTPStatus, body: bytes) -> None:
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def deadlines_protocol(settings: Settings) -> type[SlowClientDeadlines]:
    """The protocol class with ``settings``' deadlines (uvicorn builds one per connection
    from the class alone)."""

    class Configured(SlowClientDeadlines):
        header_timeout = float(settings.header_timeout_seconds)
        body_timeout = float(settings.body_timeout_seconds)

    return Configured


def server_config(
    app: Any, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000
) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: the deadlines above, idle keep-alive connections
    closed after ``keepalive_timeout_seconds``, no WebSocket upgrades (the API has none),
    logs through ``connectpsp.logs`` and no uvicorn access log (the app logs each request)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=deadlines_protocol(settings),
        ws="none",
        lifespan="on",
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        log_config=None,
        access_log=False,
    )


def run(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, as ``uvicorn.run`` does: exit status 3 if the server
    could not start (the port is taken, say)."""
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGINT it stopped on once it has shut down.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
