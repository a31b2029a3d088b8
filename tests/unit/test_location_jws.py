"""Locations' JWS: our signer (keys encrypted at rest, rotation, the JWKS) checked with an
independent JOSE library (joserfc), and the verifier a payer runs, against forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws as joserfc_jws
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet, RSAKey
from jwt.api_jws import PyJWS

from connectpsp.adapters.crypto import AesGcmCipher
from connectpsp.adapters.location_signing import (
    PUBLISH_BEFORE_SIGNING,
    PUBLISHED_AFTER_RETIREMENT,
    LocationKeyring,
    public_jwk,
    thumbprint,
)
from connectpsp.adapters.location_verify import jws_header, verify_location
from connectpsp.domain.pix_location import (
    ChargeStatus,
    LocationError,
    location_payload,
    read_location_payload,
)
from connectpsp.service.ports import StoredLocationKey
from tests.fakes import FixedClock

JWKS_URL = "https://pix.example.com/.well-known/jwks.json"
PAYLOAD = location_payload(
    txid="7978c0c97ea847e78e8849634473c1f1",
    created_at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
    presented_at=datetime(2026, 3, 10, 15, 1, tzinfo=UTC),
    expires_in=3600,
    amount=1050,
    pix_key="loja@example.com",
    description="Pão de queijo, 2 unidades",
    status=ChargeStatus.ACTIVE,
    revision=0,
)


class MemoryKeyStore:
    """``LocationKeyStore`` in memory: what the SQL store keeps, and how."""

    def __init__(self) -> None:
        self.rows: list[StoredLocationKey] = []

    def all(self) -> list[StoredLocationKey]:
        return sorted(self.rows, key=lambda k: (k.created_at, k.kid))

    def add_first(self, key: StoredLocationKey) -> bool:
        if self.rows:
            return False
        self.rows.append(key)
        return True

    def rotate(self, key: StoredLocationKey, retire_at: datetime) -> None:
        self.rows = [
            replace(k, retired_at=retire_at) if k.retired_at is None else k for k in self.rows
        ]
        self.rows.append(key)


CIPHER = AesGcmCipher(b"m" * 32)


def keyring(store: MemoryKeyStore, clock: FixedClock) -> LocationKeyring:
    ring = LocationKeyring(store, cipher=CIPHER, clock=clock, jwks_url=JWKS_URL)
    ring.ensure_key()
    return ring


@pytest.fixture(scope="module")
def shared() -> tuple[MemoryKeyStore, FixedClock, LocationKeyring]:
    """One key made once for the module (making RSA keys takes tens of ms)."""
    store, clock = MemoryKeyStore(), FixedClock()
    return store, clock, keyring(store, clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], payload: bytes, signature: bytes = b"") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(payload), b64(signature)))


def joserfc_verifies(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # a TypedDict
    found: dict[str, Any] = json.loads(
        joserfc_jws.deserialize_compact(token, key_set, algorithms=["RS256", "PS256"]).payload
    )
    return found


# Signing --------------------------------------------------------------------------------


def test_a_signed_location_verifies_with_an_independent_jose_library(shared: Any) -> None:
    _, _, ring = shared
    token = ring.sign(PAYLOAD)
    assert joserfc_verifies(token, ring.jwks()) == PAYLOAD


def test_the_header_is_bcbs_rs256_with_kid_typ_and_jku(shared: Any) -> None:
    store, _, ring = shared
    header = jws_header(ring.sign(PAYLOAD))
    assert header == {"alg": "RS256", "kid": store.rows[0].kid, "typ": "JWS", "jku": JWKS_URL}


def test_the_kid_is_the_public_keys_rfc7638_thumbprint(shared: Any) -> None:
    store, _, ring = shared
    (jwk,) = ring.jwks()["keys"]
    public = RSAKey.import_key({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})
    assert jwk["kid"] == store.rows[0].kid == public.thumbprint()


def test_the_jwks_holds_public_keys_only(shared: Any) -> None:
    _, _, ring = shared
    (jwk,) = ring.jwks()["keys"]
    assert set(jwk) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert len(base64.urlsafe_b64decode(jwk["n"] + "==")) * 8 == 2048


def test_the_payload_travels_as_utf8_json(shared: Any) -> None:
    _, _, ring = shared
    body = ring.sign(PAYLOAD).split(".")[1]
    text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    assert "Pão de queijo" in text
    assert json.loads(text) == PAYLOAD


def test_the_private_key_is_stored_encrypted_under_the_master_key(shared: Any) -> None:
    store, _, _ = shared
    (row,) = store.rows
    assert row.private_key_enc.startswith("v1.")
    assert "PRIVATE KEY" not in row.private_key_enc
    pem = CIPHER.decrypt(row.private_key_enc, context=f"location-key:{row.kid}")
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert thumbprint(private.public_key()) == row.kid


def test_a_second_start_makes_no_second_key(shared: Any) -> None:
    store, clock, ring = shared
    again = keyring(store, clock)
    assert len(store.rows) == 1
    assert again.jwks() == ring.jwks()
    assert jws_header(again.sign(PAYLOAD))["kid"] == store.rows[0].kid


def test_rotation_publishes_first_signs_later_and_keeps_the_old_key_a_day() -> None:
    store, clock = MemoryKeyStore(), FixedClock()
    ring = keyring(store, clock)
    old = store.rows[0].kid
    before = ring.sign(PAYLOAD)
    new = ring.rotate()
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old, new}  # published at once
    assert jws_header(ring.sign(PAYLOAD))["kid"] == old  # caches have not seen it yet
    clock.advance(seconds=PUBLISH_BEFORE_SIGNING.total_seconds() - 1)
    assert jws_header(ring.sign(PAYLOAD))["kid"] == old
    clock.advance(seconds=1)
    after = ring.sign(PAYLOAD)
    assert jws_header(after)["kid"] == new
    # What the old key signed still verifies, for a day after it stopped signing.
    assert joserfc_verifies(before, ring.jwks()) == PAYLOAD
    assert joserfc_verifies(after, ring.jwks()) == PAYLOAD
    clock.advance(seconds=PUBLISHED_AFTER_RETIREMENT.total_seconds() - 1)
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old, new}
    clock.advance(seconds=1)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new]
    with pytest.raises(InvalidKeyIdError):
        joserfc_verifies(before, ring.jwks())


def test_another_processs_rotation_is_published_here_within_a_minute() -> None:
    store, clock = MemoryKeyStore(), FixedClock()
    here, there = keyring(store, clock), keyring(store, clock)
    new = there.rotate()
    assert new not in {k["kid"] for k in here.jwks()["keys"]}
    clock.advance(minutes=1)
    assert new in {k["kid"] for k in here.jwks()["keys"]}
    clock.advance(seconds=PUBLISH_BEFORE_SIGNING.total_seconds())
    assert jws_header(here.sign(PAYLOAD))["kid"] == new


# Verifying, as a payer ----------------------------------------------------------------------


def test_a_location_verifies_and_reads_as_its_charge(shared: Any) -> None:
    _, _, ring = shared
    verified = verify_location(ring.sign(PAYLOAD), ring.jwks())
    assert verified == PAYLOAD
    assert read_location_payload(verified).amount == 1050


def test_ps256_from_another_issuer_verifies_too() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "other-psp", "alg": "PS256", "use": "sig"})
    token = joserfc_jws.serialize_compact(
        {"alg": "PS256", "kid": "other-psp"},
        json.dumps(PAYLOAD).encode(),
        key,
        algorithms=["PS256"],
    )
    jwks = {"keys": [key.as_dict(private=False)]}
    assert verify_location(token, jwks) == PAYLOAD


def refused(token: str, jwks: dict[str, Any]) -> LocationError:
    with pytest.raises(LocationError) as error:
        verify_location(token, jwks)
    return error.value


def test_a_tampered_payload_is_refused(shared: Any) -> None:
    _, _, ring = shared
    header, _, signature = ring.sign(PAYLOAD).split(".")
    cheaper = {**PAYLOAD, "valor": {"original": "0.01"}}
    forged = ".".join((header, b64(json.dumps(cheaper).encode()), signature))
    assert refused(forged, ring.jwks()).reason == "BAD_SIGNATURE"


def test_a_tampered_signature_is_refused(shared: Any) -> None:
    _, _, ring = shared
    header, body, signature = ring.sign(PAYLOAD).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[-1] ^= 1
    forged = ".".join((header, body, b64(bytes(raw))))
    assert refused(forged, ring.jwks()).reason == "BAD_SIGNATURE"


def test_a_key_the_issuer_does_not_publish_is_refused(shared: Any) -> None:
    _, _, ring = shared
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = ring.jwks()["keys"][0]["kid"]
    body = json.dumps(PAYLOAD).encode()
    unknown = PyJWS().encode(body, stranger, algorithm="RS256", headers={"kid": "mine"})
    error = refused(unknown, ring.jwks())
    assert (error.reason, error.message) == (
        "UNKNOWN_KEY",
        "The issuer's JWK Set has no key 'mine', which signed it.",
    )
    # The issuer's kid on a stranger's signature: the signature does not verify.
    posing = PyJWS().encode(body, stranger, algorithm="RS256", headers={"kid": kid})
    assert refused(posing, ring.jwks()).reason == "BAD_SIGNATURE"
    nameless = PyJWS().encode(body, stranger, algorithm="RS256")
    assert refused(nameless, ring.jwks()).reason == "UNKNOWN_KEY"


def test_alg_none_is_refused(shared: Any) -> None:
    _, _, ring = shared
    kid = ring.jwks()["keys"][0]["kid"]
    for alg in ("none", "None", "NONE"):
        unsigned = compact({"alg": alg, "kid": kid}, json.dumps(PAYLOAD).encode())
        error = refused(unsigned, ring.jwks())
        assert error.reason == "ALGORITHM_NOT_ALLOWED"
        assert "only RS256 and PS256 are accepted" in error.message


def test_hs256_keyed_with_the_public_key_is_refused(shared: Any) -> None:
    """The old confusion attack: HMAC with the published key as the secret."""
    _, _, ring = shared
    jwk = ring.jwks()["keys"][0]
    public = RSAKey.import_key(jwk).get_op_key("verify")
    secrets = (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(jwk).encode(),
        base64.urlsafe_b64decode(jwk["n"] + "=="),
    )
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        for secret in secrets:
            header = b64(json.dumps({"alg": alg, "kid": jwk["kid"]}).encode())
            body = b64(json.dumps(PAYLOAD).encode())
            mac = hmac.new(secret, f"{header}.{body}".encode(), digest).digest()
            assert refused(f"{header}.{body}.{b64(mac)}", ring.jwks()).reason == (
                "ALGORITHM_NOT_ALLOWED"
            )


def test_a_key_published_for_another_algorithm_is_refused(shared: Any) -> None:
    _, _, ring = shared
    token = ring.sign(PAYLOAD)
    (jwk,) = ring.jwks()["keys"]
    error = refused(token, {"keys": [{**jwk, "alg": "PS256"}]})
    assert (error.reason, error.message) == (
        "BAD_KEY",
        f"The issuer's key {jwk['kid']!r} is for 'PS256', not RS256.",
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kty": "EC"}, "is not an RSA key"),
        ({"use": "enc"}, "is not for signatures"),
        ({"key_ops": ["encrypt"]}, "is not for verifying"),
        ({"d": "AQAB"}, "is published with its private parts"),
        ({"n": "not base64!"}, "has no valid n and e"),
        ({"e": None}, "has no valid n and e"),
    ],
)
def test_a_key_unfit_to_verify_is_refused(
    shared: Any, change: dict[str, Any], problem: str
) -> None:
    _, _, ring = shared
    (jwk,) = ring.jwks()["keys"]
    error = refused(ring.sign(PAYLOAD), {"keys": [{**jwk, **change}]})
    assert error.reason == "BAD_KEY"
    assert problem in error.message


@pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits")  # PyJWT's, signing it
def test_a_short_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    token = PyJWS().encode(
        json.dumps(PAYLOAD).encode(), weak, algorithm="RS256", headers={"kid": "weak"}
    )
    error = refused(token, {"keys": [public_jwk(weak.public_key(), "weak")]})
    assert (error.reason, "must be 2048 to 8192 bits" in error.message) == ("BAD_KEY", True)


def test_an_ec_key_posing_under_an_rsa_kid_is_refused(shared: Any) -> None:
    _, _, ring = shared
    kid = ring.jwks()["keys"][0]["kid"]
    curve = ec.generate_private_key(ec.SECP256R1())
    token = PyJWS().encode(
        json.dumps(PAYLOAD).encode(), curve, algorithm="ES256", headers={"kid": kid}
    )
    assert refused(token, ring.jwks()).reason == "ALGORITHM_NOT_ALLOWED"


@pytest.mark.parametrize(
    "jwks",
    [{}, {"keys": "all"}, {"keys": [{}] * 101}, []],
)
def test_a_jwks_that_is_not_a_key_set_is_refused(shared: Any, jwks: Any) -> None:
    _, _, ring = shared
    assert refused(ring.sign(PAYLOAD), jwks).reason == "BAD_KEY"


def test_a_kid_published_twice_is_refused(shared: Any) -> None:
    _, _, ring = shared
    (jwk,) = ring.jwks()["keys"]
    error = refused(ring.sign(PAYLOAD), {"keys": [jwk, jwk]})
    assert error.reason == "BAD_KEY"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "e30.e30.!!",
        "bm90IGpzb24.e30.",  # "not json"
        "W10.e30.",  # a header that is a list
        "W1tb" * 13_000 + ".e30.",  # "[[[..." deeper than the JSON decoder goes
        "x" * (64 * 1024 + 1),
    ],
)
def test_what_is_not_a_compact_jws_is_refused(shared: Any, token: str) -> None:
    _, _, ring = shared
    assert refused(token, ring.jwks()).reason == "MALFORMED_JWS"


def test_header_extensions_and_repeated_members_are_refused(shared: Any) -> None:
    store, _, ring = shared
    kid = store.rows[0].kid
    private = serialization.load_pem_private_key(
        CIPHER.decrypt(store.rows[0].private_key_enc, context=f"location-key:{kid}").encode(),
        password=None,
    )
    assert isinstance(private, rsa.RSAPrivateKey)
    body = json.dumps(PAYLOAD).encode()
    critical = PyJWS().encode(
        body, private, algorithm="RS256", headers={"kid": kid, "crit": ["exp"], "exp": 1}
    )
    assert refused(critical, ring.jwks()).reason == "MALFORMED_JWS"

    def signed(header: str, payload: bytes) -> str:
        head, data = b64(header.encode()), b64(payload)
        signature = PyJWS().get_algorithm_by_name("RS256").sign(f"{head}.{data}".encode(), private)
        return f"{head}.{data}.{b64(signature)}"

    twice_alg = signed(f'{{"alg":"RS256","kid":"{kid}","alg":"none"}}', body)
    assert refused(twice_alg, ring.jwks()).reason == "MALFORMED_JWS"
    # Two amounts: which one a reader takes would be a guess.
    twice_amount = b'{"valor":{"original":"10.50"},"valor":{"original":"0.01"}}'
    header = f'{{"alg":"RS256","kid":"{kid}"}}'
    assert refused(signed(header, twice_amount), ring.jwks()).reason == "BAD_PAYLOAD"
    assert refused(signed(header, b"[1, 2]"), ring.jwks()).reason == "BAD_PAYLOAD"
    assert verify_location(signed(header, body), ring.jwks()) == PAYLOAD  # the control
