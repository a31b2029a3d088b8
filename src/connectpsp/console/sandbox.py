"""The console's sandbox actions, mounted in sandbox mode only (elsewhere every route of
it answers 404, as the API's ``/sandbox`` routes do): fund a client, pay a BR Code as
another bank's customer, play a payee's bank returning a cash-out, and play a payer's PSP
reporting a received Pix (MED).

Each calls the very use case the API's sandbox route (or ``connectpsp sandbox fund``)
calls, with the operator, not a client, choosing whom it is about. Input is parsed here,
at the edge: amounts as the API writes them, in reais with a dot (``1500.00``, never
rounded: ``50.005`` is refused). Each action is CSRF-checked and audited as
``sandbox.*``, then the browser comes back to the page (``?done=``) with what it did."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, source_of, status_of
from connectpsp.domain.cashin_search import CashInQuery
from connectpsp.domain.cashout_search import CashOutQuery, CashOutTimeline
from connectpsp.domain.errors import ConnectPSPError, FieldError, NotFound, ValidationFailed
from connectpsp.domain.infractions import Infraction
from connectpsp.domain.ledger import Balance
from connectpsp.domain.money import Centavos, parse_amount, to_decimal
from connectpsp.domain.returns import ReturnReason
from connectpsp.service.operators import SignedIn

__all__ = ["FORMS", "parse_amount_field", "sandbox_routes"]

FORMS = ("fund", "pay", "return", "infraction")
# The API's own limits: a BR Code (SandboxPayIn), a MED report's details (InfractionIn).
BR_CODE_MAX = 512
DETAILS_MAX = 500
_ID_MAX = 64
_END_TO_END = re.compile(r"E[0-9]{8}[0-9]{12}[a-zA-Z0-9]{11}", re.ASCII)


@dataclass(frozen=True)
class Failure:
    """A form refused: which one, why, and the fields at fault (if any)."""

    form: str
    message: str
    fields: list[FieldError]


def parse_amount_field(
    text: str, errors: list[FieldError], name: str = "amount", *, optional: bool = False
) -> Centavos | None:
    """An amount in reais as the API takes it (``10.00``; ``10,00`` and ``50.005`` are
    refused, never rounded); a bad or missing one is added to ``errors``."""
    text = text.strip()
    if not text:
        if not optional:
            errors.append(FieldError(name, "is required, in reais such as 10.00"))
        return None
    try:
        return parse_amount(text)
    except ValueError as error:
        errors.append(FieldError(name, f"{error} (in reais, with a dot: 10.00)"))
        return None


def _text(form: dict[str, str], name: str, errors: list[FieldError], most: int) -> str:
    value = form.get(name, "").strip()
    if not value:
        errors.append(FieldError(name, "is required"))
    elif len(value) > most or not value.isprintable():
        errors.append(FieldError(name, f"must be at most {most} printable characters"))
    return value


def _checked(errors: list[FieldError]) -> None:
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ValidationFailed(errors, f"Invalid fields: {detail}.")


def _money(centavos: Centavos) -> str:
    return str(to_decimal(centavos))


def _balance(b: Balance) -> dict[str, Any]:
    return {"available": _money(b.available), "reserved": _money(b.reserved)}


def _cash_out(t: CashOutTimeline) -> dict[str, Any]:
    c = t.cash_out
    return {
        "client_id": c.client_id,
        "internal_code": c.internal_code,
        "status": c.status.value,
        "amount": _money(c.amount),
        "returned": _money(sum(r.amount for r in t.returns)),
        "returns": len(t.returns),
    }


def _infraction(i: Infraction) -> dict[str, Any]:
    return {
        "infraction_id": i.id,
        "client_id": i.client_id,
        "end_to_end_id": i.end_to_end_id,
        "status": i.status.value,
        "amount": _money(i.amount),
        "blocked": _money(i.blocked),
    }


def sandbox_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console/sandbox", include_in_schema=False)
    services = web.services
    reads = services.console_reads

    def receiver_of(end_to_end_id: str) -> str | None:
        """The client a Pix was credited to, by the cash-ins' endToEndId index."""
        found = services.cash_in_reads.search(CashInQuery(end_to_end_id=end_to_end_id), None, 1)
        return found[0].cash_in.client_id if found else None

    async def show(
        who: SignedIn,
        *,
        status: int = 200,
        failure: Failure | None = None,
        values: dict[str, dict[str, str]] | None = None,
        notice: dict[str, Any] | None = None,
    ) -> Response:
        clients = await run_in_threadpool(services.clients.list)
        return web.page(
            "sandbox.html",
            who=who,
            status=status,
            clients=clients,
            reasons=[r.value for r in ReturnReason],
            failure=failure,
            values=values or {},
            notice=notice,
            active="sandbox",
        )

    @router.get("")
    async def page(request: Request) -> Response:
        who = await web.signed_in(request)
        query = {k: v[:_ID_MAX] for k, v in request.query_params.items()}
        notice = await run_in_threadpool(lambda: _notice(query))
        values: dict[str, dict[str, str]] = {}
        if notice and notice["done"] == "pay":  # ready to report the Pix just paid
            values["infraction"] = {"endToEndId": notice["end_to_end_id"]}
        return await show(who, notice=notice, values=values)

    def _notice(query: dict[str, str]) -> dict[str, Any] | None:
        """What the last action did, read again now (only ids travel in the URL)."""
        done, subject = query.get("done"), query.get("id", "")
        try:
            if done == "fund":
                client = services.clients.get(subject)
                balance = services.clients.balance(subject)
                return {"done": done, "client": client, "balance": balance}
            if done == "pay" and _END_TO_END.fullmatch(subject):
                receiver = query.get("client")
                by = services.clients.get(receiver) if receiver else None
                if by is not None and receiver_of(subject) != by.id:
                    by = None  # the URL is not believed: the notice says what is stored
                return {"done": done, "end_to_end_id": subject, "client": by}
            if done == "return":
                timeline = reads.timeline(subject)
                return {"done": done, "t": timeline} if timeline else None
            if done == "infraction":
                found = services.overview.infraction(subject)
                if found is None:
                    return None
                owner = services.clients.get(found.client_id)
                return {"done": done, "i": found, "client": owner}
        except NotFound:
            return None
        return None

    def action(
        name: str, act: Callable[[SignedIn, str, dict[str, str]], dict[str, str]]
    ) -> Callable[[Request], Any]:
        """The route for one form: CSRF first, then ``act`` (which parses, and runs the
        use case audited) in a thread; back to the page with its result, or the form
        shown again with why it was refused."""

        async def route(request: Request) -> Response:
            who = await web.signed_in(request)
            form = await web.form(request)
            web.check_csrf(who.csrf, form)
            try:
                done = await run_in_threadpool(act, who, source_of(request), form)
            except ConnectPSPError as error:
                fields = error.errors if isinstance(error, ValidationFailed) else []
                kept = {k: v[:BR_CODE_MAX] for k, v in form.items() if k != "csrf"}
                return await show(
                    who,
                    status=status_of(error),
                    failure=Failure(name, error.message, fields),
                    values={name: kept},
                )
            return web.redirect("/console/sandbox?" + urlencode({"done": name, **done}))

        return route

    def fund(who: SignedIn, source: str, form: dict[str, str]) -> dict[str, str]:
        errors: list[FieldError] = []
        client_id = _text(form, "client", errors, _ID_MAX)
        amount = parse_amount_field(form.get("amount", ""), errors)
        _checked(errors)
        assert amount is not None
        services.clients.get(client_id)  # NotFound: nothing to audit
        before = _balance(services.clients.balance(client_id))
        services.operators.audited(
            who,
            "sandbox.fund",
            ("client", client_id),
            before={**before, "amount": _money(amount)},
            run=lambda: services.clients.fund(client_id, amount),
            after=lambda b: {**_balance(b), "amount": _money(amount)},
            source=source,
        )
        return {"id": client_id}

    def pay(who: SignedIn, source: str, form: dict[str, str]) -> dict[str, str]:
        errors: list[FieldError] = []
        code = _text(form, "brCode", errors, BR_CODE_MAX)
        amount = parse_amount_field(form.get("amount", ""), errors, optional=True)
        _checked(errors)
        # The code itself is kept in the record; its digest names it.
        digest = hashlib.sha256(code.encode()).hexdigest()[:32]

        record: dict[str, Any] = {}

        def paid(e2e: str) -> dict[str, Any]:
            # Who received it: the link the notice gives.
            record.update(end_to_end_id=e2e, client_id=receiver_of(e2e))
            return record

        services.operators.audited(
            who,
            "sandbox.pay",
            ("br_code", digest),
            before={"br_code": code, "amount": _money(amount) if amount else None},
            run=lambda: services.sandbox_payer.pay(br_code=code, amount=amount),
            after=paid,
            source=source,
        )
        done = {"id": record["end_to_end_id"]}
        return done | ({"client": record["client_id"]} if record["client_id"] else {})

    def send_back(who: SignedIn, source: str, form: dict[str, str]) -> dict[str, str]:
        errors: list[FieldError] = []
        ref = _text(form, "cashOut", errors, _ID_MAX)
        amount = parse_amount_field(form.get("amount", ""), errors)
        reason = form.get("reason", ReturnReason.MD06.value)
        if reason not in ReturnReason.__members__:
            errors.append(FieldError("reason", "must be MD06, BE08, FR01 or SL02"))
        _checked(errors)
        assert amount is not None
        # By its id, or by its internalCode (unique across clients).
        timeline = reads.timeline(ref)
        if timeline is None:
            found = reads.search(CashOutQuery(internal_code=ref), None, 1)
            timeline = reads.timeline(found[0].id) if found else None
        if timeline is None:
            raise NotFound(f"No cash-out {ref}.")
        c = timeline.cash_out
        client = services.clients.get(c.client_id)

        def after(_: None) -> dict[str, Any]:
            now = reads.timeline(c.id)
            return _cash_out(now) if now else {}

        services.operators.audited(
            who,
            "sandbox.return",
            ("cash_out", c.id),
            before={**_cash_out(timeline), "amount_back": _money(amount), "reason": reason},
            run=lambda: services.sandbox_returns.send_back(client, c.internal_code, amount, reason),
            after=after,
            source=source,
        )
        return {"id": c.id}

    def report(who: SignedIn, source: str, form: dict[str, str]) -> dict[str, str]:
        errors: list[FieldError] = []
        e2e = _text(form, "endToEndId", errors, _ID_MAX)
        if e2e and not _END_TO_END.fullmatch(e2e):
            errors.append(FieldError("endToEndId", "must be a Pix endToEndId (E + 31)"))
        amount = parse_amount_field(form.get("amount", ""), errors, optional=True)
        details = form.get("details", "").strip() or None
        if details is not None and (len(details) > DETAILS_MAX or not details.isprintable()):
            errors.append(FieldError("details", f"at most {DETAILS_MAX} printable characters"))
        _checked(errors)
        reported = services.operators.audited(
            who,
            "sandbox.infraction",
            ("cash_in", e2e),
            before={
                "end_to_end_id": e2e,
                "amount": _money(amount) if amount else None,
                "details": details,
            },
            run=lambda: services.infractions.report(e2e, amount, details),
            after=_infraction,
            source=source,
        )
        return {"id": reported.id}

    for name, act in zip(FORMS, (fund, pay, send_back, report), strict=True):
        router.add_api_route(f"/{name}", action(name, act), methods=["POST"])
    return router
