"""``clients update``: a client's name, fees, limits and own fraud limits, changed in one
transaction, and printed as each was and is."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connectpsp.cli.clients import CashInFeeBps, CashInFeeFixed, amount_or_zero
from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError, fields
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos, format_brl
from connectpsp.domain.risk import RiskRules

__all__ = ["clients_update"]

OFF = "off"

# Each field ``ClientChanges`` (and ``RiskRules``) names, as the option that sets it.
OPTIONS = {
    "name": "--name",
    "fee_fixed": "--fee-fixed",
    "fee_bps": "--fee-bps",
    "cash_in_fee_fixed": "--cash-in-fee-fixed",
    "cash_in_fee_bps": "--cash-in-fee-bps",
    "per_transaction_limit": "--per-transaction-limit",
    "daily_limit": "--daily-limit",
    "max_cash_outs_per_minute": "--max-cash-outs-per-minute",
    "max_amount_per_hour": "--max-amount-per-hour",
    "new_payee_limit": "--new-payee-limit",
    "night_limit": "--night-limit",
    "night_window": "--night-window",
}
_RISK_AMOUNTS = ("max_amount_per_hour", "new_payee_limit", "night_limit")


def clients_update(
    client_id: Annotated[str, typer.Argument(help="The client to change.")],
    name: Annotated[str | None, typer.Option(help="Its display name (and its BR Codes').")] = None,
    fee_fixed: Annotated[
        str | None, typer.Option(help="Fixed fee per cash-out, in reais, e.g. 0.07.")
    ] = None,
    fee_bps: Annotated[
        int | None, typer.Option(help="Cash-out fee in basis points of the amount (0 to 10000).")
    ] = None,
    cash_in_fee_fixed: CashInFeeFixed = None,
    cash_in_fee_bps: CashInFeeBps = None,
    per_transaction_limit: Annotated[
        str | None, typer.Option(help="Per cash-out limit, e.g. 10000.00.")
    ] = None,
    daily_limit: Annotated[
        str | None, typer.Option(help="Daily cash-out limit, e.g. 50000.00.")
    ] = None,
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
    """Change a client's name, fees, limits and own fraud limits (see docs/fraud.md), all
    in one transaction; prints each setting that changed, as it was -> as it is."""
    from connectpsp.service.clients import ClientChanges, validate_changes

    bad: list[FieldError] = []
    changes = ClientChanges(
        name=name,
        fee_fixed=_amount("fee_fixed", fee_fixed, bad),
        fee_bps=fee_bps,
        cash_in_fee_fixed=_amount("cash_in_fee_fixed", cash_in_fee_fixed, bad),
        cash_in_fee_bps=cash_in_fee_bps,
        per_transaction_limit=_amount("per_transaction_limit", per_transaction_limit, bad),
        daily_limit=_amount("daily_limit", daily_limit, bad),
        risk=_risk(
            bad,
            max_cash_outs_per_minute=max_cash_outs_per_minute,
            max_amount_per_hour=max_amount_per_hour,
            new_payee_limit=new_payee_limit,
            night_limit=night_limit,
            night_window=night_window,
        ),
    )
    try:
        validate_changes(changes)
    except ValidationFailed as error:
        bad.extend(error.errors)
    if bad:  # every bad option named, before the database is opened
        raise CliError(fields(ValidationFailed(sorted(bad, key=_in_order)), OPTIONS), USAGE)
    if not changes:
        raise CliError("nothing to change: give at least one option (see --help)", USAGE)
    with open_container(load_settings(), migrate=False) as container:
        try:  # NotFound: one line, exit 1
            before, after = container.clients.update(client_id, changes)
        except ValidationFailed as error:
            raise CliError(fields(error, OPTIONS), USAGE) from None
    was, now = settings_of(before), settings_of(after)
    changed = [
        f"  {label}: {was[label]} -> {now[label]}" for label in was if was[label] != now[label]
    ]
    if not changed:
        typer.echo(f"client {client_id}: nothing changed (each value given is its own)")
        return
    # A running server looks for changes to clients every CLIENT_CHANGES_EVERY.
    note = "running servers apply it within a second, a server started now at once"
    typer.echo("\n".join([f"client {client_id}:", *changed, note]))


def _in_order(error: FieldError) -> int:
    """The options' order in ``--help``; night_start and night_end are the window's."""
    names = list(OPTIONS)
    return names.index(error.field) if error.field in OPTIONS else len(names)


def _amount(field: str, text: str | None, bad: list[FieldError]) -> Centavos | None:
    if text is None:
        return None
    try:
        return amount_or_zero(text)
    except ValueError as error:
        bad.append(FieldError(field, str(error)))
        return None


def _risk(bad: list[FieldError], **given: str | None) -> dict[str, Any]:
    """The fields of ``RiskRules`` the options set (``off``: None, the rule off)."""
    changes: dict[str, Any] = {}
    for field, text in given.items():
        if text is None:
            continue
        try:
            if field == "night_window":
                changes["night_start"], changes["night_end"] = RiskRules.parse_night_window(text)
            elif text.strip().lower() == OFF:
                changes[field] = None
            elif field == "max_cash_outs_per_minute":
                if not text.isdigit() or int(text) < 1:
                    raise ValueError("must be a whole number of at least 1, or 'off'")
                changes[field] = int(text)
            else:
                changes[field] = amount_or_zero(text)
        except ValueError as error:
            more = ", or 'off'" if field in _RISK_AMOUNTS else ""
            bad.append(FieldError(field, f"{error}{more}"))
    return changes


def settings_of(client: Client) -> dict[str, str]:
    """What an operator may change in a client, each as ``clients update`` shows it."""

    def plan(fees: FeePlan) -> str:
        return f"{format_brl(fees.fixed)} + {fees.bps} bps"

    def cap(value: Centavos | None) -> str:
        return OFF if value is None else format_brl(value)

    rules = client.risk
    per_minute = rules.max_cash_outs_per_minute
    return {
        "name": client.name,
        "cash-out fee": plan(client.fee_plan),
        "cash-in fee": plan(client.cash_in_fee_plan),
        "per-transaction limit": format_brl(client.per_transaction_limit),
        "daily limit": format_brl(client.daily_limit),
        "cash-outs per minute": OFF if per_minute is None else str(per_minute),
        "amount per hour": cap(rules.max_amount_per_hour),
        "new payee limit": cap(rules.new_payee_limit),
        "night limit": cap(rules.night_limit),
        "night window": rules.night_window,
    }
