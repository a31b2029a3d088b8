"""The console's cash-outs: a search across clients, keyset-paged, and one cash-out's
timeline (its ledger transfers, the rail's record, webhook deliveries and returns)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from connectpsp.console.listing import list_page, timeline_page
from connectpsp.console.web import ConsoleWeb
from connectpsp.domain.cashout_search import parse_query

__all__ = ["cash_out_routes"]

PAGE = 50
SEARCHED = ("internalCode", "externalReference", "endToEndId", "payeeDocument", "status")
FIELDS = (*SEARCHED, "from", "to")


def cash_out_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    @router.get("/cash-outs")
    async def cash_outs(request: Request) -> Response:
        return await list_page(
            web,
            request,
            template="cash_outs.html",
            active="cash-outs",
            fields=FIELDS,
            parse=parse_query,
            read=services.console_reads.search,
            key=lambda c: c.id,
            page=PAGE,
        )

    @router.get("/cash-outs/{cash_out_id}")
    async def cash_out(request: Request, cash_out_id: str, retried: str | None = None) -> Response:
        return await timeline_page(
            web,
            request,
            template="cash_out.html",
            active="cash-outs",
            read=lambda: services.console_reads.timeline(cash_out_id),
            subject=lambda t: t.cash_out,
            missing=f"No cash-out {cash_out_id}.",
            retried=retried,
        )

    return router
