"""ASGI middleware: a request id per request, a body size cap, one access log line, and
the request's measures (by route template) for /metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.requests import ClientDisconnect

from connectpsp.api.errors import error_body
from connectpsp.api.jsonio import PayloadTooLarge
from connectpsp.logs import get_logger

__all__ = ["RequestContext"]

log = get_logger("connectpsp.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The access line's status for a request whose client went away before it could be
# answered (nginx's "client closed request"); never sent, as nobody is there to read it.
CLIENT_CLOSED_REQUEST = 499

Scope = dict[str, Any]
# (method, route template, status, seconds), once per request answered.
Observe = Callable[[str, str, int, float], None]
# The route label of a request no route matched (404s, and bodies refused before routing):
# its raw path would make a label per URL anyone sends.
UNMATCHED = "unmatched"


class RequestContext:
    """Pure ASGI (no per-request task hop): tags logs and the response with X-Request-Id,
    refuses bodies over ``max_body`` bytes with 413 (over ``larger[(method, path)]`` for
    the routes named there), and logs method, path, status, time; ``observe`` is also told
    each request, with the template of the route that matched."""

    def __init__(
        self,
        app: Any,
        *,
        max_body: int,
        observe: Observe | None = None,
        larger: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.observe = observe
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        max_body = self.larger.get((scope["method"], scope["path"]), self.max_body)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            await _send_error(
                send, request_id, 413, PayloadTooLarge.code, PayloadTooLarge.default_message
            )
            self._log(scope, 413, started)
            structlog.contextvars.clear_contextvars()
            return

        received = 0
        response_started = False
        # No GET route reads a body; only a streamed answer (the statement's CSV) reads
        # what comes, to hear the client go, and drops it: refusing it there would cut
        # that answer short (it may already be under way), so the cap is for the others.
        capped = scope["method"] not in ("GET", "HEAD")

        async def capped_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and capped:
                received += len(message.get("body", b""))
                if received > max_body:
                    raise PayloadTooLarge()
            return message

        async def tagged_send(message: Any) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, capped_receive, tagged_send)
        except ClientDisconnect:
            # The client closed the connection before its body was in (or the server
            # closed it, past the body deadline): not a fault of ours, and no one to answer.
            log.info("client_disconnected")
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
        except Exception as error:
            # Answered here, inside the request-id scope, rather than by Starlette's
            # outer error middleware; the body never carries a stack trace.
            log.error("unhandled_error", error_type=type(error).__name__, exc_info=error)
            if status == 500 and not response_started:
                await _send_error(
                    send, request_id, 500, "INTERNAL_ERROR", "An unexpected error occurred."
                )
        finally:
            self._log(scope, status, started)
            structlog.contextvars.clear_contextvars()

    def _log(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            ms=round(seconds * 1000, 2),
        )
        if self.observe is not None:
            # The router left the route it matched in the scope (Starlette sets it).
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.observe(scope["method"], route, status, seconds)


async def _send_error(send: Any, request_id: str, status: int, code: str, message: str) -> None:
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
