"""``demo``: the sandbox demo client, and the README tour's commands filled in for it.

The demo client's credentials are kept in ``var/``, one file per database: a server
switched to another database and back finds its own demo client again."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from connectpsp.cli.database import database_location, load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError
from connectpsp.domain.money import parse_amount
from connectpsp.settings import Settings

__all__ = [
    "DEMO_AMOUNT",
    "TOUR_END",
    "TOUR_START",
    "demo",
    "demo_client_file",
    "demo_instructions",
    "tour_variables",
]

DEMO_AMOUNT = "10000.00"

# The lines around the pasteable commands (shell comments, so they paste harmlessly).
TOUR_START = "# --- the tour: from here ---"
TOUR_END = "# --- to here ---"

# The environment variables the tour and the SDK's examples read, by credential.
_VARIABLES = {
    "clientId": "CONNECTPSP_CLIENT_ID",
    "clientSecret": "CONNECTPSP_CLIENT_SECRET",
    "cryptoToken": "CONNECTPSP_CRYPTO_TOKEN",
    "applicationToken": "CONNECTPSP_APPLICATION_TOKEN",
    "webhookSecret": "CONNECTPSP_WEBHOOK_SECRET",
}

# Shell helpers the tour's commands use: a uuidgen where util-linux's is missing, and
# one field of a JSON answer (python3, not jq, which a fresh machine may lack).
TOUR_HELPERS = """\
command -v uuidgen >/dev/null || uuidgen() { python3 -c 'import uuid; print(uuid.uuid4())'; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }"""

# Steps 1 to 4 of README.md's tour, verbatim (a test checks the README has each one).
TOUR_STEPS = (
    """\
ACCESS_TOKEN=$(curl -sS -X POST "$CONNECTPSP_URL/auth/token" \\
  -H "Content-Type: application/json" \\
  -d "{\\"clientId\\": \\"$CONNECTPSP_CLIENT_ID\\",
       \\"clientSecret\\": \\"$CONNECTPSP_CLIENT_SECRET\\"}" \\
  | field accessToken)""",
    """\
SIGNATURE=$(printf '%s' "$ACCESS_TOKEN" | openssl dgst -sha256 -hmac "$CONNECTPSP_CRYPTO_TOKEN" | awk '{print $NF}')""",  # noqa: E501
    """\
REFERENCE="withdrawal-$(uuidgen | cut -c1-8)"
ACCEPTED=$(curl -sS -X POST "$CONNECTPSP_URL/cash-out" \\
  -H "Authorization: Bearer $ACCESS_TOKEN" \\
  -H "ApplicationToken: $CONNECTPSP_APPLICATION_TOKEN" \\
  -H "DigitalSignature: $SIGNATURE" \\
  -H "X-Idempotency-Key: $(uuidgen)" \\
  -H "Content-Type: application/json" \\
  -d @- <<EOF
{
  "amount": 50.00,
  "externalReference": "$REFERENCE",
  "description": "User withdrawal",
  "payee": {
    "name": "Maria Silva",
    "document": "12345678909",
    "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"}
  }
}
EOF
)
echo "$ACCEPTED"
INTERNAL_CODE=$(echo "$ACCEPTED" | field internalCode)""",
    """\
sleep 2
curl -sS -w '\\n' "$CONNECTPSP_URL/cash-out/$INTERNAL_CODE" \\
  -H "Authorization: Bearer $ACCESS_TOKEN" -H "ApplicationToken: $CONNECTPSP_APPLICATION_TOKEN"
curl -sS -w '\\n' "$CONNECTPSP_URL/cash-out?externalReference=$REFERENCE" \\
  -H "Authorization: Bearer $ACCESS_TOKEN" -H "ApplicationToken: $CONNECTPSP_APPLICATION_TOKEN"
curl -sS -w '\\n' "$CONNECTPSP_URL/balance" \\
  -H "Authorization: Bearer $ACCESS_TOKEN" -H "ApplicationToken: $CONNECTPSP_APPLICATION_TOKEN\"""",
)


def demo(
    host: Annotated[str, typer.Option(help="Where the server will listen.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Its port.")] = 8000,
    env: Annotated[
        bool,
        typer.Option(
            "--env",
            help="Print only the credentials, as export lines for eval in a shell.",
        ),
    ] = False,
) -> None:
    """Create the sandbox demo client (first time only) and print how to use it."""
    settings = load_settings()
    if not settings.sandbox:
        raise CliError("the demo client exists in sandbox mode only", USAGE)
    from connectpsp.domain.errors import NotFound

    path = demo_client_file(settings)
    with open_container(settings, migrate=True) as container:
        creds_json = _saved(path, settings.var_dir / "demo-client.json")
        try:
            if creds_json is not None:
                container.clients.get(creds_json["clientId"])
        except NotFound:  # not this database's client (or the database was reset)
            creds_json = None
        if creds_json is None:
            creds = container.clients.create("Demo Merchant")
            container.clients.fund(creds.client_id, parse_amount(DEMO_AMOUNT))
            creds_json = creds.as_json()
            _write_private(path, json.dumps(creds_json, indent=2))
            typer.echo(f"created the demo client with R$ {DEMO_AMOUNT} of sandbox balance", err=env)
        elif not path.exists():  # found in the file of before: kept in this database's now
            _write_private(path, json.dumps(creds_json, indent=2))
    if env:
        typer.echo(tour_variables(creds_json))
    else:
        typer.echo(demo_instructions(creds_json, f"http://{host}:{port}", path))


def demo_client_file(settings: Settings) -> Path:
    """Where this database's demo client is kept: named by the database (its SQLite
    file's real path, or its PostgreSQL location and schema), so each has its own."""
    from connectpsp.adapters.storage.db import sqlite_file

    file = (
        sqlite_file(settings.database_url) if settings.database_url.startswith("sqlite") else None
    )
    where = str(file.resolve()) if file else database_location(settings)
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    return settings.var_dir / f"demo-client-{digest}.json"


def _saved(path: Path, before: Path) -> dict[str, str] | None:
    """The saved credentials; before per-database files, ``var/demo-client.json`` held
    them (still this database's if its client is found here)."""
    for candidate in (path, before):
        if candidate.exists():
            saved: dict[str, str] = json.loads(candidate.read_text())
            return saved
    return None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def tour_variables(creds: dict[str, str], base: str | None = None) -> str:
    """``export`` lines for the credentials (and the server's URL), quoted for the shell."""
    lines = [f"export CONNECTPSP_URL={shlex.quote(base)}"] if base else []
    lines += [f"export {name}={shlex.quote(creds[key])}" for key, name in _VARIABLES.items()]
    return "\n".join(lines)


def demo_instructions(creds: dict[str, str], base: str, path: Path | None = None) -> str:
    """The credentials, and steps 1 to 4 of README.md's tour after the variables they
    read, filled in for this client and server: ready to paste into bash or zsh."""
    client_id, secret = creds["clientId"], creds["clientSecret"]
    steps = "\n\n".join(
        f"# {number}. {title}\n{command}"
        for number, (title, command) in enumerate(
            zip(
                (
                    "Get an access token (kept in ACCESS_TOKEN)",
                    "Sign it",
                    "Send a cash-out to a Pix key",
                    "Its status, the cash-out found by your reference, and your balance",
                ),
                TOUR_STEPS,
                strict=True,
            ),
            start=1,
        )
    )
    kept = f"; kept in {path}" if path else ""
    return f"""
Demo client (sandbox{kept}):
  clientId         {client_id}
  clientSecret     {secret}
  cryptoToken      {creds["cryptoToken"]}
  applicationToken {creds["applicationToken"]}
  webhookSecret    {creds["webhookSecret"]}

The tour in README.md against {base}, ready to paste into bash or zsh in another terminal:

{TOUR_START}
{tour_variables(creds, base)}
{TOUR_HELPERS}

{steps}
{TOUR_END}

(Each run of the cash-out step makes a new externalReference; the same one again is
refused with 409 DUPLICATE_EXTERNAL_REFERENCE, whose details name the cash-out holding it.)
"""
