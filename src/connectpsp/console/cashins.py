"""The console's cash-ins (every client's received Pix): a search across clients,
keyset-paged, and one cash-in's timeline (its ledger transfers, blocks, MED report,
refunds with the rail's record of them, and webhook deliveries)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from connectpsp.console.listing import list_page, timeline_page
from connectpsp.console.web import ConsoleWeb
from connectpsp.domain.cashin_search import CashInRow, parse_query

__all__ = ["cash_in_routes"]

PAGE = 50
SEARCHED = ("internalCode", "txid", "externalReference", "endToEndId", "payerDocument", "status")
FIELDS = (*SEARCHED, "from", "to")


def _key(row: CashInRow) -> str:
    return row.cash_in.end_to_end_id


def cash_in_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    @router.get("/cash-ins")
    async def cash_ins(request: Request) -> Response:
        return await list_page(
            web,
            request,
            template="cash_ins.html",
            active="cash-ins",
            fields=FIELDS,
            parse=parse_query,
            read=services.cash_in_reads.search,
            key=_key,
            page=PAGE,
        )

    @router.get("/cash-ins/{end_to_end_id}")
    async def cash_in(request: Request, end_to_end_id: str, retried: str | None = None) -> Response:
        return await timeline_page(
            web,
            request,
            template="cash_in.html",
            active="cash-ins",
            read=lambda: services.cash_in_reads.timeline(end_to_end_id),
            subject=lambda t: t.cash_in,
            missing=f"No cash-in {end_to_end_id}.",
            retried=retried,
        )

    return router
