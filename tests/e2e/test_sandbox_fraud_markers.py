"""The sandbox's fraud-marker routes and its DICT security read-out, on the real server
(SQLite and PostgreSQL): a marker on a key or a document is added (201), seen in the
statistics at once, removed (204, then 404); bad input is refused naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import Api, RunningServer, new_merchant

MARKERS = "/sandbox/dict/fraud-markers"
SECURITY = "/sandbox/dict/security"
ZERO = {"d90": 0, "m12": 0, "m60": 0}
ONE = {"d90": 1, "m12": 1, "m60": 1}


@pytest.fixture(scope="module")
def m(server: RunningServer) -> Api:
    return new_merchant(server)


def new_key(m: Api, document: str = "52998224725") -> str:
    key = f"k{uuid.uuid4().hex[:12]}@example.com"
    body = {
        "keyType": "EMAIL",
        "key": key,
        "owner": {"name": "João Souza", "document": document},
        "account": {
            "ispb": "18236120",
            "branch": "0001",
            "account": str(uuid.uuid4().int % 10**9),
            "accountType": "CHECKING",
        },
    }
    reply = m.http.post("/sandbox/dict/keys", json=body, headers=m.headers(sign=False))
    assert reply.status_code == 201, reply.text
    return key


def mark(m: Api, body: dict[str, Any]) -> httpx.Response:
    return m.http.post(MARKERS, json=body, headers=m.headers(sign=False))


def security(m: Api, **params: str) -> httpx.Response:
    return m.get(SECURITY, **params)


def statistics(scammers: dict[str, int] = ZERO, active: int = 0) -> dict[str, Any]:
    """A set of statistics with nothing in it but ``scammers`` and ``active``."""
    return {
        "spi": {"settlements": ZERO},
        "fraudMarkers": {
            "applicationFrauds": ZERO,
            "muleAccounts": ZERO,
            "scammerAccounts": scammers,
            "otherFrauds": ZERO,
            "unknownFrauds": ZERO,
            "totalFraudTransactionAmount": {"d90": 0.0, "m12": 0.0, "m60": 0.0},
            "distinctFraudReporters": ONE if active else ZERO,
        },
        "infractionReports": {
            "openReports": 0,
            "openReportsDistinctReporters": 0,
            "rejectedReports": ZERO,
        },
        "activeMarkers": active,
        "blocked": False,
    }


def test_a_marker_on_a_key_is_seen_at_once_and_removed(m: Api) -> None:
    owner = "39053344705"
    key = new_key(m, owner)
    before = security(m, key=key)
    assert before.status_code == 200, before.text
    assert before.json() == {
        "key": key,
        "keyType": "EMAIL",
        "ownerDocument": owner,
        "keyStatistics": statistics(),
        "ownerStatistics": statistics(),
    }

    created = mark(m, {"key": key})
    assert created.status_code == 201, created.text
    marker = created.json()
    assert set(marker) == {"id", "key", "type", "createdAt"}
    assert (marker["key"], marker["type"]) == (key, "SCAMMER_ACCOUNT")
    assert marker["createdAt"].endswith("Z")
    marked = security(m, key=key).json()  # no wait: the POST emptied the cache
    assert marked["keyStatistics"] == statistics(ONE, active=1)
    assert marked["ownerStatistics"] == statistics(ONE, active=1)
    assert security(m, document=owner).json() == {
        "document": owner,
        "ownerStatistics": statistics(ONE, active=1),
    }

    removed = m.http.delete(f"{MARKERS}/{marker['id']}", headers=m.headers(sign=False))
    assert removed.status_code == 204 and removed.content == b""
    assert security(m, key=key).json()["keyStatistics"] == statistics()
    again = m.http.delete(f"{MARKERS}/{marker['id']}", headers=m.headers(sign=False))
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "NOT_FOUND"
    unknown = m.http.delete(f"{MARKERS}/{uuid.uuid4()}", headers=m.headers(sign=False))
    assert unknown.status_code == 404


def test_a_marker_on_a_document_with_a_type(m: Api) -> None:
    document = "11444777000161"
    created = mark(m, {"document": document, "type": "MULE_ACCOUNT"})
    assert created.status_code == 201, created.text
    marker = created.json()
    assert set(marker) == {"id", "document", "type", "createdAt"}
    assert (marker["document"], marker["type"]) == (document, "MULE_ACCOUNT")
    seen = security(m, document=document).json()["ownerStatistics"]
    assert seen["fraudMarkers"]["muleAccounts"] == ONE and seen["activeMarkers"] == 1
    # A CNPJ key resolves to its owner, the document: the key is clean, its owner marked.
    by_key = security(m, key=document).json()
    assert by_key["keyStatistics"]["activeMarkers"] == 0
    assert by_key["ownerStatistics"] == seen


def test_the_magic_values_are_in_the_statistics(m: Api) -> None:
    scammer = security(m, key="scammer@sandbox.connectpsp.dev").json()
    assert scammer["keyStatistics"]["fraudMarkers"]["scammerAccounts"]["d90"] >= 1
    assert scammer["ownerDocument"] == "40815629974"
    mule = security(m, document="28643179582").json()["ownerStatistics"]
    assert mule["fraudMarkers"]["muleAccounts"] == ONE
    blocked = security(m, key="ac06@sandbox.connectpsp.dev").json()
    assert blocked["keyStatistics"]["blocked"] is True
    assert blocked["ownerStatistics"]["blocked"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"key": "scammer@sandbox.connectpsp.dev", "document": "12345678909"}, "body"),
        ({"key": "Not An Email"}, "key"),
        ({"key": "12345678900"}, "key"),  # not a valid CPF
        ({"document": "12345678900"}, "document"),
        ({"document": "maria"}, "document"),
        ({"key": "scammer@sandbox.connectpsp.dev", "type": "FRAUD"}, "type"),
        ({"key": "scammer@sandbox.connectpsp.dev", "reason": "x"}, "reason"),
        ({"key": 12345678909}, "key"),
    ],
)
def test_a_bad_marker_is_refused_naming_the_field(m: Api, body: dict[str, Any], field: str) -> None:
    reply = mark(m, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == [field]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "key"),
        ({"key": "scammer@sandbox.connectpsp.dev", "document": "12345678909"}, "key"),
        ({"key": "Not An Email"}, "key"),
        ({"document": "12345678900"}, "document"),
        ({"document": "123456789012345"}, "document"),  # longer than any document
    ],
)
def test_a_bad_security_query_is_refused_naming_the_field(
    m: Api, params: dict[str, str], field: str
) -> None:
    reply = security(m, **params)
    assert reply.status_code == 400, reply.text
    assert [d["field"] for d in reply.json()["error"]["details"]] == [field]


def test_a_key_that_resolves_to_nothing_is_not_found(m: Api) -> None:
    reply = security(m, key=f"{uuid.uuid4().hex}@example.com")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"


def test_the_routes_need_a_client(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url) as anonymous:
        replies = [
            anonymous.post(MARKERS, json={"key": "scammer@sandbox.connectpsp.dev"}),
            anonymous.delete(f"{MARKERS}/{uuid.uuid4()}"),
            anonymous.get(SECURITY, params={"document": "12345678909"}),
        ]
    assert [r.status_code for r in replies] == [401, 401, 401]
