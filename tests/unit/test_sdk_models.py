"""The SDK's public types: every model is deeply immutable, and the error tree drawn in
``connectpsp.client.errors`` (and in docs/sdk.md) is the real class hierarchy."""

from __future__ import annotations

import dataclasses
import inspect
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

import connectpsp
from connectpsp import (
    AcceptedCashOut,
    Amount,
    Balance,
    BankAccount,
    BrCodeDestination,
    CashOut,
    CashOutItem,
    CashOutReturn,
    Charge,
    DeliveryAttempt,
    Failure,
    Infraction,
    Movement,
    Payee,
    PixKey,
    Refund,
    RegisteredPixKey,
    SecretRotation,
    WebhookDelivery,
    WebhookEndpoint,
    webhooks,
)
from connectpsp.client import errors
from tests.unit.test_sdk_cash_in import PAID, PAYMENT, PIX_KEY
from tests.unit.test_sdk_refunds import (
    FAILED_REFUND,
    REFUND,
    REFUND_COMPLETED,
    REFUND_FAILED,
    REFUND_MOVEMENT,
)
from tests.unit.test_sdk_webhooks import (
    CASHIN_COMPLETED,
    CASHIN_EXPIRED,
    CASHIN_MOVEMENT,
    COMPLETED,
    CONFIRMED,
    FAILED,
    NOW,
    SECRET,
    dumps,
    headers_for,
)

DOCS = Path(__file__).parents[2] / "docs" / "sdk.md"
CLIENTS = {"ConnectPSP", "AsyncConnectPSP"}


# immutability ---------------------------------------------------------------------------


def event(payload: dict[str, Any]) -> Any:
    body = dumps(payload)
    return webhooks.verify(body, headers_for(body), SECRET, now=NOW)


# What the server sends when a payee's bank returns part of a cash-out.
_RETURN = {
    "returnId": "D18236120202612050100abcdefghijk",
    "amount": 4.0,
    "reason": "MD06",
    "returnedAt": "2026-12-04T22:00:00-03:00",
}
CASHOUT_RETURNED = {
    "eventType": "CASHOUT_RETURNED",
    "eventAt": "2026-12-05T01:00:00Z",
    "data": {
        "internalCode": "ABCDEFGHIJ",
        "externalReference": "ref-1",
        "endToEndId": "E00416968202612050059abcdefghijk",
        "status": "COMPLETED",
        "amount": 10.0,
        "returnedAmount": 4.0,
        "return": _RETURN,
        "returns": [_RETURN],
    },
}
CASHOUT_RETURN_MOVEMENT = {
    "event": "CashOutReturn",
    "status": "CONFIRMED",
    "transactionType": "PIX",
    "movementType": "CREDIT",
    "transactionId": "4ac6204e-7c82-47a8-9aea-7fbb6fde72db",
    "externalId": "ref-1",
    "endToEndId": _RETURN["returnId"],
    "originalEndToEndId": "E00416968202612050059abcdefghijk",
    "pixKey": None,
    "feeAmount": 0.0,
    "originalAmount": 4.0,
    "finalAmount": 4.0,
    "processingDate": "2026-12-05T01:00:00.000Z",
    "errorCode": None,
    "errorMessage": None,
    "counterpart": {
        "name": "Maria Silva",
        "document": "***.456.789-**",
        "bank": {"bankISPB": "18236120", "bankName": "NU PAGAMENTOS - IP", "bankCode": "260"},
    },
    "metadata": {"reason": "MD06"},
}


def samples() -> list[Any]:
    """One instance of every public model, built the way users get them."""
    cash_out = {
        "transactionId": "t",
        "internalCode": "ABCDEFGHIJ",
        "externalReference": "r",
        "status": "FAILED",
        "amount": Decimal("1.00"),
        "feeAmount": Decimal("0.01"),
        "finalAmount": Decimal("1.01"),
        "description": None,
        "payee": COMPLETED["data"]["payee"],
        "endToEndId": None,
        "failure": {"code": "AC06", "message": "blocked"},
        "requestedAt": "2026-03-10T14:00:00-03:00",
        "paidAt": None,
    }
    delivery = WebhookDelivery.from_json(
        {
            "id": "d",
            "webhookId": "msg_1",
            "eventType": "CASHOUT_COMPLETED",
            "endpointId": "e",
            "url": "http://127.0.0.1/",
            "status": "succeeded",
            "createdAt": "2026-03-10T17:00:00Z",
            "nextAttemptAt": None,
            "attempts": [
                {
                    "attemptedAt": "2026-03-10T17:00:00Z",
                    "statusCode": 200,
                    "latencyMs": 3,
                    "responseBody": "ok",
                    "error": None,
                }
            ],
        }
    )
    movement = event(CONFIRMED)
    charge = Charge.from_json(PAID)
    refunded = Charge.from_json({**PAID, "payments": [{**PAYMENT, "refunds": [REFUND]}]})
    return [
        charge,
        charge.payments[0],
        charge.payments[0].payer,
        refunded.payments[0].refunds[0],
        Refund.from_json(FAILED_REFUND).failure,
        event(REFUND_COMPLETED),
        event(REFUND_FAILED),
        event(REFUND_MOVEMENT),
        RegisteredPixKey.from_json(PIX_KEY),
        Infraction.from_json(INFRACTION),
        event(
            {
                "eventType": "INFRACTION_REPORTED",
                "eventAt": "2026-03-10T17:00:00Z",
                "data": INFRACTION,
            }
        ),
        event(INFRACTION_MOVEMENT),
        event(CASHIN_COMPLETED),
        event(CASHIN_EXPIRED),
        event(CASHIN_MOVEMENT),
        event(CASHOUT_RETURNED),
        event(CASHOUT_RETURN_MOVEMENT),
        CashOutReturn.from_json(_RETURN),
        Movement.from_json(MOVEMENT),
        Amount.parse("1.00"),
        PixKey("CPF", "12345678909"),
        BankAccount("18236120", "0001", "947710840", "PAYMENT"),
        BrCodeDestination("000201...6304ABCD", "pix@loja.com.br", "PEDIDO42"),
        Payee.from_json(FAILED["data"]["payee"]),
        Failure("AC06", "blocked"),
        CashOutItem(Amount.parse("1.00"), "r", Payee.from_json(FAILED["data"]["payee"])),
        AcceptedCashOut.from_json(
            {
                "transactionId": "t",
                "internalCode": "ABCDEFGHIJ",
                "externalReference": "r",
                "status": "PROCESSING",
                "requestedAt": "2026-03-10T14:00:00-03:00",
            }
        ),
        CashOut.from_json(cash_out),
        Balance.from_json({"available": 1, "reserved": 0, "total": 1}),
        WebhookEndpoint.from_json(
            {
                "id": "e",
                "url": "http://127.0.0.1/",
                "events": ["CASHOUT_COMPLETED"],
                "status": "enabled",
                "createdAt": "2026-03-10T17:00:00Z",
                "secret": SECRET,
            }
        ),
        SecretRotation("e", SECRET, datetime(2026, 3, 11, tzinfo=UTC)),
        delivery,
        delivery.attempts[0],
        event(COMPLETED),
        event(FAILED),
        movement,
        movement.counterpart,
    ]


# A line of GET /statement.
MOVEMENT = {
    "movementId": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "type": "CASH_OUT_FEE",
    "movementType": "DEBIT",
    "amount": 0.5,
    "balanceAfter": 89.5,
    "subject": {"kind": "cash_out", "internalCode": "ABCDEFGHIJ"},
    "endToEndId": None,
    "createdAt": "2026-03-10T14:00:00-03:00",
}
INFRACTION = {
    "infractionId": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "endToEndId": "E60701190202603101700Ab3dE5fG7hJ9",
    "status": "OPEN",
    "amount": 8.0,
    "blockedAmount": 5.0,
    "details": "golpe",
    "reportedAt": "2026-03-10T14:00:00-03:00",
    "deadline": "2026-03-17T14:00:00-03:00",
    "decidedAt": None,
    "decidedBy": None,
    "rejectionReason": None,
    "refundId": None,
}
INFRACTION_MOVEMENT = {
    "event": "InfractionReported",
    "status": "CONFIRMED",
    "transactionType": "PIX",
    "movementType": "DEBIT",
    "transactionId": INFRACTION["infractionId"],
    "endToEndId": INFRACTION["endToEndId"],
    "originalAmount": 8.0,
    "finalAmount": 5.0,
    "processingDate": "2026-03-10T17:00:00.000Z",
    "metadata": {"infractionStatus": "OPEN", "deadline": "2026-03-17T17:00:00Z", "refundId": None},
}


def public_models() -> set[type]:
    """Every public class but the clients and the errors."""
    found: set[type] = set()
    for module in (connectpsp, webhooks):
        for name in module.__all__:
            value = getattr(module, name)
            model = inspect.isclass(value) and not issubclass(value, BaseException)
            if model and name not in CLIENTS:
                found.add(value)
    return found


def test_the_samples_cover_every_public_model() -> None:
    assert {type(s) for s in samples()} == public_models()
    assert DeliveryAttempt in public_models() and webhooks.Counterpart in public_models()


@pytest.mark.parametrize("model", sorted(public_models(), key=str), ids=lambda c: c.__name__)
def test_every_public_model_is_a_frozen_dataclass(model: type) -> None:
    assert dataclasses.is_dataclass(model)
    assert model.__dataclass_params__.frozen  # type: ignore[attr-defined]


def immutable(value: Any, where: str) -> None:
    """Fail unless ``value`` and everything it holds is immutable."""
    if value is None or isinstance(value, str | int | bool | Decimal | datetime):
        if isinstance(value, datetime):
            assert value.tzinfo is not None, f"{where} is a naive datetime"
        return
    if isinstance(value, tuple):
        for i, item in enumerate(value):
            immutable(item, f"{where}[{i}]")
        return
    if isinstance(value, MappingProxyType):
        for key, item in value.items():
            immutable(item, f"{where}[{key!r}]")
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        assert type(value).__dataclass_params__.frozen, f"{where} is not frozen"  # type: ignore[attr-defined]
        for f in dataclasses.fields(value):
            immutable(getattr(value, f.name), f"{where}.{f.name}")
        return
    raise AssertionError(f"{where} is a mutable {type(value).__name__}: {value!r}")


@pytest.mark.parametrize("sample", samples(), ids=lambda s: type(s).__name__)
def test_no_public_model_can_be_changed(sample: Any) -> None:
    immutable(sample, type(sample).__name__)
    for f in dataclasses.fields(sample):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(sample, f.name, getattr(sample, f.name))
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(sample, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.extra = 1


def test_money_is_decimal_and_times_are_aware() -> None:
    by_type = {type(s): s for s in samples()}
    cash_out = by_type[CashOut]
    assert isinstance(cash_out.amount, Decimal) and str(cash_out.final_amount) == "1.01"
    assert by_type[Balance].total == Decimal("1.00")
    charge = by_type[Charge]
    assert isinstance(charge.payments, tuple) and charge.amount == Decimal("100.00")
    assert str(charge.payments[0].net_amount) == "98.80"
    assert isinstance(by_type[webhooks.CashInCompleted].fee_amount, Decimal)
    refund = by_type[Refund]
    assert isinstance(refund.amount, Decimal) and refund.requested_at.tzinfo is not None
    assert by_type[webhooks.RefundFailed].refund.completed_at.tzinfo is not None
    movement = by_type[webhooks.CashOutMovement]
    assert isinstance(movement.metadata, MappingProxyType)
    with pytest.raises(TypeError):
        movement.metadata["x"] = 1  # type: ignore[index]


# the error tree -------------------------------------------------------------------------

_BRANCH = re.compile(r"^((?:│   |    )*)(?:├── |└── )([A-Za-z]+)\b")


def drawn_tree(text: str) -> dict[str, str | None]:
    """{class name: parent name} from a tree drawn with ├── └── │, root first."""
    lines = text.splitlines()
    root = lines.index("ConnectPSPError")
    parents: dict[str, str | None] = {"ConnectPSPError": None}
    path = ["ConnectPSPError"]
    for line in lines[root + 1 :]:
        match = _BRANCH.match(line)
        if match is None:
            break
        depth = len(match.group(1)) // 4 + 1
        assert depth <= len(path), f"a branch skips a level: {line!r}"
        del path[depth:]
        parents[match.group(2)] = path[-1]
        path.append(match.group(2))
    return parents


def real_tree() -> dict[str, str | None]:
    tree: dict[str, str | None] = {}
    for name in errors.__all__:
        value = getattr(errors, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            base = value.__bases__[0]
            assert len(value.__bases__) == 1
            tree[name] = None if base is Exception else base.__name__
    return tree


def test_the_error_tree_in_the_errors_module_is_the_class_hierarchy() -> None:
    assert errors.__doc__ is not None
    assert drawn_tree(errors.__doc__) == real_tree()


def test_the_error_tree_in_docs_sdk_md_is_the_class_hierarchy() -> None:
    section = DOCS.read_text().split("## Errors", 1)[1]
    block = section.split("```", 2)[1]
    assert drawn_tree(block.strip("\n")) == real_tree()


def drawing(text: str) -> list[str]:
    """The tree's lines as drawn, annotations included: from the root to the last branch."""
    lines = text.splitlines()
    root = lines.index("ConnectPSPError")
    end = root + 1
    while end < len(lines) and _BRANCH.match(lines[end]):
        end += 1
    return [line.rstrip() for line in lines[root:end]]


def test_the_two_drawings_say_the_same_of_every_error() -> None:
    assert errors.__doc__ is not None
    in_module = drawing(errors.__doc__)
    in_docs = drawing(DOCS.read_text().split("## Errors", 1)[1].split("```", 2)[1])
    assert len(in_module) == len(real_tree())
    assert in_docs == in_module  # the same classes, each with the same annotation


def test_the_drawings_place_idempotency_key_mismatch_at_422() -> None:
    assert errors.__doc__ is not None
    (conflict,) = [line for line in drawing(errors.__doc__) if "ConflictError" in line]
    assert "422 IDEMPOTENCY_KEY_MISMATCH" in conflict  # as the server sends it
    assert errors.error_for(
        422, {"error": {"code": "IDEMPOTENCY_KEY_MISMATCH"}}, None
    ).__class__ is (errors.ConflictError)


def test_the_tree_parser_sees_a_wrong_drawing() -> None:
    assert errors.__doc__ is not None
    wrong = errors.__doc__.replace("│   └── APITimeoutError", "├── APITimeoutError")
    assert drawn_tree(wrong) != real_tree()
    assert drawn_tree("ConnectPSPError\n└── Foo\n") == {
        "ConnectPSPError": None,
        "Foo": "ConnectPSPError",
    }


def test_the_package_points_to_the_error_tree_and_exports_every_error() -> None:
    assert connectpsp.__doc__ is not None
    assert "connectpsp.client.errors" in connectpsp.__doc__
    for name, parent in real_tree().items():
        assert getattr(connectpsp, name) is getattr(errors, name), name
        assert name in connectpsp.__all__
        assert parent is None or issubclass(getattr(connectpsp, name), connectpsp.ConnectPSPError)
