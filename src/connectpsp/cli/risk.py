"""``clients update`` (a client's own fraud limits) and ``risk decisions`` (what the fraud
and risk checks decided, and why)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from connectpsp.cli.clients import clients_app
from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError, fields
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.money import Centavos, format_brl, parse_amount
from connectpsp.domain.risk import RiskRules

__all__ = ["risk_app"]

risk_app = typer.Typer(help="Fraud and risk checks.", no_args_is_help=True)
console = Console()
OFF = "off"
_OPTIONS = {
    "max_cash_outs_per_minute": "--max-cash-outs-per-minute",
    "max_amount_per_hour": "--max-amount-per-hour",
    "new_payee_limit": "--new-payee-limit",
    "night_limit": "--night-limit",
    "night_window": "--night-window",
}


@clients_app.command("update")
def clients_update(
    client_id: Annotated[str, typer.Argument(help="The client to change.")],
    max_cash_outs_per_minute: Annotated[
        str | None, typer.Option(help="Cash-outs a minute, refused ones included, or 'off'.")
    ] = None,
    max_amount_per_hour: Annotated[
        str | None, typer.Option(help="Amount sent in any hour, e.g. 5000.00, or 'off'.")
    ] = None,
    new_payee_limit: Annotated[
        str | None, typer.Option(help="Cap on a first payment to a new payee, or 'off'.")
    ] = None,
    night_limit: Annotated[
        str | None, typer.Option(help="Amount sent in the night window, or 'off'.")
    ] = None,
    night_window: Annotated[
        str | None, typer.Option(help="The night, in America/Sao_Paulo, e.g. 20:00-06:00.")
    ] = None,
) -> None:
    """Set a client's own fraud limits (each off until set; see docs/fraud.md)."""
    given = {
        "max_cash_outs_per_minute": max_cash_outs_per_minute,
        "max_amount_per_hour": max_amount_per_hour,
        "new_payee_limit": new_payee_limit,
        "night_limit": night_limit,
    }
    changes: dict[str, Any] = {}
    try:
        for name, text in given.items():
            if text is not None:
                changes[name] = _limit(name, text)
        if night_window is not None:
            try:
                window = RiskRules.parse_night_window(night_window)
            except ValueError as error:
                raise ValueError(f"--night-window {error}") from None
            changes["night_start"], changes["night_end"] = window
    except ValueError as error:
        raise CliError(str(error), USAGE) from None
    if not changes:
        raise CliError("nothing to change: give at least one option (see --help)", USAGE)
    with open_container(load_settings(), migrate=False) as container:
        client = container.clients.get(client_id)  # NotFound: one line, exit 1
        try:
            rules = replace(client.risk, **changes)
        except ValidationFailed as error:
            raise CliError(fields(error, _OPTIONS), USAGE) from None
        container.clients.set_risk(client_id, rules)
    console.print(f"client {client_id}: {_describe(rules)}")


def _limit(name: str, text: str) -> int | Centavos | None:
    option = _OPTIONS[name]
    if text.strip().lower() == OFF:
        return None
    if name == "max_cash_outs_per_minute":
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{option} must be a whole number of at least 1, or 'off'")
        return int(text)
    if text.strip() in ("0", "0.00"):
        return 0
    try:
        return parse_amount(text)
    except ValueError as error:
        raise ValueError(f"{option} {error}, or 'off'") from None


def _describe(rules: RiskRules) -> str:
    def amount(value: Centavos | None) -> str:
        return OFF if value is None else format_brl(value)

    per_minute = rules.max_cash_outs_per_minute
    return (
        f"cash-outs per minute {OFF if per_minute is None else per_minute}; "
        f"amount per hour {amount(rules.max_amount_per_hour)}; "
        f"new payee limit {amount(rules.new_payee_limit)}; "
        f"night limit {amount(rules.night_limit)} ({rules.night_window})"
    )


@risk_app.command("decisions")
def risk_decisions(
    client: Annotated[str | None, typer.Option(help="Only this client's.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time on (ISO 8601, -03:00 if no offset).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """What the fraud and risk checks decided for each cash-out, newest first."""
    from connectpsp.domain.clock import SAO_PAULO

    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise CliError("--since must be an ISO 8601 date or time", USAGE) from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=SAO_PAULO)
    if limit < 1:
        raise CliError("--limit must be at least 1", USAGE)
    with open_container(load_settings(), migrate=False) as container:
        found = container.risk.decisions(client_id=client, since=start, limit=limit)
    if as_json:
        import json

        for d in found:
            typer.echo(json.dumps(d.as_json()))
        return
    # One line a decision, never cut short by the terminal: an operator greps them.
    for d in found:
        ran = ", ".join(f"{c.rule}{'' if c.passed else ' FAILED'}" for c in d.checks)
        outcome = d.code or "accepted"
        typer.echo(
            f"{iso_local(d.at)}  {d.client_id}  {format_brl(d.amount)}  {outcome}  {ran or '-'}"
        )
