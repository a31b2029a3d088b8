"""The JWKS route on the real server, on SQLite and PostgreSQL: public, cacheable, and its
keys verify a signed location with an independent JOSE library (joserfc)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import KeySet

from connectpsp.adapters.location_verify import jws_header, verify_location
from connectpsp.api.routes.locations import render_location
from connectpsp.domain.pix_location import (
    JWKS_PATH,
    ChargeStatus,
    location_payload,
    read_location_payload,
)
from tests.support import RunningServer


def payload(server: RunningServer) -> dict[str, Any]:
    now = server.clock.now()
    return location_payload(
        txid="7978c0c97ea847e78e8849634473c1f1",
        created_at=now,
        presented_at=now,
        expires_in=3600,
        amount=99_90,
        pix_key="loja@example.com",
        description="Assinatura mensal",
        status=ChargeStatus.ACTIVE,
        revision=0,
    )


def test_the_jwks_is_public_and_cacheable(server: RunningServer) -> None:
    reply = httpx.get(server.base_url + JWKS_PATH)  # no token, no headers
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "public, max-age=300"
    (key,) = reply.json()["keys"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}  # nothing private


def test_a_location_verifies_against_the_served_jwks_with_a_jose_library(
    server: RunningServer,
) -> None:
    charge = payload(server)
    body, media_type = render_location(server.container.locations, charge)
    assert media_type == "application/jose"
    token = body.decode("ascii")
    served = httpx.get(server.base_url + JWKS_PATH).json()
    verified = jws.deserialize_compact(token, KeySet.import_key_set(served), algorithms=["RS256"])
    assert json.loads(verified.payload) == charge
    # And as a payer's PSP running ConnectPSP reads it.
    assert read_location_payload(verify_location(token, served)).amount == 99_90
    header = jws_header(token)
    assert header["kid"] == served["keys"][0]["kid"]
    assert header["jku"] == server.container.settings.public_url + JWKS_PATH


def test_the_jwks_is_described_in_the_openapi_document(server: RunningServer) -> None:
    spec = httpx.get(server.base_url + "/openapi.json").json()
    answer = spec["paths"][JWKS_PATH]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JwkSet"
    }
    assert "security" not in spec["paths"][JWKS_PATH]["get"]
