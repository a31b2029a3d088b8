"""One keep-alive HTTP/1.1 connection that POSTs webhooks to a validated address.

Most answers have one shape: ``HTTP/1.1``, a final status with a body, one
``Content-Length``, no ``Transfer-Encoding``, CRLF lines, no folded header. Such an
answer is read by hand, its head being a few splits. Any other answer is handed to
h11, with the bytes already read, and h11 parses it, or refuses it, as it always did.
Likewise a request is written by hand only when its target and headers pass a plain
check; otherwise h11 writes it, or refuses it. h11's request validation and parsing
took about half of the sending loop's CPU (docs/architecture.md, "Webhooks").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from dataclasses import dataclass
from typing import Any

import h11
import httpx

__all__ = ["Answer", "Connection", "PoolKey", "Request"]

PoolKey = tuple[str, str, int, str]  # scheme, validated address, port, TLS host name
IDLE_SECONDS = 30.0  # an idle connection older than this is closed, not reused

_MAX_HEAD = 64 * 1024  # an answer's status line and headers, read by hand
_STATUS = re.compile(rb"HTTP/1\.1 ([2-5][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_SAFE_TARGET = re.compile(r"/[!-~]*")  # visible ASCII, no space
_SAFE_NAME = re.compile(_TOKEN.pattern.decode())  # a header name we write, as one we read
_SAFE_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class Request:
    """A POST: its target (path and query), header fields and body."""

    target: str
    fields: list[tuple[str, str]]
    body: bytes

    def encoded(self) -> bytes | None:
        """The request as written by hand, or None if h11 must check it."""
        if not _SAFE_TARGET.fullmatch(self.target):
            return None
        lines = [f"POST {self.target} HTTP/1.1"]
        for name, value in self.fields:
            if not (_SAFE_NAME.fullmatch(name) and _SAFE_VALUE.fullmatch(value)):
                return None
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + self.body

    def events(self) -> list[h11.Event]:
        return [
            h11.Request(method="POST", target=self.target, headers=self.fields),
            h11.Data(data=self.body),
            h11.EndOfMessage(),
        ]


@dataclass(frozen=True)
class Answer:
    """An answer's status and header fields (names in lower case)."""

    status_code: int
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> str | None:
        for field, value in self.headers:
            if field == name:
                return value.decode("latin-1")
        return None


class Connection:
    """One HTTP/1.1 connection to a validated address; one exchange at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._h11: h11.Connection | None = None  # this exchange's parser, if h11 reads it
        self._rest = b""  # body bytes read with the head
        self._remaining = 0  # body bytes yet to read, by hand
        self._closing = False  # the answer said "Connection: close"
        self.idle_since = 0.0
        self.answered_anything = False

    @classmethod
    async def open(cls, key: PoolKey) -> Connection:
        scheme, address, port, hostname = key
        if scheme == "https":
            reader, writer = await asyncio.open_connection(
                address, port, ssl=_tls_context(), server_hostname=hostname
            )
        else:
            reader, writer = await asyncio.open_connection(address, port)
        return cls(reader, writer)

    async def request(self, request: Request) -> Answer:
        """Send ``request``; the answer's status and headers."""
        self.answered_anything = False
        self._h11, self._rest, self._remaining, self._closing = None, b"", 0, False
        raw = request.encoded()
        if raw is None:
            return await self._by_h11(request, bytearray(), sent=False)
        self._writer.write(raw)
        await self._writer.drain()
        buffer = bytearray()
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > _MAX_HEAD or b"\n\n" in buffer or b"\n\r\n" in buffer:
                return await self._by_h11(request, buffer, sent=True)  # h11's own limits
            data = await self._reader.read(65536)
            if not data:
                return await self._by_h11(request, buffer, sent=True, ended=True)
            self.answered_anything = True
            buffer += data
        answer = self._head(bytes(buffer[:end]), len(buffer) - end - 4)
        if answer is None:
            return await self._by_h11(request, buffer, sent=True)
        self._rest = bytes(buffer[end + 4 :])
        self._remaining -= len(self._rest)
        return answer

    def _head(self, head: bytes, after: int) -> Answer | None:
        """The head's answer, if it has the usual shape and ``after`` bytes of body
        came with it, no more; else None."""
        if head.count(b"\n") != head.count(b"\r\n"):
            return None
        status, *lines = head.split(b"\r\n")
        matched = _STATUS.fullmatch(status)
        if matched is None or matched[1] in (b"204", b"304"):
            return None
        headers, length, closing = [], None, False
        for line in lines:
            name, colon, value = line.partition(b":")
            value = value.strip(b" \t")
            if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
                return None
            name = name.lower()
            if name == b"content-length":
                if length is not None or not value.isdigit() or len(value) > 18:
                    return None
                length = int(value)
            elif name == b"transfer-encoding":
                return None
            elif name == b"connection":
                closing = closing or b"close" in value.lower()
            headers.append((name, value))
        if length is None or after > length:
            return None
        self._remaining, self._closing = length, closing
        return Answer(int(matched[1]), headers)

    async def _by_h11(
        self, request: Request, read: bytearray, *, sent: bool, ended: bool = False
    ) -> Answer:
        """h11 writes the request (or checks what was written by hand), then parses the
        answer from what was read so far on."""
        parser = self._h11 = h11.Connection(h11.CLIENT)
        written = b"".join(parser.send(event) or b"" for event in request.events())
        if not sent:
            self._writer.write(written)
            await self._writer.drain()
        parser.receive_data(bytes(read))
        if ended:
            parser.receive_data(b"")
        while True:
            event = await self._next_event(parser)
            if isinstance(event, h11.Response):
                return Answer(event.status_code, list(event.headers))
            if not isinstance(event, h11.InformationalResponse):
                raise ConnectionResetError("the receiver closed the connection unanswered")

    async def read_body(self, into: bytearray, limit: int) -> bool:
        """Read the body into ``into`` until it holds ``limit`` bytes (what came before
        a timeout stays there); whether that was all of it."""
        parser = self._h11
        if parser is not None:
            while len(into) < limit:
                event = await self._next_event(parser)
                if isinstance(event, h11.Data):
                    into += event.data
                else:
                    return isinstance(event, h11.EndOfMessage)
            return False
        if self._rest:
            into += self._rest
            self._rest = b""
        while self._remaining > 0 and len(into) < limit:
            data = await self._reader.read(min(self._remaining, 65536))
            if not data:
                self._closing = True
                return False
            into += data
            self._remaining -= len(data)
        return self._remaining == 0

    async def _next_event(self, parser: h11.Connection) -> Any:
        while True:
            event = parser.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self._reader.read(65536)
            self.answered_anything = self.answered_anything or bool(data)
            parser.receive_data(data)

    def reusable(self) -> bool:
        """The exchange ended cleanly, nothing came after it, and the receiver keeps
        the connection open."""
        parser = self._h11
        if parser is None:
            return self._remaining == 0 and not self._closing
        return (
            parser.our_state is h11.DONE
            and parser.their_state is h11.DONE
            and not parser.trailing_data[0]
        )

    def open_for_reuse(self, now: float) -> bool:
        return (
            now - self.idle_since < IDLE_SECONDS
            and not self._writer.is_closing()
            and not self._reader.at_eof()
        )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has been closed already
            self._writer.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CAs), made once per process: loading a CA
    bundle takes tens of milliseconds."""
    return httpx.create_ssl_context()
