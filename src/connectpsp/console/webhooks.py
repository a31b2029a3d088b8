"""The console's webhook deliveries: those that ended failed, of every client, each with
a Retry (what ``connectpsp webhooks retry`` does), audited as ``webhook.retry``. A retry
makes any delivery due again, a successful one too: that is the **Send again** of a
client's deliveries (``console/replay.py``), the same message with the same webhook-id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, Refused, source_of, status_of
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import ConnectPSPError, NotFound
from connectpsp.service.ports import ClientDelivery

__all__ = ["back_to", "delivery_record", "webhook_routes"]

SHOWN = 200
BACK_PAGES = (  # where a retry was asked: a timeline, or a client's deliveries
    "/console/cash-outs/",
    "/console/cash-ins/",
    "/console/webhooks/endpoints?client=",
)


def delivery_record(found: ClientDelivery) -> dict[str, Any]:
    """What the audit log keeps of a delivery, before and after a retry."""
    d = found.delivery
    last = d.attempts[-1] if d.attempts else None
    return {
        "client_id": found.client_id,
        "url": d.url,
        "event_type": d.event_type,
        "status": d.status.value,
        "attempts": len(d.attempts),
        "last_status_code": None if last is None else last.status_code,
        "next_attempt_at": iso_local(d.next_attempt_at) if d.next_attempt_at else None,
    }


def back_to(form: dict[str, str]) -> str | None:
    """The page a retry was asked on, if it was (a cash-out's or a cash-in's, or a
    client's webhook endpoints and deliveries); never another site."""
    back = form.get("back", "")
    for page in BACK_PAGES:
        rest = back.removeprefix(page)
        fits = rest.isascii() and 0 < len(rest) <= 64 and rest.replace("-", "").isalnum()
        if back.startswith(page) and fits:
            return back
    return None


def webhook_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    @router.get("/webhooks")
    async def failed(request: Request, retried: str | None = None) -> Response:
        who = await web.signed_in(request)

        def read() -> tuple[list[ClientDelivery], dict[str, str]]:
            found = services.endpoints.failed(None, SHOWN)
            return found, {c.id: c.name for c in services.clients.list()}

        items, names = await run_in_threadpool(read)
        return web.page(
            "webhooks.html",
            who=who,
            items=items,
            names=names,
            retried=retried,
            active="webhooks",
        )

    @router.post("/webhooks/{delivery_id}/retry")
    async def retry(request: Request, delivery_id: str) -> Response:
        who = await web.signed_in(request)
        form = await web.form(request)
        web.check_csrf(who.csrf, form)
        reads = services.console_reads

        def run() -> None:
            before = reads.delivery(delivery_id)
            if before is None:
                raise NotFound(f"No webhook delivery {delivery_id}.")

            def after(_: str) -> dict[str, Any]:
                now = reads.delivery(delivery_id)
                return delivery_record(now) if now is not None else {}

            services.operators.audited(
                who,
                "webhook.retry",
                ("webhook_delivery", delivery_id),
                before=delivery_record(before),
                run=lambda: services.endpoints.retry_any(delivery_id),
                after=after,
                source=source_of(request),
            )

        try:
            await run_in_threadpool(run)
        except ConnectPSPError as error:
            raise Refused(status_of(error), error.message) from None
        back = back_to(form)
        if back is not None:  # retried on a timeline's or a client's page: back to it
            joint = "&" if "?" in back else "?"
            return web.redirect(f"{back}{joint}retried={delivery_id}")
        return web.redirect(f"/console/webhooks?retried={delivery_id}")

    return router
