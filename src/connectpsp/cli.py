"""The ``connectpsp`` command: serve, migrate, clients, sandbox, demo.

Every failure ends in one line on stderr (``error: ...``) and a non-zero exit: 2 for a
bad setting or argument, 1 for anything else. No error prints a traceback, and none
prints a database error's text, which may hold the statement's parameters (hashes,
ciphertexts). Only ``serve``, ``worker``, ``migrate`` and ``demo`` change the schema;
the other commands refuse a database that is not migrated, and create nothing.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectpsp.domain.errors import ConnectPSPError, FieldError, ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos, format_brl, parse_amount
from connectpsp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container

app = typer.Typer(
    help="ConnectPSP: a self-hostable Pix PSP.",
    no_args_is_help=True,
    # An error that escaped main()'s boundary must not print locals: they hold secrets.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
clients_app = typer.Typer(help="Manage clients (merchants).", no_args_is_help=True)
sandbox_app = typer.Typer(help="Sandbox-only helpers.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(sandbox_app, name="sandbox")
console = Console()
DEMO_AMOUNT = "10000.00"
# The seed tutorial's signature line, verbatim.
SEED_SIGNATURE_LINE = """SIGNATURE=$(echo -n "$ACCESS_TOKEN" | openssl dgst -sha256 -hmac "$CRYPTO_TOKEN" | awk '{print $2}')"""  # noqa: E501
USAGE = 2  # the exit status of a bad setting or argument; anything else is 1


class CliError(Exception):
    """A failure already worded for the operator: one line, and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise CliError(str(error), USAGE) from None


@contextmanager
def _container(settings: Settings, *, migrate: bool) -> Iterator[Container]:
    """The wired services, closed afterwards. With ``migrate`` the schema is brought up to
    date first; without, a database that is not migrated is refused before anything is
    opened or written (the container writes the PSP's accounts and signing key)."""
    from connectpsp.bootstrap import build

    with _database_errors(settings):
        if not migrate:
            _require_migrated(settings)
        try:
            container = build(settings, migrate=migrate)
        except SettingsError as error:  # the master key does not open this database
            raise CliError(str(error), USAGE) from None
        try:
            yield container
        finally:
            container.close()


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """Database failures as one line that names the database (never its password)."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from connectpsp.domain.errors import StorageUnavailable

    try:
        yield
    except (SQLAlchemyError, StorageUnavailable, CommandError) as error:
        raise CliError(database_problem(error, settings)) from None


def _require_migrated(settings: Settings) -> None:
    from connectpsp.adapters.storage.db import Database, sqlite_file
    from connectpsp.adapters.storage.migrate import schema_status

    where = database_location(settings)
    if settings.database_url.startswith("sqlite"):
        file = sqlite_file(settings.database_url)
        if file is None or not file.is_file():
            raise CliError(
                f"there is no database at {where}; check CONNECTPSP_DATABASE_URL, or run "
                "`connectpsp migrate` to create it"
            )
    db = Database(settings.database_url, schema=settings.database_schema, pool_size=1)
    try:
        status = schema_status(db, schema=settings.database_schema)
    finally:
        db.dispose()
    if status.is_current:
        return
    if status.current is None:
        raise CliError(f"the database at {where} is not migrated; run `connectpsp migrate`")
    if not status.known:
        raise CliError(
            f"the database at {where} is at schema revision {status.current}, which this "
            "version of ConnectPSP does not know; run a ConnectPSP at least as new as the "
            "one that migrated it"
        )
    raise CliError(
        f"the database at {where} is at an older schema (revision {status.current}; this "
        f"version needs {status.head}); run `connectpsp migrate`"
    )


def database_location(settings: Settings) -> str:
    """The database, for messages: a SQLite file's path, or the PostgreSQL URL without its
    password or query (which may carry one) and with the schema."""
    from sqlalchemy.engine import make_url

    from connectpsp.adapters.storage.db import sqlite_file

    if settings.database_url.startswith("sqlite"):
        file = sqlite_file(settings.database_url)
        return str(file.absolute()) if file else "sqlite (in memory)"
    url = make_url(settings.database_url).set(query={})
    where = url.render_as_string(hide_password=True)
    return f"{where} (schema {settings.database_schema})" if settings.database_schema else where


# SQLSTATEs (PostgreSQL) and SQLite result codes that say something an operator can act on.
_NOT_MIGRATED_SQLSTATES = ("3F000", "42P01")  # no such schema, no such table
_SQLITE_PROBLEMS = {
    "SQLITE_NOTADB": "is not a SQLite database",
    "SQLITE_CORRUPT": "is corrupt",
    "SQLITE_BUSY": "is locked by another process; retry",
    "SQLITE_LOCKED": "is locked by another process; retry",
    "SQLITE_READONLY": "is read-only",
    "SQLITE_CANTOPEN": "cannot be opened",
    "SQLITE_PERM": "cannot be opened (permission denied)",
    "SQLITE_FULL": "cannot grow: the disk is full",
}


def database_problem(error: BaseException, settings: Settings) -> str:
    """One line for a database failure. A driver's message is shown only for a failure to
    connect, which ran no statement and so holds no parameters (and then without the
    password); a failed statement is described by its error code alone."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, TimeoutError

    from connectpsp.domain.errors import StorageUnavailable

    where = database_location(settings)
    if isinstance(error, StorageUnavailable) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, CommandError):  # Alembic's own words: revisions, not rows
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"migrating the database at {where} failed: {first}"
    if isinstance(error, TimeoutError):
        return f"timed out waiting for a connection to the database at {where}"
    if not isinstance(error, DBAPIError):
        return f"the database at {where} could not be used ({type(error).__name__})"
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    sqlite_code = getattr(orig, "sqlite_errorname", None)
    if error.statement is None and sqlite_code is None:
        reason = " ".join(str(orig).split())
        password = _password(settings)
        if password:
            reason = reason.replace(password, "***")
        return f"cannot connect to the database at {where}: {reason}"
    if sqlstate in _NOT_MIGRATED_SQLSTATES or "no such table" in str(orig):
        return f"the database at {where} is not migrated; run `connectpsp migrate`"
    if sqlstate == "42501":
        return f"the database user may not do this at {where} (permission denied)"
    if sqlite_code in _SQLITE_PROBLEMS:
        return f"the database at {where} {_SQLITE_PROBLEMS[sqlite_code]}"
    if sqlstate is None and sqlite_code is None:  # the connection broke mid-statement
        return f"lost the connection to the database at {where}; retry"
    code = f"SQLSTATE {sqlstate}" if sqlstate else sqlite_code
    return f"the database at {where} refused a statement ({type(error).__name__}, {code})"


def _password(settings: Settings) -> str | None:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).password


def explain(error: Exception) -> tuple[str, int]:
    """Any error as one line and the exit status, for :func:`main`."""
    if isinstance(error, CliError):
        return error.message, error.status
    if isinstance(error, SettingsError):
        return str(error), USAGE
    if isinstance(error, ValidationFailed):
        return _fields(error), USAGE
    if isinstance(error, ConnectPSPError):
        return error.message, 1
    # Anything else is a bug; its text may hold anything, so only its type is named.
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    return f"unexpected {name}; nothing was printed about it, to keep secrets out", 1


def _fields(error: ValidationFailed, options: Mapping[str, str] | None = None) -> str:
    """``--name must not be empty; --fee-bps must be ...``: each field as its option."""
    options = options or {}
    return "; ".join(f"{options.get(e.field, e.field)} {e.message}" for e in error.errors)


def _amount(text: str, option: str) -> Centavos:
    """An amount in reais, greater than 0."""
    try:
        return parse_amount(text)
    except ValueError as error:
        raise CliError(f"{option} {error}", USAGE) from None


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

    settings = _settings()
    configure_logging(file=settings.log_file)
    with _container(settings, migrate=True) as container:
        app_ = create_app(container, background=None if no_worker else container.worker)
        server.run(server.server_config(app_, container.settings, host=host, port=port))


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
    settings = _settings()
    configure_logging(file=settings.log_file)
    with _container(settings, migrate=True) as container:
        started.append(container)
        if not stopping:
            container.worker.run()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (creating the SQLite file or the PostgreSQL
    schema if need be)."""
    from connectpsp.adapters.storage.db import Database
    from connectpsp.adapters.storage.migrate import upgrade

    settings = _settings()
    with _database_errors(settings):
        db = Database(settings.database_url, schema=settings.database_schema, pool_size=1)
        try:
            upgrade(db, schema=settings.database_schema)
        finally:
            db.dispose()
    console.print("database is up to date")


# The options ``clients create`` takes, by the field names its validation reports.
_CREATE_OPTIONS = {
    "name": "--name",
    "fixed": "--fee-fixed",
    "bps": "--fee-bps",
    "per_transaction_limit": "--per-transaction-limit",
    "daily_limit": "--daily-limit",
}


def _amount_field(text: str | None, field: str, bad: list[FieldError]) -> Centavos | None:
    """An optional amount option (0 allowed); a bad one is added to ``bad``."""
    if text is None:
        return None
    if text.strip() in ("0", "0.0", "0.00"):
        return 0
    try:
        return parse_amount(text)
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
    try:
        name = validate_new_client(name, per_transaction_limit=per_tx, daily_limit=daily)
    except ValidationFailed as error:
        bad.extend(error.errors)
    if bad:
        raise CliError(_fields(ValidationFailed(bad), _CREATE_OPTIONS), USAGE)
    settings = _settings()
    with _container(settings, migrate=False) as container:
        creds = container.clients.create(
            name, fee_plan=plan, daily_limit=daily, per_transaction_limit=per_tx
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
def clients_list() -> None:
    """List clients."""
    table = Table("clientId", "name", "available", "created")
    with _container(_settings(), migrate=False) as container:
        for client in container.clients.list():
            balance = container.clients.balance(client.id)
            table.add_row(
                client.id,
                client.name,
                format_brl(balance.available),
                client.created_at.isoformat(timespec="seconds"),
            )
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
    with _container(_settings(), migrate=False) as container:
        container.clients.set_active(client_id, active)  # NotFound: one line, exit 1


@sandbox_app.command("fund")
def sandbox_fund(
    client_id: Annotated[str, typer.Argument(help="The client to credit.")],
    amount: Annotated[str, typer.Argument(help="Amount in reais, e.g. 1000.00.")],
) -> None:
    """Credit a client's balance from the outside world (sandbox only)."""
    centavos = _amount(amount, "AMOUNT")
    settings = _settings()
    if not settings.sandbox:
        raise CliError("sandbox fund is available in sandbox mode only", USAGE)
    with _container(settings, migrate=False) as container:
        balance = container.clients.fund(client_id, centavos)  # NotFound: one line, exit 1
    console.print(f"funded {format_brl(centavos)}; available {format_brl(balance.available)}")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Where the server will listen.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Its port.")] = 8000,
) -> None:
    """Create the sandbox demo client (first time only) and print how to use it."""
    settings = _settings()
    if not settings.sandbox:
        raise CliError("the demo client exists in sandbox mode only", USAGE)
    from connectpsp.domain.errors import NotFound

    path = settings.var_dir / "demo-client.json"
    with _container(settings, migrate=True) as container:
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


def _click_exceptions() -> ModuleType:
    """Click's exceptions, as Typer raises them: recent Typers carry a copy of Click."""
    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


# The lines around the pasteable commands (shell comments, so they paste harmlessly).
TOUR_START = "# --- the tour: from here ---"
TOUR_END = "# --- to here ---"


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
