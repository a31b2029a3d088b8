"""Input an attacker sends on purpose, through the real server, on SQLite and PostgreSQL:
every case is refused with a clear 4xx, the same on both databases, and none is a 5xx."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.api.jsonio import MAX_DEPTH
from connectpsp.service.auth import signature_for
from tests import logscan
from tests.support import Api, FakeClock, RunningServer, cash_out_body, new_merchant


@pytest.fixture(scope="module")
def merchant(server: RunningServer) -> Iterator[Api]:
    m = new_merchant(server, fund=1_000_00)
    yield m
    m.close()


@pytest.fixture(scope="module")
def endpoint_id(merchant: Api) -> str:
    reply = merchant.http.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=merchant.headers()
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def json_routes(merchant: Api, endpoint_id: str) -> list[tuple[str, dict[str, str]]]:
    """Every route that reads a JSON body, with the headers it needs to get that far."""
    return [
        ("/auth/token", {}),
        ("/cash-out", merchant.headers()),
        ("/cash-out/batch", merchant.headers()),
        ("/webhooks", merchant.headers()),
        ("/brcode/decode", merchant.headers()),
        ("/refunds", merchant.headers()),
        (f"/webhooks/{endpoint_id}/replay", merchant.headers()),
        ("/sandbox/dict/keys", merchant.headers()),
    ]


def error(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def post_raw(
    merchant: Api,
    path: str,
    content: bytes,
    headers: dict[str, str],
    content_type: str | None = "application/json",
) -> httpx.Response:
    sent = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return merchant.http.post(path, content=content, headers=sent)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 10_000])
def test_deep_nesting_is_invalid_json_on_every_route(
    merchant: Api, endpoint_id: str, depth: int
) -> None:
    for opener, closer in (b"[", b"]"), (b'{"a":', b"}"):
        body = opener * depth + b"1" + closer * depth
        for path, headers in json_routes(merchant, endpoint_id):
            reply = post_raw(merchant, path, body, headers)
            assert reply.status_code == 400, (path, reply.text)
            err = error(reply)
            assert err["code"] == "INVALID_JSON"
            assert f"deeper than {MAX_DEPTH} levels" in err["message"]


def test_nesting_up_to_the_limit_is_parsed(merchant: Api) -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    reply = post_raw(merchant, "/cash-out", body, merchant.headers())
    assert reply.status_code == 400 and error(reply)["code"] == "VALIDATION_ERROR"


BAD_TEXT = {
    "NUL": "Maria\x00Silva",
    "C0 control": "Maria\x1bSilva",
    "tab": "Maria\tSilva",
    "DEL": "Maria\x7fSilva",
    "C1 control": "Maria\x85Silva",
    "right-to-left override": "Maria \u202eavliS",
    "first-strong isolate": "Maria \u2068Silva\u2069",
    "right-to-left mark": "Maria\u200f Silva",
    "line separator": "Maria\u2028Silva",
}


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
@pytest.mark.parametrize("field", ["payee.name", "description", "webhookUrl"])
def test_control_and_bidi_characters_are_refused_naming_the_field(
    merchant: Api, kind: str, field: str
) -> None:
    body = cash_out_body()
    if field == "payee.name":
        body["payee"]["name"] = BAD_TEXT[kind]
    elif field == "webhookUrl":
        body["webhookUrl"] = "https://example.com/" + BAD_TEXT[kind]
    else:
        body["description"] = BAD_TEXT[kind]
    before = merchant.balance()
    reply = merchant.cash_out(body)
    assert reply.status_code == 400, reply.text
    err = error(reply)
    assert err["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in err["details"]] == [field]
    assert merchant.balance() == before
    missing = merchant.get("/cash-out", externalReference=body["externalReference"])
    assert missing.status_code == 404


def test_lone_surrogates_are_refused(merchant: Api) -> None:
    text = json.dumps(cash_out_body())
    body = text.replace('"Maria Silva"', '"Maria \\ud800Silva"').encode()
    reply = post_raw(merchant, "/cash-out", body, merchant.headers())
    assert reply.status_code == 400 and error(reply)["details"][0]["field"] == "payee.name"
    bad_key = text.replace('"description"', '"descr\\udc00iption"').encode()
    reply = post_raw(merchant, "/cash-out", bad_key, merchant.headers())
    assert reply.status_code == 400 and error(reply)["code"] == "VALIDATION_ERROR"
    assert "\\udc00" not in reply.text and "\udc00" not in reply.text


def test_control_characters_are_refused_in_every_json_body(merchant: Api, endpoint_id: str) -> None:
    bodies = {
        "/auth/token": {"clientId": merchant.creds.client_id, "clientSecret": "cs_\x00"},
        "/cash-out/batch": {"items": [cash_out_body(), cash_out_body(description="a\x00")]},
        "/webhooks": {"url": "https://example.com/\x00"},
        "/brcode/decode": {"brCode": "000201\x1b"},
        "/refunds": {"endToEndId": "E60701190202612051200Ab3dE5fG7hJ", "description": "a\x00"},
        "/sandbox/dict/keys": {
            "keyType": "EMAIL",
            "key": f"k{uuid.uuid4().hex[:8]}@example.com",
            "owner": {"name": "Ana\u202eCosta", "document": "98765432100"},
            "account": {
                "ispb": "18236120",
                "branch": "0001",
                "account": "1234",
                "accountType": "PAYMENT",
            },
        },
    }
    named = {
        "/auth/token": "clientSecret",
        "/cash-out/batch": "items[1].description",
        "/webhooks": "url",
        "/brcode/decode": "brCode",
        "/refunds": "description",
        "/sandbox/dict/keys": "owner.name",
    }
    for path, headers in json_routes(merchant, endpoint_id):
        if path not in bodies:
            continue
        reply = merchant.http.post(path, json=bodies[path], headers=headers)
        assert reply.status_code == 400, (path, reply.text)
        assert [d["field"] for d in error(reply)["details"]] == [named[path]]


def test_text_is_stored_in_nfc(merchant: Api) -> None:
    decomposed = "Jose\u0301 Conceic\u0327a\u0303o"
    body = cash_out_body(description="Cafe\u0301")
    body["payee"]["name"] = decomposed
    reply = merchant.cash_out(body)
    assert reply.status_code == 202, reply.text
    got = merchant.get(f"/cash-out/{reply.json()['internalCode']}").json()
    assert got["payee"]["name"] == "José Conceição"
    assert got["description"] == "Café"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/xml", "application/x-www-form-urlencoded", "json"],
)
def test_json_routes_want_application_json(
    merchant: Api, endpoint_id: str, content_type: str | None
) -> None:
    body = json.dumps(cash_out_body()).encode()
    for path, headers in json_routes(merchant, endpoint_id):
        reply = post_raw(merchant, path, body, headers, content_type=content_type)
        assert reply.status_code == 415, (path, content_type, reply.text)
        assert error(reply)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_json_with_a_charset_other_than_utf8_is_refused(merchant: Api) -> None:
    body = json.dumps(cash_out_body()).encode()
    fine = post_raw(
        merchant, "/cash-out", body, merchant.headers(), "Application/JSON; charset=UTF-8"
    )
    assert fine.status_code == 202, fine.text
    latin = post_raw(
        merchant, "/cash-out", body, merchant.headers(), "application/json; charset=latin-1"
    )
    assert latin.status_code == 415


def test_duplicate_keys_are_refused_not_guessed(merchant: Api) -> None:
    reference = f"dup-{uuid.uuid4().hex[:10]}"
    text = json.dumps(cash_out_body(amount="10.00", reference=reference))
    twice = text.replace('"amount": "10.00"', '"amount": "10.00", "amount": "9000.00"')
    before = merchant.balance()
    reply = post_raw(merchant, "/cash-out", twice.encode(), merchant.headers())
    assert reply.status_code == 400, reply.text
    err = error(reply)
    assert err["code"] == "VALIDATION_ERROR"
    assert err["details"] == [{"field": "amount", "message": "is given more than once"}]
    nested = text.replace('"name": "Maria Silva"', '"name": "Maria Silva", "name": "Ana"')
    reply = post_raw(merchant, "/cash-out", nested.encode(), merchant.headers())
    assert error(reply)["details"][0]["field"] == "payee.name"
    # Two spellings of one name are one name once normalised: given twice as well.
    spelled = '{"e\\u0301": 1, "\\u00e9": 2}'
    reply = post_raw(merchant, "/cash-out", spelled.encode(), merchant.headers())
    assert error(reply)["details"][0] == {"field": "é", "message": "is given more than once"}
    assert merchant.balance() == before
    assert merchant.get("/cash-out", externalReference=reference).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"amount": -Infinity}',
        b'{"amount": 1' + b"0" * 5000 + b"}",
        b'{"amount": 1e9999999999999999999}',
        b"\xff\xfe{}",
        b'\xef\xbb\xbf{"amount": 1}',
        b'{"amount": "\xc3\x28"}',
        b"",
        b"{} trailing",
    ],
)
def test_malformed_json_is_invalid_json(merchant: Api, body: bytes) -> None:
    reply = post_raw(merchant, "/cash-out", body, merchant.headers())
    assert reply.status_code == 400, reply.text
    assert error(reply)["code"] == "INVALID_JSON"


def test_huge_numbers_are_validation_errors(merchant: Api) -> None:
    reply = post_raw(
        merchant,
        "/cash-out",
        json.dumps(cash_out_body()).replace('"10.00"', "1e309").encode(),
        merchant.headers(),
    )
    assert reply.status_code == 400
    assert error(reply)["details"] == [{"field": "amount", "message": "is too large"}]


def signed_headers(merchant: Api) -> dict[str, Any]:
    return {
        "Authorization": f"Bearer {merchant.token}",
        "ApplicationToken": merchant.creds.application_token,
        "DigitalSignature": signature_for(merchant.token, merchant.creds.crypto_token),
        "X-Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


MALFORMED = [
    "é".encode("latin-1"),
    "assinatura-inválida".encode("latin-1"),
    b"\xff" * 64,
    b"a" * 8000,
    b"",
    b"a\tb c",
]


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("DigitalSignature", 401, "INVALID_SIGNATURE"),
        ("ApplicationToken", 401, "INVALID_APPLICATION_TOKEN"),
        ("Authorization", 401, "UNAUTHORIZED"),
        ("X-Idempotency-Key", 400, None),
    ],
)
def test_malformed_header_values_are_clear_refusals(
    merchant: Api, header: str, status: int, code: str | None, value: bytes
) -> None:
    headers = signed_headers(merchant)
    headers[header] = value
    body = json.dumps(cash_out_body()).encode()
    reply = merchant.http.post("/cash-out", content=body, headers=headers)
    assert reply.status_code == status, reply.text
    got = error(reply)["code"]
    if code is not None:
        assert got == code
    else:
        assert got in ("VALIDATION_ERROR", "IDEMPOTENCY_KEY_REQUIRED")
    if header == "Authorization":
        bearer = b"Bearer " + value if value else b"Bearer"
        reply = merchant.http.get("/balance", headers={**headers, "Authorization": bearer})
        assert reply.status_code == 401, reply.text


def test_idempotency_keys_are_printable_ascii(merchant: Api) -> None:
    for key in ("key with space", "tab\tkey", "k" * 256):
        headers = {**signed_headers(merchant), "X-Idempotency-Key": key}
        reply = merchant.http.post("/cash-out", json=cash_out_body(), headers=headers)
        assert reply.status_code == 400, reply.text
        assert error(reply)["details"][0]["field"] == "X-Idempotency-Key"


@pytest.mark.parametrize(
    "path",
    [
        "/cash-out/AB%00CDEFGH",
        "/cash-out/abcdefghij",
        "/cash-out?externalReference=ref%00x",
        "/cash-out?externalReference=%E2%80%AEref",
        "/cash-out?status=FAILED%00",
        "/cash-in?from=2026-12-01%00",
        "/statement?cursor=abc%0Adef",
        "/statement.csv?to=2026-12-01T10:00:00%E2%80%AE",
        "/webhooks/deliveries/%00/retry",
        "/webhooks/00000000-0000-0000-0000-00000000000%00",
    ],
)
def test_control_characters_in_paths_and_queries_are_refused(merchant: Api, path: str) -> None:
    method = "POST" if path.endswith("/retry") else "GET"
    if path.startswith("/webhooks/0"):
        method = "DELETE"
    reply = merchant.http.request(method, path, headers=merchant.headers(sign=False))
    assert reply.status_code == 400, (path, reply.text)
    assert error(reply)["code"] == "VALIDATION_ERROR"


def test_one_key_with_another_pix_key_is_a_mismatch_not_a_replay(server: RunningServer) -> None:
    merchant = new_merchant(server, fund=100_00)
    key = str(uuid.uuid4())
    reference = f"fp-{uuid.uuid4().hex[:10]}"
    first = merchant.cash_out(cash_out_body(reference=reference), key=key)
    assert first.status_code == 202, first.text
    other = cash_out_body(
        reference=reference,
        destination={"type": "PIX", "pixKeyType": "CPF", "pixKey": "98765432100"},
    )
    other["payee"]["document"] = "98765432100"
    reply = merchant.cash_out(other, key=key)
    assert reply.status_code == 422 and error(reply)["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    found = merchant.get("/cash-out", externalReference=reference).json()
    assert found["internalCode"] == first.json()["internalCode"]
    assert found["payee"]["destination"]["pixKey"] == "12345678909"
    assert merchant.balance()["reserved"] == 10.00


def test_bodies_built_to_collide_are_a_mismatch(merchant: Api) -> None:
    """Without a description, and with an empty one: two requests, whose old
    fingerprints (fields joined by U+001F, None as "") were equal."""
    key = str(uuid.uuid4())
    bare = cash_out_body()
    del bare["description"]
    assert merchant.cash_out(bare, key=key).status_code == 202
    empty = {**bare, "description": ""}
    reply = merchant.cash_out(empty, key=key)
    assert reply.status_code == 422 and error(reply)["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    again = merchant.cash_out(bare, key=key)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"


def test_a_key_used_on_one_route_is_a_mismatch_on_another(merchant: Api) -> None:
    key = str(uuid.uuid4())
    assert merchant.cash_out(cash_out_body(), key=key).status_code == 202
    reply = merchant.http.post(
        "/webhooks",
        json={"url": "http://127.0.0.1:9/hook"},
        headers={**merchant.headers(sign=False), "X-Idempotency-Key": key},
    )
    assert reply.status_code == 422 and error(reply)["code"] == "IDEMPOTENCY_KEY_MISMATCH"


# Found by the generated hostile run (tests/reliability/test_hostile_run.py).


def exchange(server: RunningServer, data: bytes, *, hang_up: bool = False) -> bytes:
    """``data`` written on a raw socket; what the server answers until it closes."""
    port = int(server.base_url.rsplit(":", 1)[1])
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        while not hang_up and (chunk := sock.recv(65536)):
            received += chunk
    return received


def logged(request_id: str) -> list[dict[str, Any]]:
    """The server's log records for ``request_id``, once its access line is written
    (the server runs in this process, and logs to this process's file)."""
    directory = logscan.log_dir()
    assert directory is not None
    path = directory / f"pytest-{os.getpid()}.jsonl"
    deadline = time.monotonic() + 5
    while True:
        records = [json.loads(line) for line in path.read_text().splitlines() if request_id in line]
        if any(r["event"] == "request" for r in records) or time.monotonic() > deadline:
            return [r for r in records if r.get("request_id") == request_id]
        time.sleep(0.05)


@pytest.mark.parametrize("path", ["/auth/token", "/cash-out"])
def test_a_client_that_hangs_up_mid_body_is_logged_as_499_without_a_trace(
    server: RunningServer, merchant: Api, path: str
) -> None:
    """A head promising 100 bytes, 10 of them, and a closed socket: not an unexpected
    error with a traceback and a 500 in the access line, as Starlette's ClientDisconnect
    was, but ``client_disconnected`` at INFO and nginx's 499."""
    request_id = f"hang-up-{uuid.uuid4().hex[:12]}"
    headers = signed_headers(merchant) if path == "/cash-out" else {}
    headers.update({"Content-Type": "application/json", "X-Request-Id": request_id})
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    before = merchant.balance()
    exchange(server, head.encode() + b'{"amount":', hang_up=True)
    records = logged(request_id)
    assert [(r["event"], r["level"]) for r in records] == [
        ("client_disconnected", "info"),
        ("request", "info"),
    ], records
    assert records[-1]["status"] == 499
    assert not any("exception" in r for r in records)
    assert merchant.balance() == before


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /balance HTTP/1.1\r\nHost: x\r\nAuthorization: a\x00b\r\n\r\n",
        b"GET /balance HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\n continued\r\n\r\n",
        b"GE\x00T /balance HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /balance HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["NUL in a header", "folded header", "NUL in the method", "negative length", "long URL"],
)
def test_a_request_the_http_parser_refuses_is_a_400_in_the_error_shape(
    server: RunningServer, request_bytes: bytes
) -> None:
    """uvicorn answers these itself, before the app: it said so in plain text."""
    head, _, body = exchange(server, request_bytes).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {
        "error": {
            "code": "HTTP_ERROR",
            "message": "The request is not valid HTTP/1.1.",
            "details": None,
        }
    }


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("Authorization", 401, "UNAUTHORIZED"),
        ("ApplicationToken", 401, "INVALID_APPLICATION_TOKEN"),
        ("DigitalSignature", 401, "INVALID_SIGNATURE"),
        ("X-Idempotency-Key", 400, "VALIDATION_ERROR"),
        ("Content-Type", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
@pytest.mark.parametrize("second", ["the same", "garbage"])
def test_a_header_sent_twice_is_refused_not_chosen(
    merchant: Api, header: str, status: int, code: str, second: str
) -> None:
    """Which of two values counts is a guess (a proxy may check the last, the app read
    the first): as a field given twice in a body, the request is refused."""
    headers = signed_headers(merchant)
    valid = headers.pop(header)
    sent = [*headers.items(), (header, valid), (header, valid if second == "the same" else "x")]
    body = cash_out_body()
    before = merchant.balance()
    reply = merchant.http.post("/cash-out", content=json.dumps(body), headers=sent)
    assert reply.status_code == status, reply.text
    assert error(reply)["code"] == code
    assert "more than once" in reply.text
    assert merchant.balance() == before
    assert merchant.get("/cash-out", externalReference=body["externalReference"]).status_code == 404


def test_a_header_sent_twice_is_refused_on_every_route_that_reads_it(merchant: Api) -> None:
    headers = merchant.headers(sign=False)
    twice = [*headers.items(), ("Authorization", headers["Authorization"])]
    assert merchant.http.get("/balance", headers=twice).status_code == 401
    key = str(uuid.uuid4())
    sent = [*merchant.headers(key=key).items(), ("X-Idempotency-Key", key)]
    reply = merchant.http.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=sent)
    assert reply.status_code == 400, reply.text
    assert error(reply)["details"] == [
        {"field": "X-Idempotency-Key", "message": "is sent more than once"}
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9ok/hook",
        "http://127.0.0.1:99999/hook",
        "http://127.0.0.1:-1/hook",
        "http://[::1/hook",
    ],
)
def test_a_webhook_url_with_a_bad_port_or_host_is_a_validation_error(
    merchant: Api, url: str
) -> None:
    """Python's urlsplit raises for these (a 500 when registering an endpoint), and a
    cash-out's webhookUrl with a bad port was accepted, to fail at every attempt."""
    reply = merchant.http.post("/webhooks", json={"url": url}, headers=merchant.headers())
    assert reply.status_code == 400, reply.text
    assert [d["field"] for d in error(reply)["details"]] == ["url"]
    body = cash_out_body(webhookUrl=url.replace("127.0.0.1", "example.com"))
    before = merchant.balance()
    reply = merchant.cash_out(body)
    assert reply.status_code == 400, reply.text
    assert [d["field"] for d in error(reply)["details"]] == ["webhookUrl"]
    assert merchant.balance() == before


def test_a_stored_url_with_a_bad_port_fails_its_attempt_as_blocked() -> None:
    """A URL stored before ports were checked: the attempt fails (and is recorded), where
    the sender raised and the dispatcher retried it at every lease, for ever."""
    sender = HttpSender(AddressGuard(allow_loopback=False), timeout=2, clock=FakeClock())
    try:
        result = asyncio.run(sender.send("https://example.com:99999/hook", {}, b"{}"))
    finally:
        sender.close()
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("blocked"), result


def test_hostile_batches_are_refused_whole_or_item_by_item(merchant: Api) -> None:
    """POST /cash-out/batch: what is wrong with the batch refuses it whole (400 or 413),
    what is wrong with one item refuses that item, named from the batch."""
    before = merchant.balance()

    def batch(body: Any) -> httpx.Response:
        return post_raw(merchant, "/cash-out/batch", json.dumps(body).encode(), merchant.headers())

    for body, field in (
        ({"items": []}, "items"),
        ({"items": [cash_out_body(amount="0.01")] * 1001}, "items"),
        ({"items": {"0": cash_out_body()}}, "items"),
        ({"items": "everything"}, "items"),
        ({"items": None}, "items"),
        ([cash_out_body()], "body"),
        ("items", "body"),
        ({"items": [cash_out_body()], "dryRun": True}, "dryRun"),
    ):
        reply = batch(body)
        assert reply.status_code == 400, (body, reply.text)
        assert [d["field"] for d in error(reply)["details"]] == [field], body
    cap = merchant.server.container.settings.max_batch_body_bytes
    padded = json.dumps({"items": [cash_out_body()]}) + " " * cap
    too_large = post_raw(merchant, "/cash-out/batch", padded.encode(), merchant.headers())
    assert too_large.status_code == 413 and error(too_large)["code"] == "PAYLOAD_TOO_LARGE"
    # A field given twice in an item is found decoding the whole body: named by its item.
    text = json.dumps({"items": [cash_out_body(), cash_out_body(amount="10.00")]})
    twice = text[::-1].replace('"00.01" :"tnuoma"', '"00.0009" :"tnuoma" ,"00.01" :"tnuoma"', 1)
    reply = post_raw(merchant, "/cash-out/batch", twice[::-1].encode(), merchant.headers())
    assert error(reply)["details"] == [
        {"field": "items[1].amount", "message": "is given more than once"}
    ]
    # Each item's own faults: its answer alone, every bad field named from the batch.
    items: list[Any] = [
        cash_out_body(amount="1e309"),
        cash_out_body(amount="-1.00", payee={"name": "", "document": "1"}),
        [cash_out_body()],
        None,
        cash_out_body(webhookUrl="https://YOUR_DOMAIN/hook"),  # a placeholder, not an address
        cash_out_body(amount="0.01"),
    ]
    reply = batch({"items": items})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == [400, 400, 400, 400, 400, 202]
    named = [[d["field"] for d in r["error"]["details"]] for r in results[:5]]
    assert named[0] == ["items[0].amount"]
    assert set(named[1]) >= {"items[1].amount", "items[1].payee.name", "items[1].payee.document"}
    assert named[2:] == [["items[2]"], ["items[3]"], ["items[4].webhookUrl"]]
    assert results[4]["error"]["code"] == "PLACEHOLDER_URL"
    assert merchant.balance()["available"] == before["available"] - 0.01
