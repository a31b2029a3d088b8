"""``operators create`` and ``operators list``: the people who sign in to the console
(/console). They are not API clients; their passwords are kept as argon2id hashes."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError, fields
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.operators import valid_email, valid_password

__all__ = ["operators_app"]

operators_app = typer.Typer(
    help="The people who sign in to the operator console.", no_args_is_help=True
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: what a password manager or a secret store pipes in.
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask the password on; pipe it with --password-stdin", USAGE)
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@operators_app.command("create")
def operators_create(
    email: Annotated[str, typer.Option(help="The operator's email: the login name.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
) -> None:
    """Create an operator; the password is asked for (twice), or read with
    --password-stdin. At least 12 characters."""
    try:
        valid_email(email)  # before the password is asked for, or the database opened
        password = valid_password(_password(password_stdin))
    except ValidationFailed as error:
        raise CliError(fields(error, {"email": "--email"}), USAGE) from None
    with open_container(load_settings(), migrate=False) as container:
        created = container.operators.create(email, password)
    typer.echo(f"operator {created.email} created ({created.id}); log in at /console/login")


@operators_app.command("list")
def operators_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every operator, by email."""
    with open_container(load_settings(), migrate=False) as container:
        found = container.operators.listed()
    for o in found:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": o.id,
                        "email": o.email,
                        "active": o.active,
                        "createdAt": iso_local(o.created_at),
                    }
                )
            )
        else:
            state = "active" if o.active else "disabled"
            typer.echo(f"{o.id}  {o.email}  {state}  since {iso_local(o.created_at)}")


@operators_app.command("disable")
def operators_disable(
    email: Annotated[str, typer.Option(help="The operator to lock out.")],
) -> None:
    """Lock an operator out: its sessions end at once, and its password opens none."""
    with open_container(load_settings(), migrate=False) as container:
        container.operators.set_active(email, False)
    typer.echo(f"operator {email.strip().lower()} disabled; its sessions are closed")


@operators_app.command("enable")
def operators_enable(
    email: Annotated[str, typer.Option(help="The operator to let in again.")],
) -> None:
    """Let a disabled operator log in again."""
    with open_container(load_settings(), migrate=False) as container:
        container.operators.set_active(email, True)
    typer.echo(f"operator {email.strip().lower()} enabled")
