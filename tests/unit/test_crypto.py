import base64
import hashlib
import hmac
import json
import subprocess
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectpsp.adapters.crypto import AesGcmCipher, Argon2Hasher, JwtCodec
from connectpsp.domain.errors import TokenExpired, Unauthorized
from connectpsp.service.auth import signature_for
from tests.support import FakeClock

KEY = b"s" * 32


def codec(clock=None, **kw):
    return JwtCodec(
        {"k1": KEY},
        issuer="connectpsp",
        audience="connectpsp-api",
        ttl=timedelta(hours=1),
        clock=clock or FakeClock(),
        **kw,
    )


def forge(claims, key=KEY, alg="HS256", headers=None):
    return jwt.encode(claims, key, algorithm=alg, headers=headers or {"kid": "k1"})


def good_claims(clock):
    now = int(clock.now().timestamp())
    return {
        "sub": "c1",
        "iss": "connectpsp",
        "aud": "connectpsp-api",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }


def test_issue_and_decode():
    clock = FakeClock()
    token, expires_in = codec(clock).issue("client-1")
    assert expires_in == 3600
    claims = codec(clock).decode(token)
    assert claims["sub"] == "client-1"
    assert set(claims) >= {"sub", "iss", "aud", "iat", "exp", "jti"}


def test_expired_against_the_injected_clock():
    clock = FakeClock()
    token, _ = codec(clock).issue("c")
    clock.advance(hours=1, seconds=1)
    with pytest.raises(TokenExpired):
        codec(clock).decode(token)


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused():
    clock = FakeClock()
    token = _b64({"alg": "none", "kid": "k1", "typ": "JWT"}) + "." + _b64(good_claims(clock)) + "."
    with pytest.raises(Unauthorized):
        codec(clock).decode(token)


def test_rs_hs_confusion_is_refused():
    clock = FakeClock()
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(good_claims(clock), private, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        codec(clock).decode(token)
    # The classic confusion: HS256 "signed" with the public key's PEM as the secret.
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _b64({"alg": "HS256", "kid": "k1"}) + "." + _b64(good_claims(clock))
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        codec(clock).decode(forged)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"exp": None},
        {"aud": None},
        {"iss": None},
        {"jti": None},
        {"sub": None},
    ],
)
def test_claims_are_required_and_checked(change):
    clock = FakeClock()
    claims = {k: v for k, v in {**good_claims(clock), **change}.items() if v is not None}
    with pytest.raises(Unauthorized):
        codec(clock).decode(forge(claims))


def test_wrong_key_and_unknown_kid():
    clock = FakeClock()
    with pytest.raises(Unauthorized):
        codec(clock).decode(forge(good_claims(clock), key=b"x" * 32))
    with pytest.raises(Unauthorized):
        codec(clock).decode(forge(good_claims(clock), headers={"kid": "nope"}))


def test_unknown_kid_reloads_keys_from_storage():
    clock = FakeClock()
    token = forge(good_claims(clock), key=b"n" * 32, headers={"kid": "k2"})
    assert codec(clock, reload=lambda: {"k2": b"n" * 32}).decode(token)["sub"] == "c1"


def test_cipher_round_trip_is_bound_to_context():
    cipher = AesGcmCipher(b"m" * 32)
    sealed = cipher.encrypt("ct_secret", context="client:1")
    assert "ct_secret" not in sealed
    assert cipher.decrypt(sealed, context="client:1") == "ct_secret"
    with pytest.raises(Exception):  # noqa: B017 - any authentication failure will do
        cipher.decrypt(sealed, context="client:2")


def test_argon2_hasher():
    hasher = Argon2Hasher()
    stored = hasher.hash("cs_secret")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "cs_secret")
    assert not hasher.verify(stored, "cs_wrong")
    assert not hasher.verify("garbage", "cs_secret")


def test_signature_matches_the_seeds_openssl_line():
    token, key = "eyJ.header.payload", "ct_crypto"
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'echo -n "{token}" | openssl dgst -sha256 -hmac "{key}" | awk \'{{print $2}}\'',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert signature_for(token, key) == out
