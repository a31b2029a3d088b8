"""``cash-outs list/show``, ``cash-ins list/show`` and ``statement``: what a client's API
lists and its statement say (docs/statement.md), read by the operator from the shell.

The JSON is the API's own (``api.views``), one object per line, so a script reads the
same fields either way; the statement's CSV is the one ``GET /statement.csv`` streams."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.domain.clock import iso_local
from connectpsp.domain.listing import Filters
from connectpsp.domain.money import format_brl
from connectpsp.service.statement import MAX_LIMIT

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container
    from connectpsp.domain.clients import Client


__all__ = ["cash_ins_app", "cash_outs_app", "statement"]

cash_outs_app = typer.Typer(help="A client's cash-outs, newest first.", no_args_is_help=True)
cash_ins_app = typer.Typer(help="A client's charges and what paid them.", no_args_is_help=True)

ClientId = Annotated[str, typer.Argument(help="The client, by its whole clientId.")]
Status = Annotated[str | None, typer.Option(help="Only this status.")]
From = Annotated[
    str | None, typer.Option("--from", help="From this date or time (-03:00 if no offset).")
]
To = Annotated[str | None, typer.Option("--to", help="Up to this date (the whole day) or time.")]
Reference = Annotated[str | None, typer.Option("--reference", help="Its externalReference.")]
Limit = Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="At most this many.")]
AsJson = Annotated[bool, typer.Option("--json", help="The API's JSON, one per line.")]


def _client(container: Container, client_id: str) -> Client:
    return container.clients.get(client_id)


def _filters(
    start: str | None, end: str | None, status: str | None = None, reference: str | None = None
) -> Filters:
    """``--from``/``--to`` read as the API reads ``from``/``to`` (an option named in a
    refusal is the API's query parameter: ``from``, ``to``)."""
    from connectpsp.api.list_params import filters_of

    return filters_of(start, end, status, reference)


def _json(value: Any) -> str:
    """As the API writes it (amounts as JSON numbers, exactly)."""
    from connectpsp.api.jsonio import encode

    return encode(value).decode()


def _emit(rows: list[dict[str, Any]], lines: list[str], as_json: bool) -> None:
    for row, line in zip(rows, lines, strict=True):
        typer.echo(_json(row) if as_json else line)


@cash_outs_app.command("list")
def cash_outs_list(
    client_id: ClientId,
    status: Status = None,
    start: From = None,
    end: To = None,
    reference: Reference = None,
    limit: Limit = 100,
    as_json: AsJson = False,
) -> None:
    """The client's cash-outs, newest first, as GET /cash-out lists them."""
    filters = _filters(start, end, status, reference)
    from connectpsp.api import views

    with open_container(load_settings(), migrate=False) as container:
        page = container.listings.cash_outs(_client(container, client_id), filters, None, limit)
    rows = [views.cash_out(i.cash_out, i.returns) for i in page.items]
    lines = [
        f"{c['internalCode']}  {c['status']:<10}  {format_brl(i.cash_out.amount)}  "
        f"fee {format_brl(i.cash_out.fee)}  {c['requestedAt']}  {c['externalReference']}"
        + (f"  {c['failure']['code']}" if c["failure"] else "")
        for c, i in zip(rows, page.items, strict=True)
    ]
    _emit(rows, lines, as_json)


@cash_outs_app.command("show")
def cash_outs_show(client_id: ClientId, internal_code: str) -> None:
    """One cash-out, as GET /cash-out/{internalCode} answers it (JSON)."""
    from connectpsp.api import views

    with open_container(load_settings(), migrate=False) as container:
        found = container.cash_outs.get(_client(container, client_id), internal_code)
        view = views.cash_out(found, container.returns.of(found))
    typer.echo(_json(view))


@cash_ins_app.command("list")
def cash_ins_list(
    client_id: ClientId,
    status: Status = None,
    start: From = None,
    end: To = None,
    reference: Reference = None,
    limit: Limit = 100,
    as_json: AsJson = False,
) -> None:
    """The client's charges, newest first, with their payments, as GET /cash-in lists
    them."""
    filters = _filters(start, end, status, reference)
    from connectpsp.api import views

    with open_container(load_settings(), migrate=False) as container:
        page = container.listings.charges(_client(container, client_id), filters, None, limit)
        paid = [p.end_to_end_id for item in page.items for p in item.payments]
        refunds = container.refunds.of_payments(paid)
        rows = [
            views.charge(i.charge, i.payments, container.participants, refunds) for i in page.items
        ]
    lines = [
        f"{c['internalCode']}  {c['status']:<9}  {c['type']:<7}  "
        f"{format_brl(i.charge.amount) if i.charge.amount is not None else 'any amount'}  "
        f"{len(i.payments)} paid  {c['createdAt']}  {c['externalReference']}"
        for c, i in zip(rows, page.items, strict=True)
    ]
    _emit(rows, lines, as_json)


@cash_ins_app.command("show")
def cash_ins_show(client_id: ClientId, internal_code: str) -> None:
    """One charge with its payments and their refunds, as GET /cash-in/{internalCode}
    answers it (JSON)."""
    from connectpsp.api import views

    with open_container(load_settings(), migrate=False) as container:
        charge, payments = container.cash_ins.get(_client(container, client_id), internal_code)
        refunds = container.refunds.of_payments([p.end_to_end_id for p in payments])
        view = views.charge(charge, payments, container.participants, refunds)
    typer.echo(_json(view))


def statement(
    client_id: ClientId,
    start: From = None,
    end: To = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="GET /statement.csv's CSV.")] = False,
    as_json: AsJson = False,
) -> None:
    """Every movement of the client's available balance in the period, oldest first,
    each with the balance after it; read a thousand at a time, however long."""
    from connectpsp.api.routes.statement import csv_lines, movement_json

    filters = _filters(start, end)
    with open_container(load_settings(), migrate=False) as container:
        lines = container.listings.all_movements(_client(container, client_id), filters, 1_000)
        if as_csv:
            for chunk in csv_lines(lines):
                sys.stdout.write(chunk)
            return
        for m in lines:
            if as_json:
                typer.echo(_json(movement_json(m)))
                continue
            sign = "+" if m.change > 0 else "-"
            typer.echo(
                f"{iso_local(m.created_at)}  {m.type:<22}  {sign}{format_brl(abs(m.change))}"
                f"  = {format_brl(m.balance_after)}  {m.internal_code or ''}"
                f"  {m.end_to_end_id or ''}".rstrip()
            )
