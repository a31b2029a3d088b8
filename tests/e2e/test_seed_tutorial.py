"""The seed tutorial, command for command, with curl and openssl against our server.

The commands below are the tutorial's text; only the host and the placeholders
(YOUR_CLIENT_ID, YOUR_APP_TOKEN, ...) are substituted.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from typing import Any

import pytest

from tests.support import RunningServer, new_merchant

SEED_HOST = "https://api.homologacao.connectpsp.com"

TOKEN_CALL = """curl -X POST https://api.homologacao.connectpsp.com/auth/token \\
-H "Content-Type: application/json" \\
-d '{
"clientId": "YOUR_CLIENT_ID",
"clientSecret": "YOUR_CLIENT_SECRET"
}'"""

SIGNATURE_LINE = """SIGNATURE=$(echo -n "$ACCESS_TOKEN" | openssl dgst -sha256 -hmac "$CRYPTO_TOKEN" | awk '{print $2}')"""

OPTION_A = """curl -X POST https://api.homologacao.connectpsp.com/cash-out \\
-H "Authorization: Bearer $ACCESS_TOKEN" \\
-H "ApplicationToken: YOUR_APP_TOKEN" \\
-H "DigitalSignature: $SIGNATURE" \\
-H "X-Idempotency-Key: $(uuidgen)" \\
-H "Content-Type: application/json" \\
-d '{
"amount": 50.00,
"externalReference": "withdrawal-user-42-001",
"description": "User withdrawal",
"webhookUrl": "https://YOUR_DOMAIN/webhooks/connectpsp",
"payee": {
"name": "Maria Silva",
"document": "12345678909",
"destination": {
"type": "PIX",
"pixKeyType": "CPF",
"pixKey": "12345678909"
}
}
}'"""

OPTION_B = """curl -X POST https://api.homologacao.connectpsp.com/cash-out \\
-H "Authorization: Bearer $ACCESS_TOKEN" \\
-H "ApplicationToken: YOUR_APP_TOKEN" \\
-H "DigitalSignature: $SIGNATURE" \\
-H "X-Idempotency-Key: $(uuidgen)" \\
-H "Content-Type: application/json" \\
-d '{
"amount": 50.00,
"externalReference": "withdrawal-user-42-001",
"description": "User withdrawal",
"webhookUrl": "https://YOUR_DOMAIN/webhooks/connectpsp",
"payee": {
"name": "Maria Silva",
"document": "12345678909",
"destination": {
"type": "BANK_ACCOUNT",
"bankAccount": {
"ispb": "18236120",
"branch": "0001",
"account": "947710840",
"accountType": "PAYMENT"
}
}
}
}'"""

STATUS_CALL = """curl https://api.homologacao.connectpsp.com/cash-out/IVKPRMOCDY \\
-H "Authorization: Bearer $ACCESS_TOKEN" \\
-H "ApplicationToken: YOUR_APP_TOKEN\""""


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The user's shell. Machines without util-linux's uuidgen get a stand-in.

    A ``.curlrc`` makes curl print each response's status on a last line of its own, so
    the commands are run exactly as written and their statuses still checked."""
    env = dict(os.environ)
    curl_home = tmp_path_factory.mktemp("curl")
    (curl_home / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    env["CURL_HOME"] = str(curl_home)
    if subprocess.run(["bash", "-c", "command -v uuidgen"], capture_output=True).returncode:
        bin_dir = tmp_path_factory.mktemp("bin")
        shim = bin_dir / "uuidgen"
        shim.write_text("#!/usr/bin/env python3\nimport uuid\nprint(uuid.uuid4())\n")
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def run(command: str, env: dict[str, str], **values: str) -> str:
    script = "\n".join(f"{name}={json.dumps(value)}" for name, value in values.items())
    result = subprocess.run(
        ["bash", "-c", f"set -e\n{script}\n{command}\n"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def curl(command: str, env: dict[str, str], **values: str) -> tuple[int, str]:
    """The HTTP status and body of the curl command ``command``."""
    body, _, status = run(command, env, **values).rpartition("\n")
    return int(status), body


def localize(command: str, server: RunningServer, **placeholders: str) -> str:
    command = command.replace(SEED_HOST, server.base_url)
    for placeholder, value in placeholders.items():
        command = command.replace(placeholder, value)
    return command


def follow_tutorial(
    server: RunningServer, env: dict[str, str], option: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    merchant = new_merchant(server, fund=10_000_00)
    creds = merchant.creds
    fill = {
        "YOUR_CLIENT_ID": creds.client_id,
        "YOUR_CLIENT_SECRET": creds.client_secret,
        "YOUR_APP_TOKEN": creds.application_token,
        "YOUR_DOMAIN": "127.0.0.1:9",
    }
    status_code, raw_token = curl(localize(TOKEN_CALL, server, **fill), env)
    assert status_code == 200
    token = json.loads(raw_token)
    assert set(token) == {"accessToken", "tokenType", "expiresIn"}
    assert token["tokenType"] == "Bearer"

    access = {"ACCESS_TOKEN": token["accessToken"], "CRYPTO_TOKEN": creds.crypto_token}
    signature = run(SIGNATURE_LINE + '\necho "$SIGNATURE"', env, **access).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", signature)

    status_code, raw = curl(localize(option, server, **fill), env, SIGNATURE=signature, **access)
    assert status_code == 202
    accepted = json.loads(raw)
    assert list(accepted) == [
        "transactionId",
        "internalCode",
        "externalReference",
        "status",
        "requestedAt",
    ]
    assert accepted["status"] == "PROCESSING"
    assert accepted["externalReference"] == "withdrawal-user-42-001"
    assert re.fullmatch(r"[A-Z]{10}", accepted["internalCode"])
    assert re.fullmatch(r"[0-9a-f-]{36}", accepted["transactionId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[23]:00", accepted["requestedAt"])

    status_code, raw_status = curl(
        localize(STATUS_CALL, server, IVKPRMOCDY=accepted["internalCode"], **fill), env, **access
    )
    assert status_code == 200
    assert '"amount":50.00,' in raw_status  # a JSON number with its two places, as the seed
    status = json.loads(raw_status)
    assert status["internalCode"] == accepted["internalCode"]
    assert status["transactionId"] == accepted["transactionId"]
    assert status["amount"] == 50.0
    assert status["payee"]["document"] == "***.456.789-**"
    merchant.close()
    return accepted, status


def test_option_a_pix_key(server: RunningServer, shell_env: dict[str, str]) -> None:
    _, status = follow_tutorial(server, shell_env, OPTION_A)
    assert status["payee"]["destination"] == {
        "type": "PIX",
        "pixKeyType": "CPF",
        "pixKey": "12345678909",
    }


def test_option_b_bank_account(server: RunningServer, shell_env: dict[str, str]) -> None:
    _, status = follow_tutorial(server, shell_env, OPTION_B)
    assert status["payee"]["destination"]["bankAccount"] == {
        "ispb": "18236120",
        "branch": "0001",
        "account": "947710840",
        "accountType": "PAYMENT",
    }
