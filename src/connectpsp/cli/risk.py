"""``risk decisions``: what the fraud and risk checks decided, and why. A client's own
limits are set by ``clients update`` (``client_update``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError
from connectpsp.domain.clock import iso_local
from connectpsp.domain.money import format_brl

__all__ = ["risk_app"]

risk_app = typer.Typer(help="Fraud and risk checks.", no_args_is_help=True)


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
