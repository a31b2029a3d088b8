"""The idempotency fingerprint tells apart any two requests that differ in any field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectpsp.adapters.payload_json import canonical
from connectpsp.domain.cashout import BankAccount, CashOutRequest, Payee, PixDestination
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.webhooks import NewEndpoint
from connectpsp.service.fingerprints import canonical_json, fingerprint

BY_KEY = CashOutRequest(
    amount=50_00,
    external_reference="withdrawal-user-42-001",
    description="User withdrawal",
    webhook_url="https://example.com/hook",
    payee=Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909")),
)
ACCOUNT = BankAccount("18236120", "0001", "947710840", AccountType.PAYMENT)
BY_ACCOUNT = replace(BY_KEY, payee=replace(BY_KEY.payee, destination=ACCOUNT))


def with_destination(
    request: CashOutRequest, destination: PixDestination | BankAccount
) -> CashOutRequest:
    return replace(request, payee=replace(request.payee, destination=destination))


CHANGES = {
    "amount": replace(BY_KEY, amount=50_01),
    "externalReference": replace(BY_KEY, external_reference="withdrawal-user-42-002"),
    "description": replace(BY_KEY, description="User withdrawal."),
    "no description": replace(BY_KEY, description=None),
    "webhookUrl": replace(BY_KEY, webhook_url="https://example.com/hook2"),
    "no webhookUrl": replace(BY_KEY, webhook_url=None),
    "payee.name": replace(BY_KEY, payee=replace(BY_KEY.payee, name="Maria Silv")),
    "payee.document": replace(BY_KEY, payee=replace(BY_KEY.payee, document="98765432100")),
    "pixKey": with_destination(BY_KEY, PixDestination(PixKeyType.CPF, "98765432100")),
    "pixKeyType": with_destination(BY_KEY, PixDestination(PixKeyType.EVP, "12345678909")),
}
ACCOUNT_CHANGES = {
    "ispb": replace(ACCOUNT, ispb="00416968"),
    "branch": replace(ACCOUNT, branch="0002"),
    "account": replace(ACCOUNT, account="947710841"),
    "accountType": replace(ACCOUNT, account_type=AccountType.CHECKING),
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_each_field_of_a_pix_cash_out_changes_the_fingerprint(field: str) -> None:
    assert fingerprint("cash_out", CHANGES[field]) != fingerprint("cash_out", BY_KEY)


@pytest.mark.parametrize("field", sorted(ACCOUNT_CHANGES))
def test_each_bank_account_field_changes_the_fingerprint(field: str) -> None:
    changed = with_destination(BY_ACCOUNT, ACCOUNT_CHANGES[field])
    assert fingerprint("cash_out", changed) != fingerprint("cash_out", BY_ACCOUNT)


def test_every_variant_differs_from_every_other() -> None:
    variants = [BY_KEY, BY_ACCOUNT, *CHANGES.values()]
    variants += [with_destination(BY_ACCOUNT, a) for a in ACCOUNT_CHANGES.values()]
    assert len({fingerprint("cash_out", v) for v in variants}) == len(variants)


def test_the_same_request_has_the_same_fingerprint() -> None:
    again = replace(BY_KEY, payee=Payee("Maria Silva", "12345678909", BY_KEY.payee.destination))
    assert fingerprint("cash_out", again) == fingerprint("cash_out", BY_KEY)


def test_separators_inside_fields_cannot_make_two_requests_collide() -> None:
    """The old fingerprint joined fields with U+001F: moving text across that seam kept
    the joined text the same. Canonical JSON keeps every field apart."""
    seam = replace(BY_KEY, description="a\x1fb", webhook_url="c")
    moved = replace(BY_KEY, description="a", webhook_url="b\x1fc")
    assert fingerprint("cash_out", seam) != fingerprint("cash_out", moved)
    assert fingerprint("cash_out", replace(BY_KEY, description="")) != fingerprint(
        "cash_out", replace(BY_KEY, description=None)
    )


def test_the_flow_is_part_of_the_fingerprint() -> None:
    endpoint = NewEndpoint("https://example.com/hook", ("CASHOUT_COMPLETED",))
    assert fingerprint("webhook_endpoint", endpoint) != fingerprint("cash_out", endpoint)
    assert fingerprint("webhook_endpoint", endpoint) != fingerprint(
        "webhook_endpoint", replace(endpoint, events=("CASHOUT_FAILED",))
    )


def test_only_plain_values_have_a_canonical_form() -> None:
    with pytest.raises(TypeError):
        fingerprint("cash_out", {"amount": 1.5})


def test_a_fingerprint_stays_what_it_was() -> None:
    """Stored with every idempotency key: a change of encoding would turn each replay
    of a request accepted before an upgrade into a conflict."""
    assert fingerprint("cash_out", BY_KEY) == (
        "9a695969672758f07df92ce9f503c1e9dccb899a3ecfdfadfe99f01221bd60d6"
    )
    assert fingerprint("cash_out", BY_ACCOUNT) == (
        "f315d9c7694c500269b961a84450fef6bc7f14ff5e9ceafa96772c42b9ec70eb"
    )
    # The server's faster encoder makes the same ones.
    for request in (BY_KEY, BY_ACCOUNT):
        assert fingerprint("cash_out", request, canonical) == fingerprint("cash_out", request)


# Any text that can be encoded (no lone surrogates: neither encoding takes them), with
# control characters, quotes, backslashes, U+2028 and characters beyond the BMP.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=500)
@given(PLAIN)
def test_the_canonical_json_is_what_json_dumps_wrote(document: Any) -> None:
    assert canonical(document) == canonical_json(document)


@pytest.mark.parametrize(
    "text",
    ["\x00\x1f\x7f", "\n\r\t\b\f", '"\\/', "é\u2028\u2029", "😀", "ÿ\uffff", "\U0010ffff"],
)
def test_the_canonical_json_escapes_text_as_json_dumps_did(text: str) -> None:
    document = {"flow": "cash_out", "request": {text: [text, 1, None, True]}}
    assert canonical(document) == canonical_json(document)


def test_a_lone_surrogate_has_no_canonical_form_either_way() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json("\ud800")
    with pytest.raises(UnicodeEncodeError):
        canonical("\ud800")
