"""``infractions list``, ``accept`` and ``reject``: the operator's decision on MED fraud
reports against Pix our clients received (``service.infractions``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.domain.clock import iso_local
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.money import format_brl

__all__ = ["infractions_app"]

infractions_app = typer.Typer(
    help="MED: fraud reports against Pix your clients received.", no_args_is_help=True
)


def _json(i: Infraction) -> dict[str, object]:
    return {
        "id": i.id,
        "clientId": i.client_id,
        "endToEndId": i.end_to_end_id,
        "status": i.status.value,
        "amount": i.amount,
        "blocked": i.blocked,
        "reportedAt": i.reported_at.isoformat(),
        "deadline": i.deadline.isoformat(),
        "decidedAt": i.decided_at.isoformat() if i.decided_at else None,
        "decidedBy": i.decided_by,
        "rejectionReason": i.rejection_reason,
        "refundId": i.refund_id,
    }


def _line(i: Infraction) -> str:
    state = (
        f"decide by {iso_local(i.deadline)}"
        if i.status is InfractionStatus.OPEN
        else f"{i.status.value.lower()} by {i.decided_by}"
    )
    return (
        f"{i.id}  {i.client_id}  {i.status.value}  blocked {format_brl(i.blocked)} of "
        f"{format_brl(i.amount)}  {i.end_to_end_id}  {state}"
    )


@infractions_app.command("list")
def infractions_list(
    client: Annotated[str | None, typer.Option(help="Only this client's.")] = None,
    decided: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Open reports (with --all, decided ones too), newest first."""
    status = None if decided else InfractionStatus.OPEN
    with open_container(load_settings(), migrate=False) as container:
        found = container.infractions.listed(client_id=client, status=status, limit=1000)
    for i in found:
        typer.echo(json.dumps(_json(i)) if as_json else _line(i))


@infractions_app.command("accept")
def infractions_accept(
    infraction_id: Annotated[str, typer.Argument(help="The report to accept.")],
    by: Annotated[str, typer.Option(help="Who decides (kept with the report).")] = "operator",
) -> None:
    """Refund the blocked funds to the payer (SPI reason FR01)."""
    with open_container(load_settings(), migrate=False) as container:
        decided = container.infractions.accept(infraction_id, by=by)
    refund = f", refund {decided.refund_id}" if decided.refund_id else ", nothing was blocked"
    typer.echo(f"accepted: {format_brl(decided.blocked)} goes back to the payer{refund}")


@infractions_app.command("reject")
def infractions_reject(
    infraction_id: Annotated[str, typer.Argument(help="The report to reject.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the report, sent in its webhook).")],
    by: Annotated[str, typer.Option(help="Who decides (kept with the report).")] = "operator",
) -> None:
    """Release the blocked funds to the client."""
    with open_container(load_settings(), migrate=False) as container:
        decided = container.infractions.reject(infraction_id, by=by, reason=reason)
    typer.echo(f"rejected: {format_brl(decided.blocked)} released to {decided.client_id}")
