"""``demo``: the sandbox demo client, and the README tour's commands filled in for it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError
from connectpsp.domain.money import parse_amount

__all__ = ["DEMO_AMOUNT", "TOUR_END", "TOUR_START", "demo", "demo_instructions"]

console = Console()
DEMO_AMOUNT = "10000.00"
# The seed tutorial's signature line, verbatim.
SEED_SIGNATURE_LINE = """SIGNATURE=$(echo -n "$ACCESS_TOKEN" | openssl dgst -sha256 -hmac "$CRYPTO_TOKEN" | awk '{print $2}')"""  # noqa: E501

# The lines around the pasteable commands (shell comments, so they paste harmlessly).
TOUR_START = "# --- the tour: from here ---"
TOUR_END = "# --- to here ---"


def demo(
    host: Annotated[str, typer.Option(help="Where the server will listen.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Its port.")] = 8000,
) -> None:
    """Create the sandbox demo client (first time only) and print how to use it."""
    settings = load_settings()
    if not settings.sandbox:
        raise CliError("the demo client exists in sandbox mode only", USAGE)
    from connectpsp.domain.errors import NotFound

    path = settings.var_dir / "demo-client.json"
    with open_container(settings, migrate=True) as container:
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
