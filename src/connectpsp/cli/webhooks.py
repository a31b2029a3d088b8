"""``webhooks failed`` (deliveries that ended failed, of every client or one) and
``webhooks retry`` (the retry a client has at ``POST /webhooks/deliveries/{id}/retry``,
for the PSP's operator)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError
from connectpsp.domain.clock import iso_local
from connectpsp.service.ports import ClientDelivery

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)


@webhooks_app.command("failed")
def webhooks_failed(
    client: Annotated[str | None, typer.Option(help="Only this client's.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Deliveries that ended failed (every scheduled attempt failed, the receiver answered
    410, or its endpoint is gone), newest first, with their last attempt."""
    if limit < 1:
        raise CliError("--limit must be at least 1", USAGE)
    with open_container(load_settings(), migrate=False) as container:
        found = container.endpoints.failed(client, limit)
    if as_json:
        for failed in found:
            typer.echo(json.dumps(_delivery_json(failed)))
        return
    # One line a delivery, never cut short by the terminal: an operator greps them.
    for failed in found:
        d = failed.delivery
        typer.echo(
            f"{iso_local(d.created_at)}  {d.id}  {failed.client_id}  {d.event_type}  "
            f"attempts {len(d.attempts)}  last {_last(failed)}  {d.url}"
        )


def _last(failed: ClientDelivery) -> str:
    attempts = failed.delivery.attempts
    if not attempts:
        return "-"  # its endpoint went away before a first attempt
    last = attempts[-1]
    said = str(last.status_code) if last.status_code is not None else "no answer"
    return f"{said} ({last.error})" if last.error else said


def _delivery_json(failed: ClientDelivery) -> dict[str, Any]:
    """A failed delivery as ``webhooks failed --json`` prints it."""
    d = failed.delivery
    last = d.attempts[-1] if d.attempts else None
    return {
        "deliveryId": d.id,
        "clientId": failed.client_id,
        "endpointId": d.endpoint_id,
        "url": d.url,
        "eventType": d.event_type,
        "status": d.status.value,
        "attempts": len(d.attempts),
        "lastAttemptAt": None if last is None else iso_local(last.attempted_at),
        "lastStatusCode": None if last is None else last.status_code,
        "lastError": None if last is None else last.error,
        "createdAt": iso_local(d.created_at),
    }


@webhooks_app.command("retry")
def webhooks_retry(
    delivery_id: Annotated[str, typer.Argument(help="The delivery to send again.")],
) -> None:
    """Send a delivery again: it is due now, and a running worker sends it at its next
    look (within its poll interval). Refused if its endpoint is disabled or deleted."""
    with open_container(load_settings(), migrate=False) as container:
        client_id = container.endpoints.retry_any(delivery_id)  # NotFound, EndpointDisabled
    typer.echo(f"delivery {delivery_id} (client {client_id}) is due again: status pending")
