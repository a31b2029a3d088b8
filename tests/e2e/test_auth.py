"""Every forged, expired or cross-client request is refused with its documented code."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connectpsp.service.auth import signature_for
from tests.support import RunningServer, cash_out_body, new_merchant, running_server


def code_of(reply) -> str:
    return str(reply.json()["error"]["code"])


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_token_endpoint(server: RunningServer) -> None:
    m = new_merchant(server)
    good = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
    reply = m.http.post("/auth/token", json=good)
    assert reply.status_code == 200
    assert reply.json()["expiresIn"] == 3600
    for bad in (
        {**good, "clientSecret": "cs_wrong"},
        {**good, "clientId": "00000000-0000-0000-0000-000000000000"},
    ):
        refused = m.http.post("/auth/token", json=bad)
        assert refused.status_code == 401 and code_of(refused) == "INVALID_CREDENTIALS"
    missing = m.http.post("/auth/token", json={"clientId": "x"})
    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == [
        {"field": "clientSecret", "message": "is required"}
    ]


def cash_out_with(m, token: str, *, app_token: str | None = None, crypto: str | None = None):
    headers = {
        "Authorization": f"Bearer {token}",
        "ApplicationToken": app_token or m.creds.application_token,
        "DigitalSignature": signature_for(token, crypto or m.creds.crypto_token),
        "X-Idempotency-Key": "k-" + str(time.time_ns()),
    }
    return m.http.post("/cash-out", json=cash_out_body(), headers=headers)


# HS384/HS512 under the real 256-bit key are forged on purpose: the warning is the point.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_forged_tokens(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    claims = jwt.decode(m.token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(m.token)["kid"]
    forged = {
        "alg=none": _b64({"alg": "none", "typ": "JWT", "kid": kid}) + "." + _b64(claims) + ".",
        "wrong key": jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid}),
        "wrong aud": jwt.encode({**claims, "aud": "other"}, "x" * 32, headers={"kid": kid}),
        "garbage": "not-a-jwt",
        **_algorithm_confusion(server, claims, kid),
    }
    for name, token in forged.items():
        reply = cash_out_with(m, token)
        assert reply.status_code == 401, name
        assert code_of(reply) == "UNAUTHORIZED", name
    assert m.balance()["reserved"] == 0


def _algorithm_confusion(
    server: RunningServer, claims: dict[str, object], kid: str
) -> dict[str, str]:
    """Tokens that only a verifier accepting more than HS256 would take: the real key under
    another HMAC algorithm, an RSA or EC signature from the attacker's own key, and the
    real key fed as an RSA "public key" (the classic RS256-to-HS256 confusion, reversed)."""
    key = server.container.auth._tokens._keys[kid]  # type: ignore[attr-defined]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "HS384 with the real key": jwt.encode(claims, key, algorithm="HS384", headers={"kid": kid}),
        "HS512 with the real key": jwt.encode(claims, key, algorithm="HS512", headers={"kid": kid}),
        "RS256 by the attacker": jwt.encode(
            claims, rsa_key, algorithm="RS256", headers={"kid": kid}
        ),
        "ES256 by the attacker": jwt.encode(
            claims, ec_key, algorithm="ES256", headers={"kid": kid}
        ),
        "RS256 header, HS256 body": _b64({"alg": "RS256", "typ": "JWT", "kid": kid})
        + "."
        + jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid}).split(".", 1)[1],
    }


def test_tokens_signed_with_the_servers_own_key_but_wrong_claims(server: RunningServer) -> None:
    # Signed with the real key, so each is refused for its claims and nothing else.
    m = new_merchant(server, fund=10_000)
    claims = jwt.decode(m.token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(m.token)["kid"]
    key = server.container.auth._tokens._keys[kid]  # type: ignore[attr-defined]

    def signed(changed: dict[str, object]) -> str:
        return jwt.encode(changed, key, algorithm="HS256", headers={"kid": kid})

    assert cash_out_with(m, signed(claims)).status_code == 202  # the control: accepted
    without = {name: {k: v for k, v in claims.items() if k != name} for name in claims}
    cases = {
        "wrong aud": {**claims, "aud": "another-api"},
        "wrong iss": {**claims, "iss": "https://evil.example"},
        **{f"no {name}": rest for name, rest in without.items()},
    }
    assert set(cases) >= {"no exp", "no aud", "no iss", "no iat", "no sub", "no jti"}
    for name, changed in cases.items():
        reply = cash_out_with(m, signed(changed))
        assert reply.status_code == 401, name
        assert code_of(reply) == "UNAUTHORIZED", name
    assert m.balance()["reserved"] == 10.00  # only the control's R$ 10.00 (no fee)


def test_missing_or_malformed_authorization(server: RunningServer) -> None:
    m = new_merchant(server)
    for value in (None, "", "Basic abc", "Bearer", "Bearer x.y.z"):
        headers = {"ApplicationToken": m.creds.application_token}
        if value is not None:
            headers["Authorization"] = value
        reply = m.http.get("/balance", headers=headers)
        assert reply.status_code == 401 and code_of(reply) == "UNAUTHORIZED", value


def test_expired_token(server: RunningServer) -> None:
    m = new_merchant(server)
    token = m.token
    server.clock.advance(seconds=3601)
    try:
        reply = m.http.get(
            "/balance",
            headers={
                "Authorization": f"Bearer {token}",
                "ApplicationToken": m.creds.application_token,
            },
        )
        assert reply.status_code == 401 and code_of(reply) == "TOKEN_EXPIRED"
    finally:
        server.clock.advance(seconds=-3601)


def test_a_token_in_use_still_expires(server: RunningServer) -> None:
    """The server remembers a token it verified (and its client); it must still check the
    remembered token's expiry on every request, not only the first."""
    m = new_merchant(server, fund=100_00)
    assert m.get("/balance").status_code == 200  # verified and remembered now
    assert m.cash_out().status_code == 202
    server.clock.advance(seconds=3601)
    try:
        for reply in (m.get("/balance"), m.cash_out()):  # the same token as before
            assert reply.status_code == 401 and code_of(reply) == "TOKEN_EXPIRED", reply.text
    finally:
        server.clock.advance(seconds=-3601)
    assert m.balance()["reserved"] == 10.00  # the first cash-out only


def test_a_disabled_client_can_neither_get_nor_use_a_token(server: RunningServer) -> None:
    """Disabling takes effect at once in the process that did it, though that process
    remembers the client (it served it a moment ago); enabling it restores access."""
    m = new_merchant(server, fund=100_00)
    login = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
    assert m.get("/balance").status_code == 200  # the client is remembered now
    assert m.cash_out().status_code == 202
    server.container.clients.set_active(m.creds.client_id, False)
    token = m.http.post("/auth/token", json=login)
    assert token.status_code == 401 and code_of(token) == "INVALID_CREDENTIALS"
    for reply in (m.get("/balance"), m.cash_out()):  # the token it already holds
        assert reply.status_code == 401 and code_of(reply) == "UNAUTHORIZED", reply.text
    assert server.container.clients.balance(m.creds.client_id).reserved == 10_00
    server.container.clients.set_active(m.creds.client_id, True)
    assert m.get("/balance").status_code == 200
    assert m.cash_out().status_code == 202
    assert m.http.post("/auth/token", json=login).status_code == 200
    assert m.balance()["reserved"] == 20.00


def test_application_token_and_signature_must_be_the_clients(server: RunningServer) -> None:
    a, b = new_merchant(server, fund=10_000), new_merchant(server, fund=10_000)
    wrong_app = cash_out_with(a, a.token, app_token=b.creds.application_token)
    assert wrong_app.status_code == 401 and code_of(wrong_app) == "INVALID_APPLICATION_TOKEN"
    no_app = a.http.get("/balance", headers={"Authorization": f"Bearer {a.token}"})
    assert code_of(no_app) == "INVALID_APPLICATION_TOKEN"
    wrong_sig = cash_out_with(a, a.token, crypto=b.creds.crypto_token)
    assert wrong_sig.status_code == 401 and code_of(wrong_sig) == "INVALID_SIGNATURE"
    # b's own valid signature over b's token does not authorise a's token
    headers = {**a.headers(), "DigitalSignature": signature_for(b.token, b.creds.crypto_token)}
    stolen = a.http.post("/cash-out", json=cash_out_body(), headers=headers)
    assert code_of(stolen) == "INVALID_SIGNATURE"
    unsigned = a.headers()
    del unsigned["DigitalSignature"]
    assert code_of(a.http.post("/cash-out", json=cash_out_body(), headers=unsigned)) == (
        "INVALID_SIGNATURE"
    )
    upper = {
        **a.headers(),
        "DigitalSignature": signature_for(a.token, a.creds.crypto_token).upper(),
    }
    assert code_of(a.http.post("/cash-out", json=cash_out_body(), headers=upper)) == (
        "INVALID_SIGNATURE"
    )
    assert a.balance()["reserved"] == 0


def test_another_clients_cash_out_is_not_found(server: RunningServer) -> None:
    a, b = new_merchant(server, fund=10_000), new_merchant(server)
    created = a.cash_out(reference="private-ref").json()
    by_code = b.get(f"/cash-out/{created['internalCode']}")
    assert by_code.status_code == 404 and code_of(by_code) == "NOT_FOUND"
    by_ref = b.get("/cash-out", externalReference="private-ref")
    assert by_ref.status_code == 404 and code_of(by_ref) == "NOT_FOUND"
    missing = b.get("/cash-out/ZZZZZZZZZZ")
    assert (
        by_code.json()["error"]["message"].replace(created["internalCode"], "ZZZZZZZZZZ")
        == (missing.json()["error"]["message"])
    )
    assert b.balance()["total"] == 0


@pytest.mark.parametrize("scope", ["pair", "source"])
def test_repeated_failures_are_rate_limited(db_settings, scope) -> None:
    """Failures count per (clientId, source address) and per source address; either
    limit refuses that address only, and lifts after the window."""
    settings = replace(db_settings, token_failures_per_client=3, token_failures_per_ip=5)
    address = "127.0.0.11" if scope == "pair" else "127.0.0.12"
    transport = httpx.HTTPTransport(local_address=address)
    with (
        running_server(settings) as server,
        httpx.Client(base_url=server.base_url, transport=transport, timeout=30) as source,
    ):
        m = new_merchant(server)
        good = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
        wrong = {**good, "clientSecret": "cs_wrong"}
        attempts = 3 if scope == "pair" else 5
        for i in range(attempts):
            body = wrong if scope == "pair" else {**wrong, "clientId": f"unknown-{i}"}
            assert source.post("/auth/token", json=body).status_code == 401
        limited = source.post("/auth/token", json=good)  # the right secret waits there too
        assert limited.status_code == 429 and code_of(limited) == "RATE_LIMITED"
        assert 1 <= int(limited.headers["Retry-After"]) <= 300
        assert m.http.post("/auth/token", json=good).status_code == 200  # from elsewhere
        server.clock.advance(seconds=301)
        assert source.post("/auth/token", json=good).status_code == 200
