"""The console's refunds: every client's, newest first and keyset-paged, the client's
own (``POST /refunds``) and MED's (reason FRAUD) alike, each linked to the cash-in it
sends back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from connectpsp.console.listing import list_page
from connectpsp.console.web import ConsoleWeb
from connectpsp.domain.cashin_search import parse_refund_status
from connectpsp.domain.refunds import Refund

__all__ = ["refund_routes"]

PAGE = 50


def _key(refund: Refund) -> str:
    return refund.id


def refund_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)

    @router.get("/refunds")
    async def refunds(request: Request) -> Response:
        return await list_page(
            web,
            request,
            template="refunds.html",
            active="refunds",
            fields=("status",),
            parse=parse_refund_status,
            read=web.services.cash_in_reads.refunds,
            key=_key,
            page=PAGE,
        )

    return router
