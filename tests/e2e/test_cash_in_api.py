"""Cash-in through the real server, on SQLite and PostgreSQL: charges created, read,
found, cancelled and paid by the sandbox payer through the simulated network's inbound
side; the exact balance after each payment, fees included; every refusal with its code
and no money moved; Pix keys of every kind (a CNPJ key only its owner's); the default
expiry; and both webhook shapes, verified with standardwebhooks, a Pix to a key with no
charge's included."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import zxingcpp
from joserfc import jws
from joserfc.jwk import KeySet
from PIL import Image
from standardwebhooks.webhooks import Webhook

from connectpsp import brcode
from connectpsp.domain.cashin_payloads import cash_in_completed
from connectpsp.domain.clock import iso_local
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.rail import IncomingPayment
from connectpsp.service.sandbox import SANDBOX_PAYER
from connectpsp.settings import Settings
from tests.receiver import Receiver, receiver
from tests.support import Api, RunningServer, new_merchant, running_server
from tests.unit.test_qrcode import rasterise

# 0.20 + 1% of what is received.
CASH_IN_FEE = FeePlan(fixed=20, bps=100)


@pytest.fixture(scope="module")
def merchant(server: RunningServer) -> Iterator[Api]:
    m = new_merchant(server, cash_in_fee=CASH_IN_FEE, document="11144477735")
    yield m
    m.close()


def create(m: Api, key: str | None = None, **fields: Any) -> httpx.Response:
    return m.http.post("/cash-in", json=fields, headers=m.headers(key=key))


def pay(m: Api, **fields: Any) -> httpx.Response:
    return m.http.post("/sandbox/pix/pay", json=fields, headers=m.headers())


def charge(m: Api, code: str) -> dict[str, Any]:
    reply = m.get(f"/cash-in/{code}")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def available(m: Api) -> Decimal:
    return Decimal(str(m.balance()["available"]))


def test_a_dynamic_charge_is_paid_once_and_credits_the_amount_less_the_fee(merchant: Api) -> None:
    before = available(merchant)
    reply = create(
        merchant,
        externalReference="order-dyn-1",
        amount="100.00",
        description="Pedido 1",
        expiresIn=600,
    )
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert created["status"] == "ACTIVE" and created["type"] == "DYNAMIC"
    assert created["amount"] == 100.00 and created["payments"] == []
    assert len(created["internalCode"]) == 10 and created["internalCode"].isupper()
    assert 26 <= len(created["txid"]) <= 35
    assert created["expiresAt"].endswith("-03:00") and created["createdAt"].endswith("-03:00")
    code = brcode.decode(created["brCode"])
    assert code.type == "DYNAMIC" and code.txid == "***" and code.amount is None
    assert code.url is not None and "/qr/" in code.url

    paid = pay(merchant, brCode=created["brCode"])
    assert paid.status_code == 201, paid.text
    e2e = paid.json()["endToEndId"]
    assert e2e.startswith("E60701190") and len(e2e) == 32

    done = charge(merchant, created["internalCode"])
    assert done["status"] == "COMPLETED"
    [payment] = done["payments"]
    # 100.00 - (0.20 + 1.00)
    assert (payment["amount"], payment["feeAmount"], payment["netAmount"]) == (100.0, 1.2, 98.8)
    assert payment["endToEndId"] == e2e and payment["paidAt"].endswith("-03:00")
    assert payment["payer"] == {
        "name": "Pagador Sandbox",
        "document": "***.982.247-**",
        "bank": {"ispb": "60701190", "name": "ITAÚ UNIBANCO S.A.", "code": "341"},
    }
    assert available(merchant) - before == Decimal("98.80")

    again = pay(merchant, brCode=created["brCode"])
    assert again.status_code == 422, again.text
    assert again.json()["error"]["code"] == "CHARGE_NOT_PAYABLE"
    assert available(merchant) - before == Decimal("98.80")  # nothing moved
    found = merchant.get("/cash-in", externalReference="order-dyn-1")
    assert found.status_code == 200 and found.json()["internalCode"] == created["internalCode"]


def test_a_static_code_is_paid_twice_with_amounts_the_payers_choose(merchant: Api) -> None:
    before = available(merchant)
    created = create(
        merchant, type="STATIC", externalReference="donations", description="Doacao"
    ).json()
    assert created["amount"] is None and created["expiresAt"] is None
    code = brcode.decode(created["brCode"])
    assert code.type == "STATIC" and code.txid == created["txid"] and code.amount is None
    assert code.pix_key == created["pixKey"] and code.description == "Doacao"
    for amount in ("10.00", "25.50"):
        reply = pay(merchant, brCode=created["brCode"], amount=amount)
        assert reply.status_code == 201, reply.text
    missing = pay(merchant, brCode=created["brCode"])
    assert missing.status_code == 400 and missing.json()["error"]["details"][0]["field"] == "amount"
    done = charge(merchant, created["internalCode"])
    assert done["status"] == "ACTIVE"
    # 10.00 - (0.20 + 0.10); 25.50 - (0.20 + 0.255, rounded half up to 0.26)
    assert [p["netAmount"] for p in done["payments"]] == [9.7, 25.04]
    assert available(merchant) - before == Decimal("34.74")


def test_a_static_code_with_an_amount_takes_only_that_amount(merchant: Api) -> None:
    created = create(
        merchant, type="STATIC", amount="5.00", externalReference="static-fixed"
    ).json()
    assert brcode.decode(created["brCode"]).amount == 500
    before = available(merchant)
    wrong = pay(merchant, brCode=created["brCode"], amount="4.99")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    assert pay(merchant, brCode=created["brCode"]).status_code == 201
    assert available(merchant) - before == Decimal("4.75")


def test_a_cancelled_charge_takes_nothing(merchant: Api) -> None:
    created = create(merchant, amount="7.00", externalReference="to-cancel").json()
    reply = merchant.http.delete(
        f"/cash-in/{created['internalCode']}", headers=merchant.headers(sign=False)
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "CANCELLED"
    before = available(merchant)
    refused = pay(merchant, brCode=created["brCode"])
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "CHARGE_NOT_PAYABLE"
    assert refused.json()["error"]["details"] == {"status": "CANCELLED"}
    assert available(merchant) == before
    twice = merchant.http.delete(
        f"/cash-in/{created['internalCode']}", headers=merchant.headers(sign=False)
    )
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "ILLEGAL_TRANSITION"


def test_an_expired_charge_takes_nothing(merchant: Api, server: RunningServer) -> None:
    created = create(merchant, amount="3.00", expiresIn=60, externalReference="expiring").json()
    server.clock.advance(seconds=61)
    before = available(merchant)
    refused = pay(merchant, brCode=created["brCode"])
    assert refused.status_code == 422 and refused.json()["error"]["details"] == {
        "status": "EXPIRED"
    }
    assert available(merchant) == before
    assert server.container.cash_ins.expire_due() >= 1  # what the worker runs
    assert charge(merchant, created["internalCode"])["status"] == "EXPIRED"


def test_a_different_amount_than_the_dynamic_charges_is_refused(merchant: Api) -> None:
    created = create(merchant, amount="12.00", externalReference="dyn-amount").json()
    before = available(merchant)
    wrong = pay(merchant, brCode=created["brCode"], amount="11.99")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    assert wrong.json()["error"]["details"] == {"expected": "12.00", "paid": "11.99"}
    assert available(merchant) == before
    assert charge(merchant, created["internalCode"])["status"] == "ACTIVE"


def test_retries_replay_and_references_are_the_clients_once(merchant: Api) -> None:
    first = create(merchant, key="charge-key-1", amount="1.00", externalReference="once")
    replay = create(merchant, key="charge-key-1", amount="1.00", externalReference="once")
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    duplicate = create(merchant, amount="1.00", externalReference="once")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "DUPLICATE_EXTERNAL_REFERENCE"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"externalReference": "v1"}, "amount"),  # DYNAMIC needs an amount
        ({"externalReference": "v2", "amount": "50.005"}, "amount"),
        ({"externalReference": "v3", "amount": "1.00", "expiresIn": 0}, "expiresIn"),
        ({"externalReference": "v4", "type": "STATIC", "expiresIn": 60}, "expiresIn"),
        ({"externalReference": "v5", "amount": "1.00", "description": "x" * 141}, "description"),
        ({"externalReference": "bad ref", "amount": "1.00"}, "externalReference"),
        ({"externalReference": "v6", "type": "OTHER", "amount": "1.00"}, "type"),
    ],
)
def test_bad_charges_are_400_naming_the_field(
    merchant: Api, body: dict[str, Any], field: str
) -> None:
    reply = merchant.http.post("/cash-in", json=body, headers=merchant.headers())
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in reply.json()["error"]["details"]]


def test_a_charge_needs_the_signature_and_a_key(merchant: Api) -> None:
    unsigned = merchant.http.post(
        "/cash-in",
        json={"externalReference": "unsigned", "amount": "1.00"},
        headers=merchant.headers(sign=False),
    )
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "INVALID_SIGNATURE"
    headers = merchant.headers()
    del headers["X-Idempotency-Key"]
    keyless = merchant.http.post(
        "/cash-in", json={"externalReference": "keyless", "amount": "1.00"}, headers=headers
    )
    assert (
        keyless.status_code == 400 and keyless.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    )


def test_pix_keys_and_a_pix_to_a_key_with_no_charge(merchant: Api) -> None:
    signed = merchant.headers()
    evp = merchant.http.post("/pix-keys", json={"type": "EVP"}, headers=signed)
    assert evp.status_code == 201, evp.text
    key = evp.json()["key"]
    own = merchant.http.post(
        "/pix-keys", json={"type": "CPF", "key": "11144477735"}, headers=merchant.headers()
    )
    assert own.status_code == 201, own.text
    other = merchant.http.post(
        "/pix-keys", json={"type": "CPF", "key": "52998224725"}, headers=merchant.headers()
    )
    assert other.status_code == 400 and other.json()["error"]["details"][0]["field"] == "key"
    listed = [k["key"] for k in merchant.get("/pix-keys").json()["items"]]
    assert key in listed and "11144477735" in listed

    before = available(merchant)
    paid = pay(merchant, pixKey=key, amount="2.00")
    assert paid.status_code == 201, paid.text
    assert available(merchant) - before == Decimal("1.78")  # 2.00 - (0.20 + 0.02)

    gone = merchant.http.delete(f"/pix-keys/{key}", headers=merchant.headers(sign=False))
    assert gone.status_code == 204
    unknown = pay(merchant, pixKey=key, amount="2.00")
    assert unknown.status_code == 404, unknown.text
    assert available(merchant) - before == Decimal("1.78")


def test_a_static_code_is_not_paid_once_its_key_is_gone(server: RunningServer) -> None:
    """DICT no longer finds the key, whatever charge the code's txid names."""
    m = new_merchant(server)  # its first charge registers its only key
    try:
        static = create(m, type="STATIC", externalReference="key-to-go").json()
        assert [k["key"] for k in m.get("/pix-keys").json()["items"]] == [static["pixKey"]]
        gone = m.http.delete(f"/pix-keys/{static['pixKey']}", headers=m.headers(sign=False))
        assert gone.status_code == 204
        orphan = pay(m, brCode=static["brCode"], amount="2.00")
        assert orphan.status_code == 404, orphan.text
        assert available(m) == 0
    finally:
        m.close()


def test_a_key_registration_retried_registers_one_key(merchant: Api) -> None:
    headers = merchant.headers(key="register-evp-once")
    first = merchant.http.post("/pix-keys", json={"type": "EVP"}, headers=headers)
    again = merchant.http.post("/pix-keys", json={"type": "EVP"}, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    listed = [k["key"] for k in merchant.get("/pix-keys").json()["items"]]
    assert listed.count(first.json()["key"]) == 1
    headers = merchant.headers()
    del headers["X-Idempotency-Key"]
    keyless = merchant.http.post("/pix-keys", json={"type": "EVP"}, headers=headers)
    assert keyless.status_code == 400
    assert keyless.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_the_sandbox_payer_pays_in_the_past_only(merchant: Api, server: RunningServer) -> None:
    created = create(merchant, type="STATIC", externalReference="paid-later").json()
    future = (server.clock.now() + timedelta(minutes=5)).isoformat()
    reply = pay(merchant, brCode=created["brCode"], amount="1.00", paidAt=future)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["details"][0]["field"] == "paidAt"
    past = server.clock.now() - timedelta(days=30)
    paid = pay(merchant, brCode=created["brCode"], amount="1.00", paidAt=past.isoformat())
    assert paid.status_code == 201, paid.text
    [payment] = charge(merchant, created["internalCode"])["payments"]
    assert payment["paidAt"] == iso_local(past)


def test_another_clients_charge_is_not_found(merchant: Api, server: RunningServer) -> None:
    created = create(merchant, amount="1.00", externalReference="mine-only").json()
    other = new_merchant(server)
    try:
        assert other.get(f"/cash-in/{created['internalCode']}").status_code == 404
        assert other.get("/cash-in", externalReference="mine-only").status_code == 404
    finally:
        other.close()


# --- webhooks, with the in-process worker ----------------------------------------------


@pytest.fixture
def hooks(db_settings: Settings) -> Iterator[tuple[RunningServer, Receiver]]:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        yield server, hook


def test_both_webhook_shapes_and_expiry(hooks: tuple[RunningServer, Receiver]) -> None:
    server, hook = hooks
    m = new_merchant(server, cash_in_fee=CASH_IN_FEE)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    assert "CASHIN_COMPLETED" in endpoint["events"]
    created = create(
        m, amount="50.00", externalReference="hooked", webhookUrl=f"{hook.url}/own"
    ).json()
    e2e = pay(m, brCode=created["brCode"]).json()["endToEndId"]
    got = hook.wait_for(2)
    own = next(r for r in got if r.path == "/own")
    movement = next(r for r in got if r.path == "/account")
    completed = Webhook(m.creds.webhook_secret).verify(own.body, own.headers)
    assert completed["eventType"] == "CASHIN_COMPLETED"
    assert completed["eventAt"].endswith("Z")
    assert completed["data"] == {
        "transactionId": created["transactionId"],
        "internalCode": created["internalCode"],
        "txid": created["txid"],
        "externalReference": "hooked",
        "status": "COMPLETED",
        "amount": 50.0,
        "feeAmount": 0.7,
        "netAmount": 49.3,
        "endToEndId": e2e,
        "paidAt": completed["data"]["paidAt"],
        "payer": {
            "name": "Pagador Sandbox",
            "document": "***.982.247-**",
            "bank": {"ispb": "60701190", "name": "ITAÚ UNIBANCO S.A.", "code": "341"},
        },
    }
    credit = Webhook(endpoint["secret"]).verify(movement.body, movement.headers)
    assert credit == {
        "event": "CashIn",
        "status": "CONFIRMED",
        "transactionType": "PIX",
        "movementType": "CREDIT",
        "transactionId": created["transactionId"],
        "externalId": "hooked",
        "endToEndId": e2e,
        "pixKey": created["pixKey"],
        "feeAmount": 0.7,
        "originalAmount": 50.0,
        "finalAmount": 49.3,
        "processingDate": credit["processingDate"],
        "errorCode": None,
        "errorMessage": None,
        "counterpart": {
            "name": "Pagador Sandbox",
            "document": "***.982.247-**",
            "bank": {"bankISPB": "60701190", "bankName": "ITAÚ UNIBANCO S.A.", "bankCode": "341"},
        },
        "metadata": {},
    }

    # Expiry runs in the worker: EXPIRED, and its webhook, without anyone asking.
    expiring = create(
        m, amount="1.00", expiresIn=1, externalReference="expires", webhookUrl=f"{hook.url}/own"
    ).json()
    server.clock.advance(seconds=2)
    server.container.worker.wake()
    got = hook.wait_for(3)
    expired = Webhook(m.creds.webhook_secret).verify(got[2].body, got[2].headers)
    assert urlsplit(f"http://x{got[2].path}").path == "/own"
    assert expired["eventType"] == "CASHIN_EXPIRED"
    assert expired["data"]["internalCode"] == expiring["internalCode"]
    assert expired["data"]["status"] == "EXPIRED"
    assert charge(m, expiring["internalCode"])["status"] == "EXPIRED"
    m.close()


def test_the_qr_images_decode_back_to_the_br_code(merchant: Api) -> None:
    created = create(
        merchant, type="STATIC", externalReference="qr-image", description="Café da manhã"
    ).json()
    for image_format, media_type in (("png", "image/png"), ("svg", "image/svg+xml")):
        reply = merchant.get(f"/cash-in/{created['internalCode']}/qrcode.{image_format}")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith(media_type)
        png = reply.content if image_format == "png" else rasterise(reply.content)
        [found] = zxingcpp.read_barcodes(
            Image.open(io.BytesIO(png)),
            formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        )
        assert found.bytes == created["brCode"].encode()
    assert merchant.get(f"/cash-in/{created['internalCode']}/qrcode.gif").status_code == 400
    assert merchant.get("/cash-in/ZZZZZZZZZZ/qrcode.png").status_code == 404


def test_the_location_serves_the_charge_as_a_jws_the_jwks_verifies(
    merchant: Api, server: RunningServer
) -> None:
    created = create(
        merchant,
        amount="42.00",
        expiresIn=3600,
        externalReference="located",
        description="Pedido 7",
    ).json()
    location = brcode.decode(created["brCode"]).url
    assert location is not None
    base = server.container.settings.location_base
    assert location.startswith(f"{base}/qr/")
    reply = httpx.get(f"{server.base_url}/qr/{location.rsplit('/', 1)[1]}")  # public
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/jose"
    keys = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
    verified = jws.deserialize_compact(
        reply.text, KeySet.import_key_set(keys), algorithms=["RS256"]
    )
    payload = json.loads(verified.payload)
    assert payload["txid"] == created["txid"]
    assert payload["valor"] == {"original": "42.00"}
    assert payload["chave"] == created["pixKey"]
    assert payload["solicitacaoPagador"] == "Pedido 7"
    assert payload["status"] == "ATIVA" and payload["calendario"]["expiracao"] == 3600
    assert httpx.get(f"{server.base_url}/qr/{'0' * 32}").status_code == 404


def test_a_txid_pays_only_a_charge_of_the_keys_owner(merchant: Api, server: RunningServer) -> None:
    """A static code with one client's key and another client's txid pays nobody: the
    txid names a charge the key's owner does not have."""
    other = new_merchant(server)
    try:
        theirs = create(other, type="STATIC", externalReference="their-charge").json()
        mine = create(merchant, type="STATIC", externalReference="my-key-code").json()
        forged = brcode.encode(
            merchant_name="Forged",
            merchant_city="SAO PAULO",
            pix_key=mine["pixKey"],
            txid=theirs["txid"],
            amount=100,
        )
        before = (available(merchant), available(other))
        refused = pay(merchant, brCode=forged)
        assert refused.status_code == 404, refused.text
        assert (available(merchant), available(other)) == before
        # As the network brings it, too: rejected with AC03, nothing credited.
        receipt = server.container.cash_ins.receive(
            IncomingPayment(
                end_to_end_id="E60701190202612050000forgedTxid1",
                amount=100,
                payer=SANDBOX_PAYER,
                key=mine["pixKey"],
                txid=theirs["txid"],
                paid_at=server.clock.now(),
            )
        )
        assert (receipt.accepted, receipt.reason) == (False, "AC03")
        assert (available(merchant), available(other)) == before
    finally:
        other.close()


# --- keys of every kind, the default expiry, a Pix to a key alone -----------------------


def new_cnpj() -> str:
    """A valid CNPJ no other test uses: DICT holds each key once per database."""
    digits = [random.randrange(10) for _ in range(8)] + [0, 0, 0, 1]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def register_key(m: Api, key_type: str, key: str) -> httpx.Response:
    return m.http.post("/pix-keys", json={"type": key_type, "key": key}, headers=m.headers())


def listed_keys(m: Api) -> dict[str, str]:
    reply = m.get("/pix-keys")
    assert reply.status_code == 200, reply.text
    return {k["key"]: k["type"] for k in reply.json()["items"]}


def test_email_phone_and_cnpj_keys_are_registered_listed_paid_and_deleted(
    server: RunningServer,
) -> None:
    cnpj = new_cnpj()
    company = new_merchant(server, cash_in_fee=CASH_IN_FEE, document=cnpj)
    person = new_merchant(server, document="11144477735")
    try:
        tag = uuid.uuid4().hex[:8]
        keys = {
            "EMAIL": f"loja-{tag}@example.com",
            "PHONE": f"+55119{random.randrange(10**7, 10**8)}",
            "CNPJ": cnpj,
        }
        for key_type, key in keys.items():
            reply = register_key(company, key_type, key)
            assert reply.status_code == 201, reply.text
            assert reply.json()["key"] == key and reply.json()["type"] == key_type
            assert reply.json()["createdAt"].endswith("-03:00")
        assert listed_keys(company) == {key: kind for kind, key in keys.items()}

        # A CNPJ key is its owner's own document: anyone else's is refused, naming the key.
        for someone, not_theirs in ((person, cnpj), (person, new_cnpj()), (company, new_cnpj())):
            refused = register_key(someone, "CNPJ", not_theirs)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert error["details"] == [
                {"field": "key", "message": "must be your own document, as registered with us"}
            ]
        assert cnpj not in listed_keys(person)
        # Not a CNPJ at all: refused for its form, before anything else.
        malformed = register_key(company, "CNPJ", cnpj[:-1] + str((int(cnpj[-1]) + 1) % 10))
        assert malformed.status_code == 400
        assert malformed.json()["error"]["details"][0]["field"] == "key"
        taken = register_key(person, "EMAIL", keys["EMAIL"])
        assert taken.status_code == 409, taken.text

        # Each key takes a Pix, to the key's owner.
        for key in keys.values():
            assert pay(company, pixKey=key, amount="10.00").status_code == 201
        assert available(company) == Decimal("29.10")  # 3 x (10.00 - (0.20 + 0.10))

        for key in keys.values():
            gone = company.http.delete(f"/pix-keys/{key}", headers=company.headers(sign=False))
            assert gone.status_code == 204, gone.text
            assert key not in listed_keys(company)
            unknown = pay(company, pixKey=key, amount="10.00")
            assert unknown.status_code == 404, unknown.text
        assert listed_keys(company) == {}
        assert available(company) == Decimal("29.10")
        again = company.http.delete(
            f"/pix-keys/{keys['EMAIL']}", headers=company.headers(sign=False)
        )
        assert again.status_code == 404
    finally:
        company.close()
        person.close()


def test_a_charge_without_expires_in_expires_a_day_after_its_creation(merchant: Api) -> None:
    created = create(merchant, amount="1.00", externalReference="a-day").json()
    created_at = datetime.fromisoformat(created["createdAt"])
    expires_at = datetime.fromisoformat(created["expiresAt"])
    assert created["expiresAt"].endswith("-03:00")
    assert expires_at - created_at == timedelta(seconds=86_400)
    assert charge(merchant, created["internalCode"])["expiresAt"] == created["expiresAt"]


def test_a_pix_to_a_key_with_no_charge_is_a_cash_in_with_its_webhooks(
    hooks: tuple[RunningServer, Receiver],
) -> None:
    server, hook = hooks
    m = new_merchant(server, cash_in_fee=CASH_IN_FEE)
    try:
        endpoint = m.http.post(
            "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
        ).json()
        key = f"caixa-{uuid.uuid4().hex[:8]}@example.com"
        assert register_key(m, "EMAIL", key).status_code == 201
        e2e = pay(m, pixKey=key, amount="20.00").json()["endToEndId"]
        [movement] = hook.wait_for(1)
        assert movement.path == "/account"  # no charge: no webhookUrl of its own
        credit = Webhook(endpoint["secret"]).verify(movement.body, movement.headers)
        assert credit == {
            "event": "CashIn",
            "status": "CONFIRMED",
            "transactionType": "PIX",
            "movementType": "CREDIT",
            "transactionId": credit["transactionId"],
            "externalId": None,
            "endToEndId": e2e,
            "pixKey": key,
            "feeAmount": 0.4,
            "originalAmount": 20.0,
            "finalAmount": 19.6,
            "processingDate": credit["processingDate"],
            "errorCode": None,
            "errorMessage": None,
            "counterpart": {
                "name": "Pagador Sandbox",
                "document": "***.982.247-**",
                "bank": {
                    "bankISPB": "60701190",
                    "bankName": "ITAÚ UNIBANCO S.A.",
                    "bankCode": "341",
                },
            },
            "metadata": {},
        }
        assert credit["transactionId"]  # the Pix is its own transaction
        assert available(m) == Decimal("19.60")
        # The tutorial's shape has a txid: a Pix to a key alone has none.
        with server.container.uow() as uow:
            received = uow.cash_ins.get(e2e)
        assert received is not None and received.charge_id is None and received.txid is None
        own = cash_in_completed(received, None, server.clock.now(), server.container.participants)
        assert own["data"]["txid"] is None and own["data"]["internalCode"] is None
        time.sleep(0.5)
        assert len(hook.requests) == 1  # and nothing else went out
    finally:
        m.close()
