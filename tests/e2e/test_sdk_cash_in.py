"""The SDK's cash-in calls against the real server on loopback, on SQLite and PostgreSQL,
with both clients: a dynamic charge paid once by ``psp.sandbox.pay``, a static code paid
twice, a cancelled charge, Pix keys and a Pix to a key, the QR image, and the webhooks a
payment and an expiry deliver, read with ``connectpsp.webhooks.verify``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from connectpsp import (
    AmountMismatchError,
    Charge,
    ChargeNotPayableError,
    ConflictError,
    NotFoundError,
    ValidationError,
    brcode,
    webhooks,
)
from connectpsp.domain.ledger import FeePlan
from tests.e2e.test_sdk import call, run_with
from tests.receiver import Received, receiver
from tests.support import Api, RunningServer, new_merchant

# 0.20 + 1% of what is received.
CASH_IN_FEE = FeePlan(fixed=20, bps=100)
DOCUMENT = "11144477735"  # the merchant's own CPF
PAYER = {"name": "Ana Costa", "document": "52998224725", "ispb": "18236120"}  # Nubank


@pytest.fixture
def merchant(settling_server: RunningServer) -> Iterator[Api]:
    m = new_merchant(settling_server, cash_in_fee=CASH_IN_FEE, document=DOCUMENT)
    yield m
    m.close()


async def available(psp: Any) -> Decimal:
    return Decimal((await call(psp.balance.get())).available)


def decoded_qr(png: bytes) -> bytes:
    (found,) = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)),
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
    )
    return bytes(found.bytes)


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_a_dynamic_charge_is_created_paid_once_and_read_completed(
    merchant: Api, async_: bool
) -> None:
    async def flow(psp: Any) -> None:
        before = await available(psp)
        charge = await call(
            psp.cash_ins.create(
                "100.00",
                "sdk-dynamic",
                description="Pedido 1",
                expires_in=600,
                payer={"name": "Ana Costa", "document": "52998224725"},
            )
        )
        assert isinstance(charge, Charge)
        assert (charge.type, charge.status, charge.amount) == ("DYNAMIC", "ACTIVE", Decimal("100"))
        assert charge.payments == () and charge.description == "Pedido 1"
        assert charge.expires_at is not None
        assert charge.expires_at - charge.created_at == timedelta(seconds=600)
        assert charge.created_at.utcoffset() == timedelta(hours=-3)
        code = brcode.decode(charge.br_code)  # locally: no server round trip
        assert code.type == "DYNAMIC" and code.url is not None and "/qr/" in code.url
        png = await call(psp.cash_ins.qr_code(charge.internal_code))
        assert decoded_qr(png) == charge.br_code.encode()
        svg = await call(psp.cash_ins.qr_code(charge.internal_code, format="svg"))
        assert svg.lstrip().startswith(b"<")

        e2e = await call(psp.sandbox.pay(br_code=charge.br_code))
        assert e2e.startswith("E60701190") and len(e2e) == 32
        paid = await call(psp.cash_ins.get(charge.internal_code))
        assert paid.status == "COMPLETED"
        (payment,) = paid.payments
        assert payment.end_to_end_id == e2e
        # 100.00 - (0.20 + 1.00)
        assert (payment.amount, payment.fee_amount, payment.net_amount) == (
            Decimal("100.00"),
            Decimal("1.20"),
            Decimal("98.80"),
        )
        assert payment.paid_at.utcoffset() is not None
        assert (payment.payer.name, payment.payer.document) == ("Pagador Sandbox", "***.982.247-**")
        assert (payment.payer.bank_ispb, payment.payer.bank_code) == ("60701190", "341")
        assert await available(psp) - before == Decimal("98.80")

        with pytest.raises(ChargeNotPayableError) as refused:
            await call(psp.sandbox.pay(br_code=charge.br_code))
        assert refused.value.details == {"status": "COMPLETED"}
        other = await call(psp.cash_ins.create("12.00", "sdk-dynamic-2"))
        with pytest.raises(AmountMismatchError):
            await call(psp.sandbox.pay(br_code=other.br_code, amount="11.99"))
        assert await available(psp) - before == Decimal("98.80")  # nothing more moved
        assert await call(psp.cash_ins.find(external_reference="sdk-dynamic")) == paid
        with pytest.raises(ConflictError) as duplicate:
            await call(psp.cash_ins.create("1.00", "sdk-dynamic"))
        assert duplicate.value.code == "DUPLICATE_EXTERNAL_REFERENCE"
        with pytest.raises(NotFoundError):
            await call(psp.cash_ins.get("ZZZZZZZZZZ"))

    run_with(merchant, async_, flow)


def test_a_retried_charge_is_the_same_charge(merchant: Api) -> None:
    async def flow(psp: Any) -> None:
        first = await call(psp.cash_ins.create("3.00", "sdk-once", idempotency_key="charge-1"))
        again = await call(psp.cash_ins.create("3.00", "sdk-once", idempotency_key="charge-1"))
        assert again == first

    run_with(merchant, False, flow)


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_a_static_code_is_paid_twice(merchant: Api, async_: bool) -> None:
    async def flow(psp: Any) -> None:
        before = await available(psp)
        code = await call(
            psp.cash_ins.create(None, "sdk-static", type="STATIC", description="Doacao")
        )
        assert (code.type, code.amount, code.expires_at) == ("STATIC", None, None)
        assert brcode.decode(code.br_code).pix_key == code.pix_key
        first = await call(psp.sandbox.pay(br_code=code.br_code, amount="10.00"))
        second = await call(
            psp.sandbox.pay(br_code=code.br_code, amount=Decimal("25.50"), payer=PAYER)
        )
        with pytest.raises(ValidationError) as missing:
            await call(psp.sandbox.pay(br_code=code.br_code))
        assert [d["field"] for d in missing.value.details] == ["amount"]
        done = await call(psp.cash_ins.get(code.internal_code))
        assert done.status == "ACTIVE"  # a static code takes more
        assert [p.end_to_end_id for p in done.payments] == [first, second]
        # 10.00 - (0.20 + 0.10); 25.50 - (0.20 + 0.255, rounded half up to 0.26)
        assert [p.net_amount for p in done.payments] == [Decimal("9.70"), Decimal("25.04")]
        assert done.payments[1].payer.document == "***.982.247-**"
        assert done.payments[1].payer.bank_ispb == "18236120"
        assert await available(psp) - before == Decimal("34.74")

        fixed = await call(psp.cash_ins.create("5.00", "sdk-static-fixed", type="STATIC"))
        with pytest.raises(AmountMismatchError) as mismatch:
            await call(psp.sandbox.pay(br_code=fixed.br_code, amount="4.99"))
        assert mismatch.value.details == {"expected": "5.00", "paid": "4.99"}
        await call(psp.sandbox.pay(br_code=fixed.br_code))
        assert await available(psp) - before == Decimal("34.74") + Decimal("4.75")

    run_with(merchant, async_, flow)


def test_a_cancelled_charge_takes_nothing(merchant: Api) -> None:
    async def flow(psp: Any) -> None:
        charge = await call(psp.cash_ins.create("7.00", "sdk-cancel"))
        cancelled = await call(psp.cash_ins.cancel(charge.internal_code))
        assert cancelled.status == "CANCELLED" and cancelled.internal_code == charge.internal_code
        before = await available(psp)
        with pytest.raises(ChargeNotPayableError) as refused:
            await call(psp.sandbox.pay(br_code=charge.br_code))
        assert refused.value.details == {"status": "CANCELLED"}
        with pytest.raises(ConflictError) as twice:
            await call(psp.cash_ins.cancel(charge.internal_code))
        assert twice.value.code == "ILLEGAL_TRANSITION"
        assert await available(psp) == before

    run_with(merchant, True, flow)


def test_pix_keys_and_a_pix_to_a_key(merchant: Api) -> None:
    async def flow(psp: Any) -> None:
        evp = await call(psp.pix_keys.register("EVP"))
        assert evp.key_type == "EVP" and len(evp.key) == 36
        own = await call(psp.pix_keys.register("CPF", DOCUMENT))
        assert (own.key_type, own.key) == ("CPF", DOCUMENT)
        with pytest.raises(ValidationError) as other:
            await call(psp.pix_keys.register("CPF", "52998224725"))
        assert other.value.details[0]["field"] == "key"
        with pytest.raises(ConflictError) as again:
            await call(psp.pix_keys.register("CPF", DOCUMENT))
        assert again.value.code == "PIX_KEY_ALREADY_REGISTERED"
        listed = await call(psp.pix_keys.list())
        assert evp in listed and own in listed

        before = await available(psp)
        await call(psp.sandbox.pay(pix_key=evp.key, amount="2.00"))
        assert await available(psp) - before == Decimal("1.78")  # 2.00 - (0.20 + 0.02)
        assert await call(psp.pix_keys.delete(evp.key)) is None
        with pytest.raises(NotFoundError):
            await call(psp.sandbox.pay(pix_key=evp.key, amount="2.00"))
        with pytest.raises(NotFoundError):
            await call(psp.pix_keys.delete(evp.key))
        assert evp not in await call(psp.pix_keys.list())
        assert await available(psp) - before == Decimal("1.78")

    run_with(merchant, False, flow)


def test_the_webhooks_of_a_payment_and_an_expiry_verify_as_typed_events(
    settling_server: RunningServer,
) -> None:
    """The real deliveries, read by the SDK: CASHIN_COMPLETED to the charge's webhookUrl
    (signed with the client's webhookSecret), the CashIn movement to the registered
    endpoint (with its own secret), and CASHIN_EXPIRED from the worker."""
    m = new_merchant(settling_server, cash_in_fee=CASH_IN_FEE)
    clock = settling_server.clock

    def verified(received: Received, secret: str) -> webhooks.Event:
        return webhooks.verify(received.body, received.headers, secret, now=clock.now())

    with receiver() as hook:

        async def flow(psp: Any) -> None:
            endpoint = await call(psp.webhooks.create(f"{hook.url}/account"))
            charge = await call(
                psp.cash_ins.create("50.00", "sdk-hooked", webhook_url=f"{hook.url}/own")
            )
            e2e = await call(psp.sandbox.pay(br_code=charge.br_code))
            got = hook.wait_for(2)
            (own,) = [r for r in got if r.path == "/own"]
            (account,) = [r for r in got if r.path == "/account"]

            completed = verified(own, m.creds.webhook_secret)
            assert isinstance(completed, webhooks.CashInCompleted)
            paid = (await call(psp.cash_ins.get(charge.internal_code))).payments[0]
            assert (completed.transaction_id, completed.internal_code, completed.txid) == (
                charge.transaction_id,
                charge.internal_code,
                charge.txid,
            )
            assert (completed.external_reference, completed.status) == ("sdk-hooked", "COMPLETED")
            assert (
                (completed.amount, completed.fee_amount, completed.net_amount)
                == (
                    paid.amount,
                    paid.fee_amount,
                    paid.net_amount,
                )
                == (Decimal("50.00"), Decimal("0.70"), Decimal("49.30"))
            )
            assert completed.end_to_end_id == e2e and completed.paid_at == paid.paid_at
            assert completed.payer == paid.payer
            assert completed.webhook_id == own.headers["webhook-id"]

            movement = verified(account, endpoint.secret)
            assert isinstance(movement, webhooks.CashInMovement) and movement.confirmed
            assert (movement.transaction_id, movement.external_id, movement.pix_key) == (
                charge.transaction_id,
                "sdk-hooked",
                charge.pix_key,
            )
            assert (movement.original_amount, movement.fee_amount, movement.final_amount) == (
                Decimal("50.00"),
                Decimal("0.70"),
                Decimal("49.30"),
            )
            assert movement.end_to_end_id == e2e
            assert (movement.counterpart.name, movement.counterpart.bank_code) == (
                "Pagador Sandbox",
                "341",
            )

            expiring = await call(
                psp.cash_ins.create(
                    "1.00", "sdk-expires", expires_in=1, webhook_url=f"{hook.url}/own"
                )
            )
            clock.advance(seconds=2)
            try:
                settling_server.container.worker.wake()
                (*_, last) = hook.wait_for(3)
                expired = verified(last, m.creds.webhook_secret)
            finally:
                clock.advance(seconds=-2)
            assert isinstance(expired, webhooks.CashInExpired)
            assert (expired.internal_code, expired.status, expired.amount) == (
                expiring.internal_code,
                "EXPIRED",
                Decimal("1.00"),
            )
            assert expired.expires_at == expiring.expires_at
            assert (await call(psp.cash_ins.get(expiring.internal_code))).status == "EXPIRED"

        run_with(m, False, flow)
    m.close()
