"""The console's webhook endpoints: every client's (or one client's) registered endpoints,
each with a **Replay** of a window of its events (what ``POST /webhooks/{id}/replay``
does, for the operator, whatever the client), audited as ``webhook.replay``; and, for
one client, its latest deliveries, each of which can be sent again (the retry of
``console/webhooks.py``, which makes any delivery due again, a successful one too).

The window is written as São Paulo writes it: a time (``2026-12-05T14:00``, seconds
optional) or a day (``2026-12-05``: from its start, or to its end, whole)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, Refused, source_of, status_of
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import SAO_PAULO, iso_local
from connectpsp.domain.errors import ConnectPSPError, FieldError, NotFound, ValidationFailed
from connectpsp.domain.webhooks import DeliveryView, Endpoint
from connectpsp.service.operators import SignedIn

__all__ = ["ENDPOINTS_PAGE", "parse_window", "replay_routes"]

ENDPOINTS_PAGE = "/console/webhooks/endpoints"
DELIVERIES_SHOWN = 50
_ID_MAX = 64
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?", re.ASCII)
_WRITTEN = "a São Paulo time (YYYY-MM-DDTHH:MM) or a day (YYYY-MM-DD)"


def _moment(name: str, text: str, errors: list[FieldError]) -> datetime | None:
    """``text`` as São Paulo's time; a day is its start (``from``) or its end (``to``)."""
    text = text.strip()
    if not text:
        errors.append(FieldError(name, f"is required: {_WRITTEN}"))
        return None
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text) + timedelta(days=1 if name == "to" else 0)
            return datetime.combine(day, time(), SAO_PAULO)
        if _TIME.fullmatch(text):
            return datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO)
    except ValueError:
        pass  # the right shape, not a real day or time: 2026-02-30
    errors.append(FieldError(name, f"must be {_WRITTEN}"))
    return None


def parse_window(form: dict[str, str]) -> tuple[datetime, datetime]:
    """``[since, until)`` from the form's ``from`` and ``to``; ``ValidationFailed``
    naming the field that is missing, malformed, or out of order."""
    errors: list[FieldError] = []
    since = _moment("from", form.get("from", "")[:40], errors)
    until = _moment("to", form.get("to", "")[:40], errors)
    if since is not None and until is not None and until <= since:
        errors.append(FieldError("to", "must be after from"))
    if errors or since is None or until is None:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ValidationFailed(errors, f"Invalid window: {detail}.")
    return since, until


@dataclass(frozen=True)
class Listed:
    client: Client
    endpoint: Endpoint


@dataclass(frozen=True)
class Failure:
    endpoint_id: str
    message: str
    fields: list[FieldError]


def endpoint_record(e: Endpoint, since: datetime, until: datetime) -> dict[str, Any]:
    """What the audit log keeps of a replay, before and after (with ``replayed``)."""
    return {
        "client_id": e.client_id,
        "endpoint_id": e.id,
        "url": e.url,
        "enabled": e.enabled,
        "since": iso_local(since),
        "until": iso_local(until),
    }


def replay_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    def read(client_id: str | None) -> tuple[list[Client], list[Listed], list[DeliveryView]]:
        clients = services.clients.list()
        chosen = [c for c in clients if client_id is None or c.id == client_id]
        if client_id is not None and not chosen:
            raise NotFound(f"No client {client_id}.")
        listed = [Listed(c, e) for c in chosen for e in services.endpoints.endpoints(c)]
        shown: list[DeliveryView] = []
        if client_id is not None:  # one client's latest deliveries, to send one again
            shown = services.endpoints.deliveries(chosen[0], None, DELIVERIES_SHOWN)
        return clients, listed, shown

    async def show(
        who: SignedIn,
        client_id: str | None,
        *,
        status: int = 200,
        failure: Failure | None = None,
        values: dict[str, str] | None = None,
        replayed: dict[str, Any] | None = None,
        retried: str | None = None,
    ) -> Response:
        try:
            clients, listed, shown = await run_in_threadpool(read, client_id)
        except NotFound as error:
            raise Refused(404, error.message) from None
        return web.page(
            "endpoints.html",
            who=who,
            status=status,
            clients=clients,
            chosen=client_id,
            listed=listed,
            deliveries=shown,
            failure=failure,
            values=values or {},
            replayed=replayed,
            retried=retried,
            active="webhooks",
        )

    @router.get("/webhooks/endpoints")
    async def endpoints(request: Request) -> Response:
        who = await web.signed_in(request)
        q = {k: v[:_ID_MAX] for k, v in request.query_params.items()}
        replayed = None
        if q.get("replayed", "").isdigit() and q.get("endpoint"):
            replayed = {"count": int(q["replayed"]), "endpoint": q["endpoint"]}
        return await show(who, q.get("client") or None, replayed=replayed, retried=q.get("retried"))

    @router.post("/webhooks/endpoints/{endpoint_id}/replay")
    async def replay(request: Request, endpoint_id: str) -> Response:
        who = await web.signed_in(request)
        form = await web.form(request)
        web.check_csrf(who.csrf, form)
        client_id = form.get("client", "")[:_ID_MAX]
        back = form.get("back") == "client"  # the form was on that client's own list

        def run() -> int:
            since, until = parse_window(form)
            client = services.clients.get(client_id)
            found = [e for e in services.endpoints.endpoints(client) if e.id == endpoint_id]
            if not found:
                raise NotFound(f"No webhook endpoint {endpoint_id} of client {client_id}.")
            before = endpoint_record(found[0], since, until)
            return services.operators.audited(
                who,
                "webhook.replay",
                ("webhook_endpoint", endpoint_id),
                before=before,
                run=lambda: services.endpoints.replay(client, endpoint_id, since, until),
                after=lambda count: {**before, "replayed": count},
                source=source_of(request),
            )

        try:
            count = await run_in_threadpool(run)
        except ConnectPSPError as error:
            fields = error.errors if isinstance(error, ValidationFailed) else []
            kept = {k: form.get(k, "")[:40] for k in ("from", "to")}
            return await show(
                who,
                client_id if back else None,
                status=status_of(error),
                failure=Failure(endpoint_id, error.message, fields),
                values=kept,
            )
        to = {"client": client_id} if back else {}
        to |= {"replayed": str(count), "endpoint": endpoint_id}
        return web.redirect(f"{ENDPOINTS_PAGE}?{urlencode(to)}")

    return router
