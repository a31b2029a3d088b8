"""The console's cash-outs: a search across clients, keyset-paged, and one cash-out's
timeline (its ledger transfers, the rail's record, webhook deliveries and returns)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, Refused, status_of
from connectpsp.domain.cashout_search import parse_query
from connectpsp.domain.errors import ValidationFailed

__all__ = ["cash_out_routes"]

PAGE = 50
SEARCHED = ("internalCode", "externalReference", "endToEndId", "payeeDocument", "status")
FIELDS = (*SEARCHED, "from", "to")


def cash_out_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    @router.get("/cash-outs")
    async def cash_outs(request: Request) -> Response:
        who = await web.signed_in(request)
        form = {name: request.query_params.get(name, "")[:200] for name in FIELDS}
        after = request.query_params.get("after") or None
        if after is not None and len(after) > 64:
            raise Refused(400, "?after= takes the id of a listed cash-out.")
        try:
            query = parse_query(form)
        except ValidationFailed as error:
            return web.page(
                "cash_outs.html",
                who=who,
                status=status_of(error),
                form=form,
                error=error.message,
                items=[],
                names={},
                more=None,
                searched=True,
                newest=None,
                active="cash-outs",
            )

        def read() -> tuple[list[Any], dict[str, str]]:
            found = services.console_reads.search(query, after, PAGE + 1)
            return found, {c.id: c.name for c in services.clients.list()}

        found, names = await run_in_threadpool(read)
        items = found[:PAGE]
        kept = {k: v for k, v in form.items() if v}
        more = None
        if len(found) > PAGE:
            more = "/console/cash-outs?" + urlencode({**kept, "after": items[-1].id})
        return web.page(
            "cash_outs.html",
            who=who,
            form=form,
            error=None,
            items=items,
            names=names,
            more=more,
            searched=not query.empty,
            newest="/console/cash-outs?" + urlencode(kept) if after is not None else None,
            active="cash-outs",
        )

    @router.get("/cash-outs/{cash_out_id}")
    async def cash_out(request: Request, cash_out_id: str, retried: str | None = None) -> Response:
        who = await web.signed_in(request)
        found = await run_in_threadpool(lambda: services.console_reads.timeline(cash_out_id))
        if found is None:
            raise Refused(404, f"No cash-out {cash_out_id}.")
        return web.page(
            "cash_out.html",
            who=who,
            t=found,
            c=found.cash_out,
            retried=retried,
            active="cash-outs",
        )

    return router
