"""The ``connectpsp`` command: serve, migrate, clients, sandbox, demo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import format_brl, parse_amount
from connectpsp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container

app = typer.Typer(help="ConnectPSP: a self-hostable Pix PSP.", no_args_is_help=True)
clients_app = typer.Typer(help="Manage clients (merchants).", no_args_is_help=True)
sandbox_app = typer.Typer(help="Sandbox-only helpers.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(sandbox_app, name="sandbox")
console = Console()
DEMO_AMOUNT = "10000.00"
# The seed tutorial's signature line, verbatim.
SEED_SIGNATURE_LINE = """SIGNATURE=$(echo -n "$ACCESS_TOKEN" | openssl dgst -sha256 -hmac "$CRYPTO_TOKEN" | awk '{print $2}')"""  # noqa: E501


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        console.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None


def _container() -> Container:
    from connectpsp.bootstrap import build

    try:
        return build(_settings())
    except SettingsError as error:
        console.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None


def _amount(text: str, option: str) -> int:
    try:
        return parse_amount(text)
    except ValueError as error:
        console.print(f"[red]{option} {error}[/red]")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only.")] = False,
) -> None:
    """Migrate the database and serve the API."""
    from connectpsp.api import server
    from connectpsp.api.app import create_app
    from connectpsp.logs import configure_logging

    configure_logging(file=_settings().log_file)
    container = _container()
    app_ = create_app(container, worker=not no_worker)
    server.run(server.server_config(app_, container.settings, host=host, port=port))
    container.close()


@app.command()
def worker() -> None:
    """Run the settlement worker alone (scale out: several on one PostgreSQL)."""
    import signal

    from connectpsp.logs import configure_logging

    # Handlers first: a SIGTERM that arrives while we start up still stops us cleanly.
    started: list[Container] = []
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for container in started:
            container.worker.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    configure_logging(file=_settings().log_file)
    container = _container()
    started.append(container)
    if not stopping:
        container.worker.run()
    container.close()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from connectpsp.adapters.storage.db import Database
    from connectpsp.adapters.storage.migrate import upgrade

    settings = _settings()
    db = Database(settings.database_url, schema=settings.database_schema)
    upgrade(db)
    db.dispose()
    console.print("database is up to date")


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="The client's display name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fee_fixed: Annotated[
        str | None, typer.Option(help="Fixed fee per cash-out, e.g. 0.50.")
    ] = None,
    fee_bps: Annotated[int | None, typer.Option(help="Fee in basis points of the amount.")] = None,
    daily_limit: Annotated[str | None, typer.Option(help="Daily cash-out limit.")] = None,
    per_transaction_limit: Annotated[str | None, typer.Option(help="Per cash-out limit.")] = None,
) -> None:
    """Create a client and print its credentials (shown once)."""
    container = _container()
    plan = None
    if fee_fixed is not None or fee_bps is not None:
        fixed = 0 if fee_fixed in (None, "0", "0.00") else _amount(str(fee_fixed), "--fee-fixed")
        plan = FeePlan(fixed=fixed, bps=fee_bps or 0)
    creds = container.clients.create(
        name,
        fee_plan=plan,
        daily_limit=_amount(daily_limit, "--daily-limit") if daily_limit else None,
        per_transaction_limit=(
            _amount(per_transaction_limit, "--per-transaction-limit")
            if per_transaction_limit
            else None
        ),
    )
    container.close()
    if as_json:
        typer.echo(json.dumps(creds.as_json()))
        return
    for key, value in creds.as_json().items():
        console.print(f"[bold]{key}[/bold]: {value}")
    console.print(
        "[yellow]Keep these safe: ConnectPSP stores only hashes and ciphertexts.[/yellow]"
    )


@clients_app.command("list")
def clients_list() -> None:
    """List clients."""
    container = _container()
    table = Table("clientId", "name", "available", "created")
    for client in container.clients.list():
        balance = container.clients.balance(client.id)
        table.add_row(
            client.id,
            client.name,
            format_brl(balance.available),
            client.created_at.isoformat(timespec="seconds"),
        )
    container.close()
    console.print(table)


@clients_app.command("disable")
def clients_disable(
    client_id: Annotated[str, typer.Argument(help="The client to disable.")],
) -> None:
    """Refuse a client: no new tokens, and the tokens it holds are refused (by running
    servers within 30 s, the time they remember a client)."""
    _set_active(client_id, active=False)
    console.print(f"disabled client {client_id}")


@clients_app.command("enable")
def clients_enable(
    client_id: Annotated[str, typer.Argument(help="The client to enable again.")],
) -> None:
    """Let a disabled client in again (running servers within 30 s)."""
    _set_active(client_id, active=True)
    console.print(f"enabled client {client_id}")


def _set_active(client_id: str, *, active: bool) -> None:
    from connectpsp.domain.errors import NotFound

    container = _container()
    try:
        container.clients.set_active(client_id, active)
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()


@sandbox_app.command("fund")
def sandbox_fund(
    client_id: Annotated[str, typer.Argument(help="The client to credit.")],
    amount: Annotated[str, typer.Argument(help="Amount in reais, e.g. 1000.00.")],
) -> None:
    """Credit a client's balance from the outside world (sandbox only)."""
    settings = _settings()
    if not settings.sandbox:
        console.print("[red]sandbox fund is available in sandbox mode only[/red]")
        raise typer.Exit(2)
    centavos = _amount(amount, "AMOUNT")
    container = _container()
    from connectpsp.domain.errors import NotFound

    try:
        balance = container.clients.fund(client_id, centavos)
    except NotFound as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        container.close()
    console.print(f"funded {format_brl(centavos)}; available {format_brl(balance.available)}")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Where the server will listen.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Its port.")] = 8000,
) -> None:
    """Create the sandbox demo client (first time only) and print how to use it."""
    settings = _settings()
    if not settings.sandbox:
        console.print("[red]the demo client exists in sandbox mode only[/red]")
        raise typer.Exit(2)
    from connectpsp.domain.errors import NotFound

    path = settings.var_dir / "demo-client.json"
    container = _container()
    try:
        creds_json = json.loads(path.read_text()) if path.exists() else None
        try:
            if creds_json is not None:
                container.clients.get(creds_json["clientId"])
        except NotFound:  # the database was reset: the saved credentials open nothing
            creds_json = None
        if creds_json is None:
            creds = container.clients.create("Demo Merchant")
            container.clients.fund(creds.client_id, parse_amount(DEMO_AMOUNT))
            creds_json = creds.as_json()
            _write_private(path, json.dumps(creds_json, indent=2))
            console.print(f"created the demo client with R$ {DEMO_AMOUNT} of sandbox balance")
    finally:
        container.close()
    typer.echo(demo_instructions(creds_json, f"http://{host}:{port}"))


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def demo_instructions(creds: dict[str, str], base: str) -> str:
    """The README tour's commands, which are the seed tutorial's, with only the host and
    the demo client's credentials filled in. Helper lines come first: the cryptoToken,
    and a ``uuidgen`` stand-in for machines without util-linux's. The token call is
    wrapped to keep its ``accessToken`` in ``ACCESS_TOKEN``, and the 202's internalCode
    is looked up into ``INTERNAL_CODE`` for the status call (the tutorial's IVKPRMOCDY)."""
    client_id, secret = creds["clientId"], creds["clientSecret"]
    app_token = creds["applicationToken"]
    auth = f'-H "Authorization: Bearer $ACCESS_TOKEN" -H "ApplicationToken: {app_token}"'
    return f"""
Demo client (sandbox; kept in var/demo-client.json):
  clientId         {client_id}
  clientSecret     {secret}
  cryptoToken      {creds["cryptoToken"]}
  applicationToken {app_token}
  webhookSecret    {creds["webhookSecret"]}

The tour in README.md against {base}, ready to paste into bash or zsh:

{TOUR_START}
export CRYPTO_TOKEN={creds["cryptoToken"]}
command -v uuidgen >/dev/null || uuidgen() {{ python3 -c 'import uuid; print(uuid.uuid4())'; }}

# 1. Get an access token (kept in ACCESS_TOKEN)
ACCESS_TOKEN=$(curl -X POST {base}/auth/token \\
-H "Content-Type: application/json" \\
-d '{{
"clientId": "{client_id}",
"clientSecret": "{secret}"
}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')

# 2. Sign the token
{SEED_SIGNATURE_LINE}

# 3. Send a cash-out to a Pix key (point webhookUrl at your receiver, or leave it out)
curl -X POST {base}/cash-out \\
-H "Authorization: Bearer $ACCESS_TOKEN" \\
-H "ApplicationToken: {app_token}" \\
-H "DigitalSignature: $SIGNATURE" \\
-H "X-Idempotency-Key: $(uuidgen)" \\
-H "Content-Type: application/json" \\
-d '{{
"amount": 50.00,
"externalReference": "withdrawal-user-42-001",
"description": "User withdrawal",
"webhookUrl": "https://YOUR_DOMAIN/webhooks/connectpsp",
"payee": {{
"name": "Maria Silva",
"document": "12345678909",
"destination": {{
"type": "PIX",
"pixKeyType": "CPF",
"pixKey": "12345678909"
}}
}}
}}'

# 4. Its status, the cash-out found by your reference, and your balance
INTERNAL_CODE=$(curl -s "{base}/cash-out?externalReference=withdrawal-user-42-001" {auth} \\
| python3 -c 'import json,sys; print(json.load(sys.stdin)["internalCode"])')
curl {base}/cash-out/$INTERNAL_CODE \\
-H "Authorization: Bearer $ACCESS_TOKEN" \\
-H "ApplicationToken: {app_token}"
curl "{base}/cash-out?externalReference=withdrawal-user-42-001" \\
{auth}
curl {base}/balance \\
{auth}
{TOUR_END}

(Use a new externalReference for each further cash-out; the same one again is refused
with 409 DUPLICATE_EXTERNAL_REFERENCE.)
"""


# The lines around the pasteable commands (shell comments, so they paste harmlessly).
TOUR_START = "# --- the tour: from here ---"
TOUR_END = "# --- to here ---"


def main() -> None:
    app()
