"""docs/authentication.md's examples, run as written against a live server: each one's
cash-out is accepted. And its common mistakes are refused as it says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import RunningServer, cash_out_body, new_merchant

DOC = (Path(__file__).parents[2] / "docs" / "authentication.md").read_text()
SECTION = DOC[DOC.index("## The signature in Node.js, Python and shell") :]
# language of the block -> (how the doc says to run it)
RUN = {"js": ["node"], "python": ["python3"], "sh": ["sh"]}


def examples() -> list[tuple[str, str, str]]:
    """(language, file name, program) of each example, named by its first line."""
    found = []
    for language, program in re.findall(r"```(js|python|sh)\n(.*?)```", SECTION, re.S):
        name = re.match(r"(?://|#) (\w+\.\w+): ", program)
        assert name, program[:60]
        found.append((language, name.group(1), program))
    return found


def test_the_doc_has_one_example_per_language() -> None:
    assert sorted(language for language, _, _ in examples()) == ["js", "python", "sh"]
    for language, name, _ in examples():
        assert f"`{' '.join(RUN[language])} {name}`" in SECTION, name


@pytest.mark.parametrize(
    ("language", "name", "program"), examples(), ids=[name for _, name, _ in examples()]
)
def test_each_example_signs_a_cash_out_that_is_accepted(
    server: RunningServer, tmp_path: Path, language: str, name: str, program: str
) -> None:
    merchant = new_merchant(server, fund=100_00)
    creds = merchant.creds
    (tmp_path / name).write_text(program)
    env = {
        **os.environ,
        "CONNECTPSP_URL": server.base_url,
        "CONNECTPSP_CLIENT_ID": creds.client_id,
        "CONNECTPSP_CLIENT_SECRET": creds.client_secret,
        "CONNECTPSP_CRYPTO_TOKEN": creds.crypto_token,
        "CONNECTPSP_APPLICATION_TOKEN": creds.application_token,
    }
    result = subprocess.run(
        [*RUN[language], name], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout.strip()
    status, body = (out[:3], out[4:]) if language != "sh" else (out[-3:], out[:-4])
    assert status == "202", out
    accepted = json.loads(body)
    assert accepted["status"] == "PROCESSING"
    found = merchant.get(f"/cash-out/{accepted['internalCode']}")
    assert found.status_code == 200 and found.json()["amount"] == 10.0
    assert merchant.balance()["available"] < 100.0  # the 10.00 was taken
    merchant.close()


def test_the_common_mistakes_are_refused(server: RunningServer) -> None:
    merchant = new_merchant(server, fund=100_00)
    token, crypto = merchant.token, merchant.creds.crypto_token

    def sign(message: str, key: str = crypto) -> str:
        return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()

    def send(signature: str, access_token: str = token) -> tuple[int, str]:
        headers = {**merchant.headers(), "DigitalSignature": signature}
        headers["Authorization"] = f"Bearer {access_token}"
        reply = merchant.http.post("/cash-out", json=cash_out_body(), headers=headers)
        return reply.status_code, reply.json().get("error", {}).get("code", "")

    merchant.renew_token()
    newer = merchant.token
    assert newer != token
    mistakes = {
        "a trailing newline": sign(token + "\n"),
        "uppercase hex": sign(token).upper(),
        "base64": base64.b64encode(bytes.fromhex(sign(token))).decode(),
        "the clientSecret signed": sign(merchant.creds.client_secret),
        "Bearer signed too": sign(f"Bearer {token}"),
        "key and message swapped": sign(crypto, key=token),
    }
    for mistake, signature in mistakes.items():
        assert send(signature) == (401, "INVALID_SIGNATURE"), mistake
    assert send(sign(token), newer) == (401, "INVALID_SIGNATURE")  # the old token's
    assert send(sign(newer), newer)[0] == 202
    assert send(sign(token))[0] == 202  # the older token is still valid, with its own
    merchant.close()
