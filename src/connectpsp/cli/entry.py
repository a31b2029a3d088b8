"""The ``connectpsp`` command tree, and ``main``: the entry point and the boundary every
error ends at."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Annotated

import typer

from connectpsp import __version__
from connectpsp.cli.blocks import blocks_app
from connectpsp.cli.client_update import clients_update
from connectpsp.cli.clients import clients_app, sandbox_app
from connectpsp.cli.demo import demo
from connectpsp.cli.errors import explain
from connectpsp.cli.infractions import infractions_app
from connectpsp.cli.lists import cash_ins_app, cash_outs_app, statement
from connectpsp.cli.operators import operators_app
from connectpsp.cli.risk import risk_app
from connectpsp.cli.sandbox_pay import sandbox_pay
from connectpsp.cli.server import migrate, serve, worker
from connectpsp.cli.webhooks import webhooks_app

__all__ = ["app", "main"]

app = typer.Typer(
    help="ConnectPSP: a self-hostable Pix PSP.",
    no_args_is_help=True,
    # An error that escaped main()'s boundary must not print locals: they hold secrets.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"connectpsp {__version__}")
        raise typer.Exit


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """ConnectPSP: a self-hostable Pix PSP."""


# ``--help`` lists the commands in this order, then the groups.
app.command()(serve)
app.command()(worker)
app.command()(migrate)
app.command()(demo)
sandbox_app.command("pay")(sandbox_pay)
clients_app.command("update")(clients_update)
app.add_typer(clients_app, name="clients")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(risk_app, name="risk")
app.add_typer(blocks_app, name="blocks")
app.add_typer(infractions_app, name="infractions")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(operators_app, name="operators")
app.add_typer(cash_outs_app, name="cash-outs")
app.add_typer(cash_ins_app, name="cash-ins")
app.command()(statement)


def _click_exceptions() -> ModuleType:
    """Click's exceptions, as Typer raises them: recent Typers carry a copy of Click."""
    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


def main() -> None:
    """The entry point, and the boundary every error ends at."""
    click = _click_exceptions()
    try:
        status = app(standalone_mode=False)  # a command's errors come here, not to Click
    except click.NoArgsIsHelpError as error:
        error.show()
        status = error.exit_code
    except click.ClickException as error:  # a usage error: a missing or malformed argument
        see = f"; see `{error.ctx.command_path} --help`" if error.ctx else ""
        typer.echo(f"error: {error.format_message().rstrip('.')}{see}", err=True)
        status = error.exit_code
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        status = 1
    except Exception as error:
        message, status = explain(error)
        typer.echo(f"error: {message}", err=True)
    raise SystemExit(status if isinstance(status, int) else 0)
