"""``blocks list`` and ``blocks release``: the funds held out of clients' available
balances (a Pix from a payer DICT marks for fraud), for the operator who looks at them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.domain.blocks import Block
from connectpsp.domain.clock import iso_local
from connectpsp.domain.money import format_brl

__all__ = ["blocks_app"]

blocks_app = typer.Typer(help="Funds held out of clients' balances.", no_args_is_help=True)


def _json(b: Block) -> dict[str, object]:
    return {
        "id": b.id,
        "clientId": b.client_id,
        "endToEndId": b.end_to_end_id,
        "amount": b.amount,
        "reason": b.reason.value,
        "createdAt": b.created_at.isoformat(),
        "expiresAt": b.expires_at.isoformat(),
        "releasedAt": b.released_at.isoformat() if b.released_at else None,
        "releasedBy": b.released_by,
    }


@blocks_app.command("list")
def blocks_list(
    client: Annotated[str | None, typer.Option(help="Only this client's.")] = None,
    released: Annotated[bool, typer.Option("--all", help="Released ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Blocks in force (with --all, released ones too), newest first."""
    with open_container(load_settings(), migrate=False) as container:
        found = container.blocks.listed(client_id=client, active_only=not released)
    for b in found:
        if as_json:
            typer.echo(json.dumps(_json(b)))
            continue
        state = (
            f"released {iso_local(b.released_at)} by {b.released_by}"
            if b.released_at
            else (f"until {iso_local(b.expires_at)}")
        )
        typer.echo(
            f"{b.id}  {b.client_id}  {format_brl(b.amount)}  {b.reason.value}  "
            f"{b.end_to_end_id}  {state}"
        )


@blocks_app.command("release")
def blocks_release(
    block_id: Annotated[str, typer.Argument(help="The block to release.")],
    by: Annotated[str, typer.Option(help="Who releases it (kept with the block).")],
) -> None:
    """Give a block's amount back to the client's available balance."""
    with open_container(load_settings(), migrate=False) as container:
        released = container.blocks.release(block_id, by=by)
    typer.echo(f"released {format_brl(released.amount)} to {released.client_id}")
