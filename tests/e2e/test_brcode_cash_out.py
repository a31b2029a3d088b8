"""Cash-outs that pay a BR Code, and on-us payments, through the real server with its
worker, on SQLite and PostgreSQL: a static code (with and without an amount), a dynamic
code read from its location (its JWS verified against the issuer's JWKS over HTTP), the
refusals before the 202 with no money moved, and a payment between two clients of this
PSP that settles inside the ledger with one endToEndId and conserves money."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectpsp import brcode
from connectpsp.domain.ledger import FeePlan
from tests.invariants import cash_in_problems, ledger_problems
from tests.support import Api, RunningServer, cash_out_body, new_merchant, wait_terminal

PAYEE_DOCUMENT = "11144477735"


@pytest.fixture(scope="module")
def pair(settling_server: RunningServer) -> Iterator[tuple[Api, Api]]:
    payer = new_merchant(settling_server, fund=200_00, fee=FeePlan(fixed=50))
    payee = new_merchant(settling_server, cash_in_fee=FeePlan(fixed=20), document=PAYEE_DOCUMENT)
    yield payer, payee
    payer.close()
    payee.close()


def pay_code(m: Api, code: str, amount: str) -> httpx.Response:
    return m.cash_out(cash_out_body(amount=amount, destination={"type": "BRCODE", "brCode": code}))


def charge(m: Api, **fields: Any) -> dict[str, Any]:
    reply = m.http.post("/cash-in", json=fields, headers=m.headers())
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def total(m: Api) -> Decimal:
    return Decimal(str(m.balance()["total"]))


def test_a_dynamic_code_is_paid_on_us_with_one_end_to_end_id(
    pair: tuple[Api, Api], settling_server: RunningServer
) -> None:
    payer, payee = pair
    before = total(payer) + total(payee)
    created = charge(payee, amount="30.00", externalReference="dyn-on-us", expiresIn=600)
    accepted = pay_code(payer, created["brCode"], "30.00")
    assert accepted.status_code == 202, accepted.text
    done = wait_terminal(payer, accepted.json()["internalCode"])
    assert done["status"] == "COMPLETED", done
    assert done["payee"]["destination"]["type"] == "BRCODE"
    got = payee.get(f"/cash-in/{created['internalCode']}").json()
    assert got["status"] == "COMPLETED"
    [payment] = got["payments"]
    assert payment["endToEndId"] == done["endToEndId"]  # one id, both sides
    assert payment["netAmount"] == 29.8
    assert payment["payer"]["bank"]["ispb"] == settling_server.container.settings.ispb
    # 30.00 left the payer with its 0.50 fee; 29.80 reached the payee; 0.70 in fees.
    assert before - (total(payer) + total(payee)) == Decimal("0.70")
    assert ledger_problems(settling_server.container.db) == []
    assert cash_in_problems(settling_server.container.db) == []

    again = pay_code(payer, created["brCode"], "30.00")
    assert again.status_code == 422, again.text
    assert again.json()["error"]["code"] == "CHARGE_NOT_PAYABLE"
    assert again.json()["error"]["details"] == {"status": "COMPLETED"}  # our words


def test_a_dynamic_codes_amount_is_the_charges(pair: tuple[Api, Api]) -> None:
    payer, payee = pair
    created = charge(payee, amount="12.00", externalReference="dyn-amount", expiresIn=600)
    before = payer.balance()
    wrong = pay_code(payer, created["brCode"], "11.00")
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    assert wrong.json()["error"]["details"] == {"expected": "12.00", "paid": "11.00"}
    assert payer.balance() == before  # nothing reserved


def test_static_codes_with_and_without_an_amount(pair: tuple[Api, Api]) -> None:
    payer, payee = pair
    fixed = charge(payee, type="STATIC", amount="5.00", externalReference="static-5")
    wrong = pay_code(payer, fixed["brCode"], "4.00")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    open_code = charge(payee, type="STATIC", externalReference="static-open")
    for code, amount in ((fixed["brCode"], "5.00"), (open_code["brCode"], "7.25")):
        accepted = pay_code(payer, code, amount)
        assert accepted.status_code == 202, accepted.text
        assert wait_terminal(payer, accepted.json()["internalCode"])["status"] == "COMPLETED"
    assert [
        p["amount"] for p in payee.get(f"/cash-in/{fixed['internalCode']}").json()["payments"]
    ] == [5.0]
    assert [
        p["netAmount"]
        for p in payee.get(f"/cash-in/{open_code['internalCode']}").json()["payments"]
    ] == [7.05]


def test_a_static_code_of_another_bank_goes_through_spi(pair: tuple[Api, Api]) -> None:
    payer, _ = pair
    code = brcode.encode(
        merchant_name="Maria Silva",
        merchant_city="SAO PAULO",
        pix_key="maria.silva@sandbox.connectpsp.dev",
        amount=150,
        txid="PEDIDO42",
    )
    accepted = pay_code(payer, code, "1.50")
    assert accepted.status_code == 202, accepted.text
    done = wait_terminal(payer, accepted.json()["internalCode"])
    assert done["status"] == "COMPLETED", done
    assert done["endToEndId"].startswith("E")


def test_bad_codes_are_refused_before_the_202(pair: tuple[Api, Api]) -> None:
    payer, _ = pair
    before = payer.balance()
    broken = pay_code(payer, "000201" + "x" * 40, "1.00")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "INVALID_BRCODE"
    elsewhere = brcode.encode(
        merchant_name="Loja",
        merchant_city="RIO",
        url="127.0.0.1:9/qr/0123456789abcdef0123456789abcdef",
    )
    unreadable = pay_code(payer, elsewhere, "1.00")
    assert unreadable.status_code == 422, unreadable.text
    assert unreadable.json()["error"]["code"] == "BRCODE_LOCATION_UNREADABLE"
    assert unreadable.json()["error"]["details"] == {"reason": "UNREACHABLE"}
    private = brcode.encode(
        merchant_name="Loja", merchant_city="RIO", url="10.0.0.1/qr/0123456789abcdef"
    )
    blocked = pay_code(payer, private, "1.00")
    assert blocked.json()["error"]["details"] == {"reason": "BLOCKED"}
    assert payer.balance() == before


def test_a_cash_out_to_another_clients_key_settles_on_us(
    pair: tuple[Api, Api], settling_server: RunningServer
) -> None:
    payer, payee = pair
    key = payee.http.post("/pix-keys", json={"type": "EVP"}, headers=payee.headers()).json()
    destination = {"type": "PIX", "pixKeyType": "EVP", "pixKey": key["key"]}
    payer_before, payee_before = total(payer), total(payee)
    body = cash_out_body(amount="3.00", destination=destination)
    body["payee"]["document"] = PAYEE_DOCUMENT  # DICT's owner of the key
    accepted = payer.cash_out(body)
    assert accepted.status_code == 202, accepted.text
    done = wait_terminal(payer, accepted.json()["internalCode"])
    assert done["status"] == "COMPLETED", done
    assert payer_before - total(payer) == Decimal("3.50")  # amount and cash-out fee
    assert total(payee) - payee_before == Decimal("2.80")  # less the cash-in fee

    # Another document than the key's owner's: refused as SPI would, the funds back.
    body = cash_out_body(amount="3.00", destination=destination)
    failed = wait_terminal(payer, payer.cash_out(body).json()["internalCode"])
    assert failed["status"] == "FAILED"
    assert failed["failure"]["code"] == "DOCUMENT_MISMATCH"
    assert payer_before - total(payer) == Decimal("3.50")
    assert ledger_problems(settling_server.container.db) == []
    assert cash_in_problems(settling_server.container.db) == []
