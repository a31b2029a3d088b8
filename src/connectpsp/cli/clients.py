"""The ``clients`` commands (create, list, disable, enable, rotate-secret) and
``sandbox fund``; ``clients update`` is in ``client_update``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError, fields
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos, format_brl, parse_amount, to_decimal
from connectpsp.domain.money import parse_amount_or_zero as amount_or_zero

__all__ = ["CashInFeeBps", "CashInFeeFixed", "amount_or_zero", "clients_app", "sandbox_app"]

clients_app = typer.Typer(help="Manage clients (merchants).", no_args_is_help=True)
sandbox_app = typer.Typer(help="Sandbox-only helpers.", no_args_is_help=True)
console = Console()

# The cash-in fee's options, as `clients create` and `clients update` take them.
CashInFeeFixed = Annotated[str | None, typer.Option(help="Fixed fee per Pix received, e.g. 0.20.")]
CashInFeeBps = Annotated[
    int | None, typer.Option(help="Fee on a Pix received, in basis points (0 to 10000).")
]


def _amount(text: str, option: str) -> Centavos:
    """An amount in reais, greater than 0."""
    try:
        return parse_amount(text)
    except ValueError as error:
        raise CliError(f"{option} {error}", USAGE) from None


# The options ``clients create`` takes, by the field names its validation reports.
_CREATE_OPTIONS = {
    "name": "--name",
    "fixed": "--fee-fixed",
    "bps": "--fee-bps",
    "per_transaction_limit": "--per-transaction-limit",
    "daily_limit": "--daily-limit",
    "merchant_city": "--city",
    "document": "--document",
    "cash_in_fee_fixed": "--cash-in-fee-fixed",
    "cash_in_fee_bps": "--cash-in-fee-bps",
}


def _amount_field(text: str | None, field: str, bad: list[FieldError]) -> Centavos | None:
    """An optional amount option (0 allowed); a bad one is added to ``bad``."""
    if text is None:
        return None
    try:
        return amount_or_zero(text)
    except ValueError as error:
        bad.append(FieldError(field, str(error)))
        return None


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="The client's display name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fee_fixed: Annotated[
        str | None, typer.Option(help="Fixed fee per cash-out, e.g. 0.50.")
    ] = None,
    fee_bps: Annotated[
        int | None, typer.Option(help="Fee in basis points of the amount (0 to 10000).")
    ] = None,
    daily_limit: Annotated[str | None, typer.Option(help="Daily cash-out limit.")] = None,
    per_transaction_limit: Annotated[str | None, typer.Option(help="Per cash-out limit.")] = None,
    city: Annotated[
        str | None, typer.Option(help="The city its BR Codes show payers (SAO PAULO).")
    ] = None,
    document: Annotated[
        str | None, typer.Option(help="Its CPF or CNPJ: the only one it may use as a Pix key.")
    ] = None,
    cash_in_fee_fixed: CashInFeeFixed = None,
    cash_in_fee_bps: CashInFeeBps = None,
) -> None:
    """Create a client and print its credentials (shown once)."""
    from connectpsp.service.clients import validate_new_client

    # Every argument is checked, and every bad one named, before the database is opened.
    bad: list[FieldError] = []
    fixed = _amount_field(fee_fixed, "fixed", bad)
    per_tx = _amount_field(per_transaction_limit, "per_transaction_limit", bad)
    daily = _amount_field(daily_limit, "daily_limit", bad)
    plan = None
    if fee_fixed is not None or fee_bps is not None:
        try:
            plan = FeePlan(fixed=fixed or 0, bps=fee_bps or 0)
        except ValidationFailed as error:
            bad.extend(error.errors)
    cash_in_fixed = _amount_field(cash_in_fee_fixed, "cash_in_fee_fixed", bad)
    cash_in_plan = None
    if cash_in_fee_fixed is not None or cash_in_fee_bps is not None:
        try:
            cash_in_plan = FeePlan(fixed=cash_in_fixed or 0, bps=cash_in_fee_bps or 0)
        except ValidationFailed as error:
            bad.extend(FieldError(f"cash_in_fee_{e.field}", e.message) for e in error.errors)
    try:
        name = validate_new_client(
            name,
            per_transaction_limit=per_tx,
            daily_limit=daily,
            merchant_city=city,
            document=document,
        )
    except ValidationFailed as error:
        bad.extend(error.errors)
    if bad:
        raise CliError(fields(ValidationFailed(bad), _CREATE_OPTIONS), USAGE)
    settings = load_settings()
    with open_container(settings, migrate=False) as container:
        creds = container.clients.create(
            name,
            fee_plan=plan,
            daily_limit=daily,
            per_transaction_limit=per_tx,
            merchant_city=city,
            document=document,
            cash_in_fee_plan=cash_in_plan,
        )
    if as_json:
        typer.echo(json.dumps(creds.as_json()))
        return
    for key, value in creds.as_json().items():
        console.print(f"[bold]{key}[/bold]: {value}")
    console.print(
        "[yellow]Keep these safe: ConnectPSP stores only hashes and ciphertexts.[/yellow]"
    )


@clients_app.command("list")
def clients_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List clients, with their balance, fees and limits."""
    with open_container(load_settings(), migrate=False) as container:
        found = [(c, container.clients.balance(c.id).available) for c in container.clients.list()]
    if as_json:
        for client, available in found:
            typer.echo(json.dumps(_client_json(client, available)))
        return
    # One line a client, never cut short by the terminal: an operator copies the id.
    rows = [("clientId", "status", "available", "created", "name")] + [
        (
            client.id,
            "active" if client.active else "disabled",
            format_brl(available),
            iso_local(client.created_at)[:10],  # the day, in -03:00; --json has the time
            client.name,
        )
        for client, available in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2])]
        typer.echo("  ".join([*cells, row[3].ljust(widths[3]), row[4]]))


def _client_json(client: Client, available: Centavos) -> dict[str, Any]:
    """A client as ``clients list --json`` prints it: amounts as exact decimal strings."""

    def plan(fees: FeePlan) -> dict[str, Any]:
        return {"fixed": str(to_decimal(fees.fixed)), "bps": fees.bps}

    return {
        "clientId": client.id,
        "name": client.name,
        "active": client.active,
        "available": str(to_decimal(available)),
        "fee": plan(client.fee_plan),
        "cashInFee": plan(client.cash_in_fee_plan),
        "perTransactionLimit": str(to_decimal(client.per_transaction_limit)),
        "dailyLimit": str(to_decimal(client.daily_limit)),
        "createdAt": iso_local(client.created_at),
    }


@clients_app.command("disable")
def clients_disable(
    client_id: Annotated[str, typer.Argument(help="The client to disable.")],
) -> None:
    """Refuse a client: no new tokens, and the tokens it holds are refused (by running
    servers within a second: each looks for changes to clients every second). What it
    already had accepted still settles, and its webhooks still go out."""
    _set_active(client_id, active=False)


@clients_app.command("enable")
def clients_enable(
    client_id: Annotated[str, typer.Argument(help="The client to enable again.")],
) -> None:
    """Let a disabled client in again, at once everywhere (no server remembers a
    disabled client)."""
    _set_active(client_id, active=True)


def _set_active(client_id: str, *, active: bool) -> None:
    with open_container(load_settings(), migrate=False) as container:
        was = container.clients.set_active(client_id, active)  # NotFound: one line, exit 1
    state = {True: "active", False: "disabled"}
    console.print(f"client {client_id}: status {state[was]} -> {state[active]}")


@clients_app.command("rotate-secret")
def clients_rotate_secret(
    client_id: Annotated[str, typer.Argument(help="The client whose clientSecret to replace.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replace a client's clientSecret and print the new one (shown once). The old secret
    gets no token from now on, and the access tokens issued for it are refused (by
    running servers within a second). Its cryptoToken, applicationToken and webhookSecret
    stay as they are."""
    with open_container(load_settings(), migrate=False) as container:
        new = container.clients.rotate_secret(client_id)  # NotFound: one line, exit 1
    shown = {"clientId": new.client_id, "clientSecret": new.client_secret}
    if as_json:
        typer.echo(json.dumps({**shown, "rotatedAt": iso_local(new.rotated_at)}))
        return
    for key, value in shown.items():
        console.print(f"[bold]{key}[/bold]: {value}")
    console.print(
        "[yellow]Keep it safe: ConnectPSP stores only its hash. The old secret and its "
        "tokens are refused.[/yellow]"
    )


@sandbox_app.command("fund")
def sandbox_fund(
    client_id: Annotated[str, typer.Argument(help="The client to credit.")],
    amount: Annotated[str, typer.Argument(help="Amount in reais, e.g. 1000.00.")],
) -> None:
    """Credit a client's balance from the outside world (sandbox only)."""
    centavos = _amount(amount, "AMOUNT")
    settings = load_settings()
    if not settings.sandbox:
        raise CliError("sandbox fund is available in sandbox mode only", USAGE)
    with open_container(settings, migrate=False) as container:
        balance = container.clients.fund(client_id, centavos)  # NotFound: one line, exit 1
    console.print(f"funded {format_brl(centavos)}; available {format_brl(balance.available)}")
