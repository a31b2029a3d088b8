"""The console's pages: the dashboard, MED infractions (with their decisions, audited)
and the audit log (the clients' pages are ``console.clients``). Every page needs a
session; every action a CSRF token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, Refused, source_of, status_of
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import ConnectPSPError, NotFound
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.service.operators import SignedIn

__all__ = ["page_routes"]

REASON_MAX = 500  # what an infraction keeps of a rejection's reason
AUDIT_PAGE = 100


def infraction_record(i: Infraction) -> dict[str, Any]:
    """What the audit log keeps of a report, before and after a decision."""
    record = asdict(i)
    record["status"] = i.status.value
    for moment in ("reported_at", "deadline", "decided_at"):
        value = record[moment]
        record[moment] = iso_local(value) if value is not None else None
    return record


def page_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    def _names() -> dict[str, str]:
        """Clients' names by id, to show who a row is about."""
        return {c.id: c.name for c in services.clients.list()}

    @router.get("")
    async def root() -> Response:
        return web.redirect("/console/")

    @router.get("/")
    async def dashboard(request: Request) -> Response:
        who = await web.signed_in(request)
        overview = await run_in_threadpool(services.overview.overview)
        names = await run_in_threadpool(_names) if overview.failing else {}
        return web.page("dashboard.html", who=who, o=overview, names=names, active="dashboard")

    @router.get("/infractions")
    async def infractions(
        request: Request, status: str = "OPEN", decided: str | None = None
    ) -> Response:
        who = await web.signed_in(request)
        wanted = InfractionStatus.__members__.get(status)
        found = await run_in_threadpool(
            lambda: services.infractions.listed(status=wanted, limit=200)
        )
        return web.page(
            "infractions.html",
            who=who,
            items=found,
            names=await run_in_threadpool(_names),
            shown=wanted.value if wanted else "ALL",
            decided=decided,
            reason_max=REASON_MAX,
            active="infractions",
        )

    @router.post("/infractions/{infraction_id}/accept")
    async def accept(request: Request, infraction_id: str) -> Response:
        who = await web.signed_in(request)
        web.check_csrf(who.csrf, await web.form(request))
        await _decide(who, request, infraction_id, None)
        return web.redirect(f"/console/infractions?status=ALL&decided={infraction_id}")

    @router.post("/infractions/{infraction_id}/reject")
    async def reject(request: Request, infraction_id: str) -> Response:
        who = await web.signed_in(request)
        form = await web.form(request)
        web.check_csrf(who.csrf, form)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > REASON_MAX or not reason.isprintable():
            raise Refused(400, f"Say why it is rejected, in at most {REASON_MAX} characters.")
        await _decide(who, request, infraction_id, reason)
        return web.redirect(f"/console/infractions?status=ALL&decided={infraction_id}")

    async def _decide(
        who: SignedIn, request: Request, infraction_id: str, reason: str | None
    ) -> None:
        med = services.infractions

        def run() -> Infraction:
            before = services.overview.infraction(infraction_id)
            if before is None:
                raise NotFound(f"No infraction {infraction_id}.")
            # decidedBy reaches the client's webhooks: it names the role, not the
            # person; the audit log names the person.
            return services.operators.audited(
                who,
                "infraction.reject" if reason else "infraction.accept",
                ("infraction", infraction_id),
                before=infraction_record(before),
                run=(
                    (lambda: med.reject(infraction_id, by="operator", reason=reason))
                    if reason
                    else (lambda: med.accept(infraction_id, by="operator"))
                ),
                after=infraction_record,
                source=source_of(request),
            )

        try:
            await run_in_threadpool(run)
        except ConnectPSPError as error:
            raise Refused(status_of(error), error.message) from None

    @router.get("/audit")
    async def audit(request: Request, before: str | None = None) -> Response:
        who = await web.signed_in(request)
        if before is not None and not (before.isascii() and before.isdigit()):
            raise Refused(400, "?before= takes the id of an entry of the log.")
        before_id = int(before) if before is not None else None
        entries = await run_in_threadpool(
            lambda: services.operators.audit_log(limit=AUDIT_PAGE, before_id=before_id)
        )
        older = entries[-1].id if len(entries) == AUDIT_PAGE else None
        return web.page("audit.html", who=who, entries=entries, older=older, active="audit")

    return router
