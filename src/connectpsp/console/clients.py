"""The console's clients: the list and each client's page (balance, fees, limits, keys,
MED reports), and what an operator does to one, each behind the session's CSRF token
and written to the audit log (``client_forms.client_record``, before and after: never a
secret or a hash):

- ``client.create``: the new client's credentials are shown once, on the answer to the
  form, and nowhere after; the form carries the id it will have, so sending it twice
  makes one client, not two;
- ``client.disable`` and ``client.enable`` (``ClientService.set_active``);
- ``client.rotate_secret``: a new clientSecret, shown once; the old one and its tokens
  are refused (``service.auth``);
- ``client.update``: the fees and limits, checked as ``clients update`` checks them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.client_forms import (
    LABELS,
    SETTINGS,
    client_record,
    errors_by_field,
    read_changes,
    read_client_id,
    read_new_client,
    settings_form,
)
from connectpsp.console.web import ConsoleWeb, Refused, source_of, status_of
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import ConnectPSPError, NotFound, ValidationFailed
from connectpsp.domain.ids import new_id
from connectpsp.service.auth import secret_fingerprint
from connectpsp.service.operators import SignedIn

__all__ = ["client_routes"]

T = TypeVar("T")
DONE = {
    "disabled": "Disabled: it gets no token, and the tokens it holds are refused.",
    "enabled": "Enabled: it may ask for tokens again.",
    "updated": "Its fees and limits are changed; its next cash-outs and cash-ins follow them.",
}


def secret_mark(client: Client) -> str:
    """Which clientSecret the rotate form was opened for: the digest its tokens carry
    (``service.auth``), no secret; a form sent again after a rotation (a reload, or
    another operator's) is refused rather than rotating twice."""
    return secret_fingerprint(client.secret_hash)


def client_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    services = web.services

    async def read(call: Callable[[], T]) -> T:
        """``call`` in a thread; a use case's refusal answers as the API would."""
        try:
            return await run_in_threadpool(call)
        except ConnectPSPError as error:
            raise Refused(status_of(error), error.message) from None

    async def acting(request: Request) -> tuple[SignedIn, dict[str, str]]:
        who = await web.signed_in(request)
        form = await web.form(request)
        web.check_csrf(who.csrf, form)
        return who, form

    def audited(
        who: SignedIn,
        request: Request,
        action: str,
        client_id: str,
        run: Callable[[], T],
    ) -> T:
        """``run`` as ``action`` on the client, in the audit log with its record before
        and after (read again once done)."""
        before = services.clients.get(client_id)
        return services.operators.audited(
            who,
            action,
            ("client", client_id),
            before=client_record(before),
            run=run,
            after=lambda _: client_record(services.clients.get(client_id)),
            source=source_of(request),
        )

    @router.get("/clients")
    async def clients(request: Request) -> Response:
        who = await web.signed_in(request)

        def rows() -> list[dict[str, Any]]:
            found = []
            for c in sorted(services.clients.list(), key=lambda c: c.created_at, reverse=True):
                balance, blocked = services.clients.holdings(c.id)
                found.append({"client": c, "balance": balance, "blocked": blocked})
            return found

        return web.page("clients.html", who=who, rows=await read(rows), active="clients")

    def new_form(
        who: SignedIn,
        values: Mapping[str, str],
        errors: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        return web.page(
            "client_new.html",
            who=who,
            status=status,
            values=values,
            errors=errors or {},
            labels=LABELS,
            active="clients",
        )

    @router.get("/clients/new")
    async def new_client(request: Request) -> Response:
        who = await web.signed_in(request)
        return new_form(who, {"client_id": new_id()})

    @router.post("/clients")
    async def create(request: Request) -> Response:
        who, form = await acting(request)
        client_id = read_client_id(form)
        if client_id is None:
            raise Refused(400, "This form names no new client: open it again.")
        try:
            new = read_new_client(form)
        except ValidationFailed as error:
            return new_form(who, form, errors_by_field(error), status_of(error))

        def run() -> Any:
            try:
                services.clients.get(client_id)
            except NotFound:
                pass
            else:  # the form sent again (a reload): its credentials were shown once
                raise Refused(
                    409,
                    "This client was created already and its credentials were shown "
                    "once; if they were lost, rotate its secret on its page.",
                )
            return services.operators.audited(
                who,
                "client.create",
                ("client", client_id),
                before=None,
                run=lambda: services.clients.create(
                    new.name,
                    fee_plan=new.fee_plan,
                    per_transaction_limit=new.per_transaction_limit,
                    daily_limit=new.daily_limit,
                    merchant_city=new.merchant_city,
                    document=new.document,
                    cash_in_fee_plan=new.cash_in_fee_plan,
                    client_id=client_id,
                ),
                after=lambda creds: client_record(services.clients.get(creds.client_id)),
                source=source_of(request),
            )

        creds = await read(run)
        return web.page("client_created.html", who=who, creds=creds, active="clients")

    @router.get("/clients/{client_id}")
    async def client(request: Request, client_id: str, done: str | None = None) -> Response:
        who = await web.signed_in(request)

        def seen() -> dict[str, Any]:
            found = services.clients.get(client_id)
            balance, blocked = services.clients.holdings(found.id)
            return {
                "client": found,
                "balance": balance,
                "blocked": blocked,
                "keys": services.pix_keys.of_client(found),
                "infractions": services.infractions.listed(client_id=found.id, limit=20),
                "names": {found.id: found.name},
            }

        return web.page(
            "client.html",
            who=who,
            active="clients",
            done=DONE.get(done or ""),
            **await read(seen),
        )

    async def set_active(request: Request, client_id: str, active: bool) -> Response:
        who, _ = await acting(request)
        action = "enable" if active else "disable"
        await read(
            lambda: audited(
                who,
                request,
                f"client.{action}",
                client_id,
                lambda: services.clients.set_active(client_id, active),
            )
        )
        return web.redirect(f"/console/clients/{client_id}?done={action}d")

    @router.post("/clients/{client_id}/disable")
    async def disable(request: Request, client_id: str) -> Response:
        return await set_active(request, client_id, False)

    @router.post("/clients/{client_id}/enable")
    async def enable(request: Request, client_id: str) -> Response:
        return await set_active(request, client_id, True)

    @router.get("/clients/{client_id}/rotate")
    async def rotate_form(request: Request, client_id: str) -> Response:
        who = await web.signed_in(request)
        found = await read(lambda: services.clients.get(client_id))
        return web.page(
            "client_rotate.html",
            who=who,
            client=found,
            secret=secret_mark(found),
            active="clients",
        )

    @router.post("/clients/{client_id}/rotate")
    async def rotate(request: Request, client_id: str) -> Response:
        who, form = await acting(request)

        def run() -> Any:
            if secret_mark(services.clients.get(client_id)) != form.get("secret"):
                raise Refused(
                    409,
                    "Its secret was rotated after this form was opened (the new one was "
                    "shown then); open the form again to rotate it once more.",
                )
            return audited(
                who,
                request,
                "client.rotate_secret",
                client_id,
                lambda: services.clients.rotate_secret(client_id),
            )

        new = await read(run)
        found = await read(lambda: services.clients.get(client_id))
        return web.page("client_secret.html", who=who, client=found, new=new, active="clients")

    def edit_form(
        who: SignedIn,
        found: Client,
        values: Mapping[str, str],
        errors: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        return web.page(
            "client_edit.html",
            who=who,
            status=status,
            client=found,
            values=values,
            errors=errors or {},
            labels=LABELS,
            fields=SETTINGS,
            active="clients",
        )

    @router.get("/clients/{client_id}/edit")
    async def edit(request: Request, client_id: str) -> Response:
        who = await web.signed_in(request)
        found = await read(lambda: services.clients.get(client_id))
        return edit_form(who, found, settings_form(found))

    @router.post("/clients/{client_id}/edit")
    async def update(request: Request, client_id: str) -> Response:
        who, form = await acting(request)
        found = await read(lambda: services.clients.get(client_id))
        try:
            changes = read_changes(form)
        except ValidationFailed as error:
            return edit_form(who, found, form, errors_by_field(error), status_of(error))
        if not changes:
            return edit_form(who, found, form, {"": "Give at least one value."}, 400)
        await read(
            lambda: audited(
                who,
                request,
                "client.update",
                client_id,
                lambda: services.clients.update(client_id, changes),
            )
        )
        return web.redirect(f"/console/clients/{client_id}?done=updated")

    return router
