"""The hostile run (issue 13): input generated as an attacker would send it, against every
route of the real server on loopback, on SQLite and on PostgreSQL.

The routes come from the app's own ``/openapi.json``, so a new route is attacked without a
change here; unknown paths and methods are attacked too. Each input starts from a valid
request of a funded merchant (token, ApplicationToken, signature, a fresh idempotency key),
so that it reaches past authentication, and breaks one thing: 10 MB bodies (declared and
streamed), 10,000-deep nesting, NaN, Infinity, 1e309, 1e-400 and 5,000-digit numbers,
control, bidirectional and separator characters, lone surrogates, invalid UTF-8, BOMs,
duplicate and unknown fields, truncated JSON, wrong JSON types, every header malformed in
turn (through httpx, and on a raw socket for what httpx refuses to send), hostile path and
query parameters, broken request lines, clients that hang up mid-body; then random byte
mutations of valid bodies and random mixes of the above.

``CONNECTPSP_HOSTILE_INPUTS`` is how many inputs are sent per database (``make
reliability`` sends 20,000). They are taken round-robin from every (category, route) pair,
so even the short run of ``make test`` tries each kind of input on each route. All is drawn
from ``random.Random(CONNECTPSP_HOSTILE_SEED)``: a failure names its input by number, and
the same seed and bound send the same inputs again.

Checked: no answer is a 5xx; every error answer is ``{"error": {"code", "message",
"details"}}``; nothing hostile is accepted, and a cash-out accepted from a mutated body is
what that body said; the ledger balances and the balance moved by the accepted cash-outs
only; the server logged no ``unhandled_error``, no error and no access line with a 5xx.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import re
import socket
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectpsp.service.auth import signature_for
from tests import logscan
from tests.invariants import cash_in_problems, ledger_problems
from tests.support import Api, RunningServer, cash_out_body, new_merchant

INPUTS = int(os.environ.get("CONNECTPSP_HOSTILE_INPUTS", "1500"))
SEED = int(os.environ.get("CONNECTPSP_HOSTILE_SEED", "20261213"))
CASH_OUT, BATCH = "POST /cash-out", "POST /cash-out/batch"
FUND = 10_000_000_00  # centavos: room for every cash-out a mutation may make valid
RAW_TIMEOUT = 15.0  # above the server's 10 s body deadline
OTHER_KEY = "hostile-other-client-key"  # an X-Idempotency-Key the other client used

Json = Any
Headers = list[tuple[bytes, bytes]]
Where = tuple[str | int, ...]  # a path into a JSON value


# --- JSON as an attacker writes it ----------------------------------------------------


class Raw(str):
    """A JSON token written as it is: ``NaN``, ``1e309``, 10,000 brackets."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object written field by field, repeated fields included."""


def dumps(value: Json, *, ascii_only: bool = True) -> str:
    # A Decimal is a number ``lenient`` read back: written as the same number.
    if isinstance(value, Raw | Decimal):
        return str(value)
    if isinstance(value, dict | Pairs):
        items = value.items() if isinstance(value, dict) else value
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=ascii_only) + ":" + dumps(v, ascii_only=ascii_only)
                for k, v in items
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(dumps(v, ascii_only=ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encoded(value: Json, *, ascii_only: bool = True) -> bytes:
    # surrogatepass: a lone surrogate written raw is invalid UTF-8, hostile as well.
    return dumps(value, ascii_only=ascii_only).encode("utf-8", "surrogatepass")


def nodes(tree: Json, where: Where = ()) -> Iterator[tuple[Where, Json]]:
    """Every value inside ``tree`` (not ``tree`` itself), with where it is."""
    if isinstance(tree, dict):
        children: list[tuple[str | int, Json]] = list(tree.items())
    elif isinstance(tree, list):
        children = list(enumerate(tree))
    else:
        return
    for key, child in children:
        yield (*where, key), child
        yield from nodes(child, (*where, key))


def at(tree: Json, where: Where) -> Json:
    for key in where:
        tree = tree[key]
    return tree


def replaced(tree: Json, where: Where, new: Json) -> Json:
    if not where:
        return new
    copied = copy.deepcopy(tree)
    at(copied, where[:-1])[where[-1]] = new
    return copied


def named(where: Where) -> str:
    return ".".join(map(str, where)) or "body"


def lenient(data: bytes) -> Json:
    """What a body says, as Python's own parser reads it (None if it cannot)."""
    try:
        return json.loads(data, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None


# --- Hostile values: (label, value, may a request holding it anywhere be accepted) -----
# False: never (a 2xx is a failure). True: it may be valid somewhere (an empty description,
# a timestamp given as a number), so a 2xx is checked against what was sent instead.

Value = tuple[str, Any, bool]
DEEP = 10_000

NUMBERS: list[Value] = [
    ("NaN", Raw("NaN"), False),
    ("Infinity", Raw("Infinity"), False),
    ("-Infinity", Raw("-Infinity"), False),
    ("1e309", Raw("1e309"), False),
    ("-1e309", Raw("-1e309"), False),
    ("1E+999999999999999999999", Raw("1E+999999999999999999999"), False),
    ("10^5000", Raw("1" + "0" * 5000), False),
    ("-(10^5000 - 1)", Raw("-" + "9" * 5000), False),
    ("a 5,000-digit fraction", Raw("0." + "1" * 5000), True),
    ("1e-400", Raw("1e-400"), True),
    ("-0", Raw("-0"), True),
    ("0e0", Raw("0e0"), True),
    ("2^63", Raw(str(2**63)), True),
    ("-2^63 - 1", Raw(str(-(2**63) - 1)), True),
    ("0.005", Raw("0.005"), True),
    ("-10.00", Raw("-10.00"), True),
    *[
        (f'"{label}"', text, True)
        for label, text in [
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("1e309", "1e309"),
            ("1e-400", "1e-400"),
            ("10^5000", "1" + "0" * 5000),
            ("-10.00", "-10.00"),
            ("10,00", "10,00"),
            (" 10.00", " 10.00"),
            ("0x10", "0x10"),
            ("1_000", "1_000"),
            ("fullwidth 10.00", "\uff11\uff10.\uff10\uff10"),
            ("Arabic-Indic 10.00", "\u0661\u0660.\u0660\u0660"),
        ]
    ],
]

_C0 = [*map(chr, range(0x20)), "\x7f"]
_C1 = [*map(chr, range(0x80, 0xA0))]
_BIDI = [
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\udc00\ud800"]

TEXT: list[Value] = [
    *[(f"C0 U+{ord(c):04X}", f"Ana{c}Costa", False) for c in _C0],
    *[(f"C1 U+{ord(c):04X}", f"Ana{c}Costa", False) for c in _C1],
    *[(f"bidi U+{ord(c):04X}", f"Ana {c}atsoC", False) for c in _BIDI],
    *[(f"lone surrogate {s!r}", f"An{s}a", False) for s in _SURROGATES],
    ("U+2028", "Ana\u2028Costa", False),
    ("U+2029", "Ana\u2029Costa", False),
    ("NUL alone", "\x00", False),
    ("100,000 characters", "a" * 100_000, False),
    ("5,000 characters", "b" * 5_000, True),
    ("empty", "", True),
    ("spaces", "   ", True),
    ("BOM U+FEFF", "\ufeffAna", True),
    ("noncharacters", "Ana\ufffe\uffff\U0010ffff", True),
    ("zero-width joiner", "A\u200dna", True),
    ("500 combining accents", "A" + "\u0301" * 500, True),
    ("decomposed", "Jose\u0301", True),
    ("emoji", "Ana \U0001f4b8", True),
    ("private use", "\ue000\U000f0000", True),
    ("SQL", "' OR 1=1; DROP TABLE cash_outs; --", True),
    ("path traversal", "../../../etc/passwd", True),
    ("markup", "<script>alert(1)</script>", True),
    ("templates", "${jndi:ldap://127.0.0.1/a}{{7*7}}%s%n{0.__class__}", True),
    ("percent escapes", "%00%ff%2e%2e%2f", True),
]

TYPES: list[Value] = [
    ("[]", [], True),
    ("[[[]]]", [[[]]], True),
    ("{}", {}, True),
    ('{"a": 1}', {"a": 1}, True),
    ("0", 0, True),
    ("-1", -1, True),
    ("1.5", 1.5, True),
    ("null", None, True),
    ("true", True, True),
    ("false", False, True),
    ('"x"', "x", True),
]

NESTING: list[Value] = [
    ("10,000-deep arrays", Raw("[" * DEEP + "1" + "]" * DEEP), False),
    ("10,000-deep objects", Raw('{"a":' * DEEP + "1" + "}" * DEEP), False),
    (
        "10,000-deep arrays and objects",
        Raw('[{"a":' * (DEEP // 2) + "1" + "}]" * (DEEP // 2)),
        False,
    ),
    ("33-deep arrays", Raw("[" * 33 + "]" * 33), False),
    ("10,000 unclosed arrays", Raw("[" * DEEP), False),
    ("10,000 unclosed objects", Raw('{"a":' * DEEP), False),
    ("10,000 closing brackets", Raw("1" + "]}" * DEEP), False),
]

BAD_UTF8 = [
    ("0xff", b"\xff"),
    ("0xfe 0xff", b"\xfe\xff"),
    ("a lone continuation byte", b"\x80"),
    ("a truncated 2-byte form", b"\xc3"),
    ("a truncated 3-byte form", b"\xe2\x82"),
    ("a bad continuation", b"\xc3\x28"),
    ("an overlong '/'", b"\xc0\xaf"),
    ("an overlong NUL", b"\xc0\x80"),
    ("an encoded surrogate", b"\xed\xa0\x80"),
    ("a code point above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("a 5-byte form", b"\xf8\x88\x80\x80\x80"),
]

HOSTILE_KEYS = [
    "unknown",
    "__proto__",
    "constructor",
    "",
    "$where",
    "a\x00b",
    "a\x85b",
    "a\u202eb",
    "a\ud800b",
    "a\u2028b",
    "k" * 10_000,
]

PARAMETER_VALUES: list[tuple[str, str]] = [
    ("%00", "AB%00CDEFGH"),
    ("%00 alone", "%00"),
    ("%ff", "%ff%fe"),
    ("encoded slashes", "AB%2fCD%2FEF"),
    ("an encoded backslash", "AB%5cCD"),
    ("encoded dot-dot", "%2e%2e"),
    ("encoded traversal", "..%2f..%2fbalance"),
    ("overlong UTF-8 dots", "%c0%ae%c0%ae"),
    ("double encoding", "%2500"),
    ("CRLF", "AB%0d%0aX-Injected:%20yes"),
    ("a space", "AB%20CD"),
    ("a plus", "AB+CD"),
    ("bidi", "%e2%80%aeABCDEFGH"),
    ("unicode", "%c3%89%c3%87%c3%83O"),
    ("an emoji", "%f0%9f%92%b8"),
    ("an encoded surrogate", "%ed%a0%80"),
    ("a bad escape", "%zz%"),
    ("a semicolon", "ABCDEFGHIJ;x=1"),
    ("10,000 long", "A" * 10_000),
    ("70,000 long", "A" * 70_000),  # over httptools' 64 KiB URL
    ("lowercase", "abcdefghij"),
    ("SQL", "'%20OR%201=1--"),
]

BIG = b'{"a": "' + b"x" * (10 * 1024 * 1024 - 10) + b'"}'  # 10 MiB


# --- Routes, from the app's OpenAPI document --------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    parameters: tuple[tuple[str, str, bool, dict[str, Any]], ...]  # (in, name, required, schema)
    body_schema: dict[str, Any] | None

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def reads_body(self) -> bool:
        return self.body_schema is not None

    def requires(self, header: str) -> bool:
        """Whether the route refuses a request without ``header`` (or a bad one)."""
        if header == "Content-Type":
            return self.reads_body
        return any(w == "header" and n == header and r for w, n, r, _ in self.parameters)


def routes_of(openapi: dict[str, Any]) -> list[Route]:
    found = []
    for template, operations in openapi["paths"].items():
        for method, operation in operations.items():
            parameters = tuple(
                (p["in"], p["name"], bool(p.get("required")), p.get("schema", {}))
                for p in operation.get("parameters", [])
            )
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            found.append(Route(method.upper(), template, parameters, schema))
    return found


def example_of(schema: dict[str, Any], components: dict[str, Any]) -> Json:
    """A value for ``schema``: the body of a route this file does not know (a new one)."""
    if "$ref" in schema:
        return example_of(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            return example_of(schema[choice][0], components)
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {
            name: example_of(sub, components)
            for name, sub in schema.get("properties", {}).items()
            if name in required
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), components)]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return True if kind == "boolean" else "x"


# --- Inputs ----------------------------------------------------------------------------


@dataclass
class Case:
    """One hostile input: how it is sent, and what may come back."""

    category: str
    route: str  # "POST /cash-out", or "unknown": a path or method that is not a route
    method: str
    target: str  # path and query as sent, percent-encoded
    headers: Headers
    body: bytes | None = None
    ok: bool = False  # may be accepted (2xx)
    note: str = ""
    stream: bool = False  # the body is sent chunked, without a Content-Length
    raw: bytes | None = None  # the whole request, written on a socket as it is
    hangs_up: bool = False  # the client closes before its request is complete
    number: int = -1


@dataclass
class World:
    """What a valid request needs: a funded merchant, another client, two webhook
    endpoints (one to delete) and a cash-out to look up."""

    server: RunningServer
    merchant: Api
    other: Api
    components: dict[str, Any]
    endpoint: str
    doomed_endpoint: str
    internal_code: str
    reference: str
    rng: random.Random

    def fresh(self) -> str:
        return f"h{self.rng.getrandbits(64):016x}"

    def variants(self, route: Route) -> range:
        """The shapes of valid body ``route`` has (a cash-out: to a Pix key, to an account)."""
        return range(2 if route.name in (CASH_OUT, BATCH) else 1)

    def body(self, route: Route, variant: int = 0) -> Json:
        """A valid body for ``route``; each one new (its own reference, its own Pix key)."""
        key = route.name
        if key == "POST /auth/token":
            creds = self.merchant.creds
            return {"clientId": creds.client_id, "clientSecret": creds.client_secret}
        if key == CASH_OUT:
            return self.cash_out(variant)
        if key == BATCH:  # one item: each mutation lands in it
            return {"items": [self.cash_out(variant)]}
        if key == "POST /webhooks":
            return {"url": "http://127.0.0.1:9/hook", "events": ["CASHOUT_COMPLETED"]}
        if key == "POST /webhooks/{endpointId}/replay":
            return {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00-03:00"}
        if key == "POST /sandbox/dict/keys":
            return {
                "keyType": "EMAIL",
                "key": f"{self.fresh()}@example.com",
                "owner": {"name": "Ana Costa", "document": "98765432100"},
                "account": {
                    "ispb": "18236120",
                    "branch": "0001",
                    "account": "1234",
                    "accountType": "PAYMENT",
                },
                "rejectWith": "AC03",
            }
        assert route.body_schema is not None
        return example_of(route.body_schema, self.components)

    def cash_out(self, variant: int) -> dict[str, Any]:
        """A cash-out's body: to a Pix key, or (``variant`` 1) to a bank account."""
        body = cash_out_body(reference=self.fresh(), webhookUrl="https://example.com/hook")
        if variant:
            body["payee"]["destination"] = {
                "type": "BANK_ACCOUNT",
                "bankAccount": {
                    "ispb": "18236120",
                    "branch": "0001",
                    "account": "947710840",
                    "accountType": "CHECKING",
                },
            }
        return body

    def target(
        self, route: Route, path: dict[str, str] | None = None, query: str | None = None
    ) -> str:
        """The request target, with valid path parameters unless ``path`` gives others,
        and valid query parameters unless ``query`` is given."""
        valid = {
            "internalCode": self.internal_code,
            "endpointId": self.doomed_endpoint if route.method == "DELETE" else self.endpoint,
            "deliveryId": "00000000-0000-0000-0000-000000000000",
        }
        target = route.template
        for where, name, _, _ in route.parameters:
            if where == "path":
                value = (path or {}).get(name, valid.get(name, "x"))
                target = target.replace("{" + name + "}", value)
        if query is None:
            known = {"externalReference": self.reference, "limit": "10", "status": "pending"}
            query = "&".join(
                f"{name}={known.get(name) or example_of(schema, self.components)}"
                for where, name, required, schema in route.parameters
                if where == "query" and (required or name in known)
            )
        return target + (f"?{query}" if query else "")

    def headers(self, route: Route) -> Headers:
        api = self.merchant
        headers = [
            (b"Authorization", f"Bearer {api.token}".encode()),
            (b"ApplicationToken", api.creds.application_token.encode()),
            (b"DigitalSignature", signature_for(api.token, api.creds.crypto_token).encode()),
            (b"X-Idempotency-Key", str(uuid.UUID(int=self.rng.getrandbits(128))).encode()),
            (b"X-Request-Id", f"hostile-{self.rng.getrandbits(32):08x}".encode()),
        ]
        if route.reads_body:
            headers.append((b"Content-Type", b"application/json"))
        return headers

    def case(
        self,
        category: str,
        route: Route,
        body: Json = None,
        *,
        data: bytes | None = None,
        ok: bool,
        note: str,
        ascii_only: bool = True,
    ) -> Case:
        """A valid request to ``route`` carrying ``body`` (a JSON tree) or ``data``."""
        if data is None and body is not None:
            data = encoded(body, ascii_only=ascii_only)
        return Case(
            category,
            route.name,
            route.method,
            self.target(route),
            self.headers(route),
            body=data,
            ok=ok,
            note=note,
        )


def without(headers: Headers, name: str) -> Headers:
    return [(k, v) for k, v in headers if k.lower() != name.lower().encode()]


def http_request(
    method: bytes, target: bytes, headers: Headers, body: bytes | None, *, extra: bytes = b""
) -> bytes:
    """A request as bytes; ``extra`` is written as it is at the end of the head."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [k + b": " + v for k, v in headers]
    if body is not None:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n" + (body or b"")


# --- Generators: the systematic inputs of one category for one route -------------------

Make = Callable[[], Json]  # a new valid body of the route
Inputs = Callable[[World, Route, Make], Iterator[Case]]  # one category's, for one route


def replacing(category: str, values: list[Value]) -> Inputs:
    """Each value in turn in place of each field, and of the whole body."""

    def generate(world: World, route: Route, make: Make) -> Iterator[Case]:
        if not route.reads_body:
            return
        for where in [(), *(w for w, _ in nodes(make()))]:
            for label, value, ok in values:
                body = replaced(make(), where, value)
                yield world.case(category, route, body, ok=ok, note=f"{named(where)} = {label}")

    return generate


def gen_text(world: World, route: Route, make: Make) -> Iterator[Case]:
    """Every string field replaced by each hostile text, written escaped and as UTF-8
    (raw, a control character is not JSON and a surrogate is not UTF-8)."""
    if not route.reads_body:
        return
    for where, value in nodes(make()):
        if isinstance(value, str):
            for label, text, ok in TEXT:
                for ascii_only in (True, False):
                    how = "escaped" if ascii_only else "as UTF-8"
                    yield world.case(
                        "text",
                        route,
                        replaced(make(), where, text),
                        ok=ok,
                        note=f"{named(where)} = {label}, {how}",
                        ascii_only=ascii_only,
                    )


def gen_nesting(world: World, route: Route, make: Make) -> Iterator[Case]:
    if not route.reads_body:
        return
    for label, value, ok in NESTING:
        yield world.case("nesting", route, value, ok=ok, note=f"body = {label}")
    for where, value in nodes(make()):
        for label, deep, ok in NESTING[:3]:
            yield world.case(
                "nesting",
                route,
                replaced(make(), where, deep),
                ok=ok,
                note=f"{named(where)} = {label}",
            )
        if isinstance(value, str):  # brackets in a string are not nesting
            body = replaced(make(), where, "[" * DEEP)
            yield world.case("nesting", route, body, ok=True, note=f"{named(where)} = '[' x 10,000")


def gen_utf8(world: World, route: Route, make: Make) -> Iterator[Case]:
    if not route.reads_body:
        return
    marker = "\ue123"
    for where, value in nodes(make()):
        if isinstance(value, str):
            for label, raw in BAD_UTF8:
                data = encoded(replaced(make(), where, f"Ana{marker}Costa"), ascii_only=False)
                data = data.replace(marker.encode(), raw)
                yield world.case(
                    "invalid UTF-8",
                    route,
                    data=data,
                    ok=False,
                    note=f"{named(where)} holds {label}",
                )
    text = dumps(make(), ascii_only=False)
    for label, data in [
        ("a UTF-8 BOM", b"\xef\xbb\xbf" + text.encode()),
        ("a BOM after a colon", text.encode().replace(b":", b":\xef\xbb\xbf", 1)),
        ("UTF-16 with a BOM", text.encode("utf-16")),
        ("UTF-16 BE", text.encode("utf-16-be")),
        ("UTF-32", text.encode("utf-32")),
        ("latin-1", '{"name": "José"}'.encode("latin-1")),
        ("bytes 0x80-0xff", bytes(range(0x80, 0x100))),
    ]:
        yield world.case("invalid UTF-8", route, data=data, ok=False, note=label)


def gen_duplicates(world: World, route: Route, make: Make) -> Iterator[Case]:
    """Each field of each object given twice (same value, another, another type)."""
    if not route.reads_body:
        return
    body = make()
    objects: list[tuple[Where, dict[str, Any]]] = [((), body)] if isinstance(body, dict) else []
    objects += [(w, v) for w, v in nodes(body) if isinstance(v, dict)]
    for where, obj in objects:
        for key in obj:
            for label, twin in (
                ("the same value", None),
                ("another value", "9000.00"),
                ("another type", [1]),
            ):
                fresh = make()
                fields = at(fresh, where)
                pairs = Pairs([*fields.items(), (key, fields[key] if twin is None else twin)])
                yield world.case(
                    "duplicate keys",
                    route,
                    replaced(fresh, where, pairs),
                    ok=False,
                    note=f"{named((*where, key))} twice, {label}",
                )
    if isinstance(body, dict) and body:
        first = next(iter(body))
        fresh = make()
        many = Pairs([*fresh.items(), *[(first, fresh[first])] * 1000])
        yield world.case("duplicate keys", route, many, ok=False, note=f"{first} 1,001 times")
        spelled = Pairs([*make().items(), ("\u00e9", 1), ("e\u0301", 2)])
        yield world.case(
            "duplicate keys", route, spelled, ok=False, note="two spellings of one name"
        )


def gen_field_names(world: World, route: Route, make: Make) -> Iterator[Case]:
    """Unknown and hostile field names added to each object; each name respelled."""
    if not route.reads_body:
        return
    body = make()
    objects = [w for w, v in [((), body), *nodes(body)] if isinstance(v, dict)]
    for where in objects:
        for key in HOSTILE_KEYS:
            fresh = make()
            at(fresh, where)[key] = {"nested": [1, "x"]}
            yield world.case(
                "field names", route, fresh, ok=False, note=f"{named(where)} gets {key[:12]!r}"
            )
        for existing in list(at(body, where)):
            spellings = {existing.upper(), re.sub("([A-Z])", r"_\1", existing).lower()}
            for respelled in sorted(spellings - {existing}):
                fresh = make()
                fields = at(fresh, where)
                fields[respelled] = fields.pop(existing)
                yield world.case(
                    "field names",
                    route,
                    fresh,
                    ok=False,
                    note=f"{named((*where, existing))} as {respelled}",
                )
    fresh = make()
    if isinstance(fresh, dict):
        fresh.update({f"extra{i}": i for i in range(2000)})
        yield world.case("field names", route, fresh, ok=False, note="2,000 unknown fields")


def gen_truncated(world: World, route: Route, make: Make) -> Iterator[Case]:
    if not route.reads_body:
        return
    text = encoded(make())
    for cut in sorted({1, 2, len(text) // 4, len(text) // 2, len(text) - 2, len(text) - 1}):
        yield world.case(
            "truncated", route, data=text[:cut], ok=False, note=f"first {cut} of {len(text)} bytes"
        )
    for label, data in [
        ("empty", b""),
        ("whitespace", b" \t\r\n"),
        ("null", b"null"),
        ("two documents", text + text),
        ("a trailing comma", text[:-1] + b",}"),
        ("single quotes", text.replace(b'"', b"'")),
        ("unquoted names", re.sub(rb'"([A-Za-z]+)":', rb"\1:", text)),
        ("a comment", b"/* hi */" + text),
        ("a trailing NUL", text + b"\x00"),
        ("trailing brackets", text + b"}]"),
        ("a leading zero", b'{"amount": 010.00}'),
        ("a hex number", b'{"amount": 0x10}'),
        ("a plus sign", b'{"amount": +10}'),
        ("a raw newline in a string", b'{"a": "x\ny"}'),
        ("a raw NUL in a string", b'{"a": "x\x00y"}'),
        ("a bad escape", b'{"a": "\\x41"}'),
        ("a truncated escape", b'{"a": "\\u12"}'),
    ]:
        yield world.case("truncated", route, data=data, ok=False, note=label)


def gen_big(world: World, route: Route, make: Make) -> Iterator[Case]:
    """10 MB, and the body limit and one byte more, declared and streamed. A route that
    reads no body answers without it."""
    reads = route.reads_body
    settings = world.server.container.settings
    limit = settings.max_batch_body_bytes if route.name == BATCH else settings.max_body_bytes
    valid = encoded(make()) if reads else b"{}"
    padded = valid[:-1] + b" " * (limit - len(valid)) + valid[-1:]
    for label, data, stream, ok in [
        ("10 MB, declared", BIG, False, not reads),
        ("10 MB, streamed without Content-Length", BIG, True, not reads),
        ("the limit exactly", padded, False, True),
        ("the limit + 1, declared", padded + b" ", False, not reads),
        ("the limit + 1, streamed", padded + b" ", True, not reads),
    ]:
        case = world.case("big bodies", route, data=data, ok=ok, note=label)
        case.stream = stream
        yield case


MALFORMED_HEADERS = [
    "Authorization",
    "ApplicationToken",
    "DigitalSignature",
    "X-Idempotency-Key",
    "Content-Type",
    "X-Request-Id",
]


def header_values(world: World, name: str) -> list[tuple[str, bytes | None, bool]]:
    """Values of header ``name`` (None: left out), and whether each is a valid one."""
    api, other = world.merchant, world.other
    token, signature = api.token, signature_for(api.token, api.creds.crypto_token)
    values: list[tuple[str, bytes | None, bool]] = [
        ("missing", None, False),
        ("empty", b"", False),
        ("latin-1", "assinatura-inválida é".encode("latin-1"), False),
        ("UTF-8", "ção \u202e".encode(), False),
        ("bytes 0x80-0xff", bytes(range(0x80, 0x100)), False),
        ("8 KB", b"a" * 8192, False),
        ("64 KB", b"A" * 65536, False),
        ("JSON", b'{"a": 1}', False),
        ("a tab inside", b"a\tb", False),
    ]
    values += {
        "Authorization": [
            ("another scheme", b"Basic dXNlcjpwYXNzd29yZA==", False),
            ("the scheme alone", b"Bearer", False),
            ("no scheme", token.encode(), False),
            ("two tokens", f"Bearer {token} {token}".encode(), False),
            ("the token + 1 character", f"Bearer {token}x".encode(), False),
            ("the token cut short", f"Bearer {token[:-3]}".encode(), False),
            ("alg none", b"Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.", False),
            ("another client's valid token", f"Bearer {other.token}".encode(), False),
            ("a lowercase scheme", f"bearer {token}".encode(), True),
        ],
        "ApplicationToken": [
            ("another client's", other.creds.application_token.encode(), False),
            ("+ 1 character", (api.creds.application_token + "x").encode(), False),
            ("uppercased", api.creds.application_token.upper().encode(), False),
        ],
        "DigitalSignature": [
            (
                "another client's valid one",
                signature_for(other.token, other.creds.crypto_token).encode(),
                False,
            ),
            ("uppercase hex", signature.upper().encode(), False),
            ("63 digits", signature[:-1].encode(), False),
            (
                "of another token",
                signature_for(other.token, api.creds.crypto_token).encode(),
                False,
            ),
        ],
        "X-Idempotency-Key": [
            ("256 characters", b"k" * 256, False),
            ("255 characters", world.fresh().encode().rjust(255, b"k"), True),
            ("a space inside", b"key with space", False),
            ("a key another client used", OTHER_KEY.encode(), True),
        ],
        "Content-Type": [
            ("text/plain", b"text/plain", False),
            ("a form", b"application/x-www-form-urlencoded", False),
            ("multipart", b"multipart/form-data; boundary=x", False),
            ("charset latin-1", b"application/json; charset=latin-1", False),
            ("charset UTF-16", b"application/json; charset=utf-16", False),
            ("two types", b"application/json, text/plain", False),
            ("*/*", b"*/*", False),
            ("application/jsonx", b"application/jsonx", False),
            ("empty parameters", b"application/json;;;", True),
            ("uppercase", b"APPLICATION/JSON", True),
            ("a quoted charset", b'application/json ; charset="UTF-8"', True),
        ],
        "X-Request-Id": [("65 characters", b"r" * 65, True), ("a path", b"../../etc/passwd", True)],
    }[name]
    if name == "X-Request-Id":  # replaced by a new id when unsafe: never a refusal
        values = [(label, value, True) for label, value, _ in values]
    return values


def gen_headers(world: World, route: Route, make: Make) -> Iterator[Case]:
    """Each header malformed in turn (through httpx); each sent twice; X-Forwarded-For,
    which uvicorn trusts from loopback, hostile."""
    body = make if route.reads_body else lambda: None
    for name in MALFORMED_HEADERS:
        required = route.requires(name)
        for label, value, valid in header_values(world, name):
            case = world.case(
                "headers", route, body(), ok=valid or not required, note=f"{name}: {label}"
            )
            case.headers = without(case.headers, name)
            if value is not None:
                case.headers.append((name.encode(), value))
            yield case
        case = world.case("headers", route, body(), ok=not required, note=f"{name} sent twice")
        current = [v for k, v in case.headers if k.lower() == name.lower().encode()] or [b"x"]
        case.headers.append((name.encode(), b"2" + current[0]))
        yield case
    for label, value in [
        ("not an address", b"not-an-ip"),
        ("out of range", b"999.999.999.999"),
        ("a chain", b"1.2.3.4, 5.6.7.8, ::1"),
        ("an IPv6 zone", b"fe80::1%eth0"),
        ("brackets and a port", b"[::1]:80"),
        ("8 KB", b"9" * 8192),
        ("latin-1", "é".encode("latin-1")),
        ("empty", b""),
    ]:
        case = world.case("headers", route, body(), ok=True, note=f"X-Forwarded-For: {label}")
        case.headers.append((b"X-Forwarded-For", value))
        yield case


def gen_raw_headers(world: World, route: Route, make: Make) -> Iterator[Case]:
    """On a raw socket, what httpx will not send: control characters and folding in each
    header, broken header lines, lying or conflicting framing."""
    body = make if route.reads_body else lambda: None
    for name in MALFORMED_HEADERS:
        for label, value in [
            ("NUL", b"a\x00b"),
            ("CR", b"a\rb"),
            ("LF injection", b"a\nX-Injected: yes"),
            ("DEL", b"a\x7fb"),
            ("spaces around", b"   x   "),
            ("only spaces", b"   "),
            ("obs-fold", b"a\r\n continued"),
        ]:
            # The parser drops spaces around a value (RFC 9110's OWS): "x" is a valid key.
            valid = label == "spaces around" and name == "X-Idempotency-Key"
            case = world.case(
                "raw headers",
                route,
                body(),
                ok=valid or not route.requires(name),
                note=f"{name}: {label}",
            )
            headers = [*without(case.headers, name), (name.encode(), value)]
            case.raw = http_request(route.method.encode(), case.target.encode(), headers, case.body)
            yield case
    for label, extra in [
        ("a line without a colon", b"Authorization Bearer x\r\n"),
        ("a space before the colon", b"Authorization : x\r\n"),
        ("an empty name", b": x\r\n"),
        ("a name with separators", b"Autho(ri)zation: x\r\n"),
        ("a non-ASCII name", "Autorização: x\r\n".encode("latin-1")),
        ("1,000 headers", b"".join(b"X-H%d: v\r\n" % i for i in range(1000))),
        ("a second, different Content-Length", b"Content-Length: 1\r\n"),
        ("Content-Length and Transfer-Encoding", b"Transfer-Encoding: chunked\r\n"),
        ("Expect: 100-continue", b"Expect: 100-continue\r\n"),
        (
            "a WebSocket upgrade",
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        ),
        ("an h2c upgrade", b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
        ("a second Host", b"Host: evil.example\r\n"),
    ]:
        case = world.case("raw headers", route, body(), ok=True, note=label)
        case.raw = http_request(
            route.method.encode(), case.target.encode(), case.headers, case.body or b"", extra=extra
        )
        yield case
    for label, framing, rest in [
        ("a negative Content-Length", b"Content-Length: -1\r\n", b"{}"),
        ("a Content-Length that is not a number", b"Content-Length: abc\r\n", b"{}"),
        ("a huge Content-Length", b"Content-Length: 99999999999999999999999\r\n", b"{}"),
        ("a signed Content-Length", b"Content-Length: +2\r\n", b"{}"),
        ("a bad chunk size", b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
        (
            "an overflowing chunk size",
            b"Transfer-Encoding: chunked\r\n",
            b"ffffffffffffffffffff\r\nabc\r\n",
        ),
        ("an unknown transfer coding", b"Transfer-Encoding: gzip\r\n", b"{}"),
    ]:
        case = world.case("raw headers", route, None, ok=not route.reads_body, note=label)
        case.raw = (
            http_request(
                route.method.encode(), case.target.encode(), case.headers, None, extra=framing
            )
            + rest
        )
        yield case


def gen_parameters(world: World, route: Route, make: Make) -> Iterator[Case]:
    """Hostile path and query parameter values; unknown and numerous parameters."""
    body = make if route.reads_body else lambda: None
    for where, name, _, _ in route.parameters:
        if where == "path":
            for label, value in PARAMETER_VALUES:
                case = world.case(
                    "path and query", route, body(), ok=False, note=f"{{{name}}} = {label}"
                )
                case.target = world.target(route, {name: value})
                yield case
        if where == "query":
            others = [
                p
                for p in world.target(route).partition("?")[2].split("&")
                if p and not p.startswith(f"{name}=")
            ]
            hostile = [(label, f"{name}={value}") for label, value in PARAMETER_VALUES]
            hostile += [
                ("given twice", f"{name}=a&{name}=b"),
                ("without a value", name),
                ("empty", f"{name}="),
            ]
            for label, given in hostile:
                case = world.case(
                    "path and query", route, body(), ok=False, note=f"{name} = {label}"
                )
                case.target = world.target(route, query="&".join([*others, given]))
                yield case
    for label, extra in [
        ("unknown parameters", "a=%00&b=%ff&%00=%2f&c[]=1"),
        ("10,000 parameters", "&".join(f"p{i}=1" for i in range(10_000))),
    ]:
        case = world.case("path and query", route, body(), ok=True, note=label)
        path, _, query = case.target.partition("?")
        case.target = path + "?" + "&".join(p for p in (query, extra) if p)
        yield case


def gen_hang_ups(world: World, route: Route, make: Make) -> Iterator[Case]:
    """A client that sends a head promising 100 bytes, 10 of them, and closes; and one
    that closes in the middle of its head."""
    case = world.case("hang-ups", route, None, ok=True, note="closes after 10 of 100 bytes")
    head = http_request(
        route.method.encode(),
        case.target.encode(),
        case.headers,
        None,
        extra=b"Content-Length: 100\r\n",
    )
    case.raw = head + b'{"amount":'
    case.hangs_up = True
    yield case
    case = world.case("hang-ups", route, None, ok=True, note="closes in the middle of its head")
    case.raw = head[: head.index(b"\r\n") + 30]
    case.hangs_up = True
    yield case


UNKNOWN_PATHS = [
    "/admin",
    "/.env",
    "/.git/config",
    "//balance",
    "/balance/",
    "/BALANCE",
    "/balance;x=1",
    "/balance%2f",
    "/%2e%2e/balance",
    "/cash-out/ABCDEFGHIJ/extra",
    "/webhooks/x/y/z",
    "/%00",
    "/%ff",
    "/" + "a" * 10_000,
    "/openapi.json/x",
]
REQUEST_LINES: list[tuple[str, bytes, bool]] = [  # (label, request line, may be answered 2xx)
    ("a lowercase method", b"get /balance HTTP/1.1", True),
    ("an unknown method", b"PROPFIND /balance HTTP/1.1", False),
    ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1", False),
    ("a 1,000-character method", b"G" * 1000 + b" /balance HTTP/1.1", False),
    ("a NUL in the method", b"GE\x00T /balance HTTP/1.1", False),
    ("HTTP/9.9", b"GET /balance HTTP/9.9", False),
    ("HTTP/1.0", b"GET /balance HTTP/1.0", True),
    ("HTTP/0.9", b"GET /balance", True),
    ("the absolute form", b"GET http://evil.example/balance HTTP/1.1", True),
    ("an asterisk", b"OPTIONS * HTTP/1.1", False),
    ("no leading slash", b"GET balance HTTP/1.1", False),
    ("a raw space in the path", b"GET /bal ance HTTP/1.1", False),
    ("raw non-ASCII in the path", b"GET /cash-out/\xc3\x89\xff HTTP/1.1", False),
    ("a raw NUL in the path", b"GET /cash-out/\x00 HTTP/1.1", False),
    ("dot segments", b"GET /cash-out/../balance HTTP/1.1", True),
    ("dot segments above the root", b"GET /../../../etc/passwd HTTP/1.1", False),
    ("a fragment", b"GET /balance#frag HTTP/1.1", True),
    ("tabs for spaces", b"GET\t/balance\tHTTP/1.1", False),
    ("a TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", False),
    ("an empty line first", b"\r\nGET /balance HTTP/1.1", True),
    ("a 100 KB target", b"GET /" + b"a" * 100_000 + b" HTTP/1.1", False),
]


def gen_unknown(world: World, routes: list[Route]) -> Iterator[Case]:
    """Paths that are not routes, methods a route does not take, broken request lines."""
    headers = world.headers(routes[0])
    for path in UNKNOWN_PATHS:
        for method in ("GET", "POST"):
            body = b"{}" if method == "POST" else None
            yield Case(
                "paths and methods",
                "unknown",
                method,
                path,
                headers,
                body,
                note=f"{method} {path[:40]}",
            )
    taken: dict[str, set[str]] = {}
    for route in routes:
        taken.setdefault(route.template, set()).add(route.method)
    for route in routes:
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"]:
            if method not in taken[route.template]:
                target = world.target(route)
                yield Case(
                    "paths and methods",
                    "unknown",
                    method,
                    target,
                    headers,
                    b"{}",
                    note=f"{method} {route.template}",
                )
    for label, line, ok in REQUEST_LINES:
        raw = line + b"\r\n" + http_request(b"X", b"/", headers, None).partition(b"\r\n")[2]
        yield Case("paths and methods", "unknown", "RAW", "", [], raw=raw, ok=ok, note=label)


GENERATORS: dict[str, Inputs] = {
    "numbers": replacing("numbers", NUMBERS),
    "wrong types": replacing("wrong types", TYPES),
    "text": gen_text,
    "nesting": gen_nesting,
    "invalid UTF-8": gen_utf8,
    "duplicate keys": gen_duplicates,
    "field names": gen_field_names,
    "truncated": gen_truncated,
    "big bodies": gen_big,
    "headers": gen_headers,
    "raw headers": gen_raw_headers,
    "path and query": gen_parameters,
    "hang-ups": gen_hang_ups,
}


def mutated(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """``data`` with 1 to 8 random byte-level mutations, and what they were."""
    out = bytearray(data)
    done = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.choice(["flip", "set", "insert", "delete", "repeat", "splice"])
        i = rng.randrange(len(out)) if out else 0
        if kind == "flip" and out:
            out[i] ^= 1 << rng.randrange(8)
        elif kind == "set" and out:
            out[i] = rng.randrange(256)
        elif kind == "insert":
            out[i:i] = rng.randbytes(rng.randint(1, 4))
        elif kind == "delete":
            del out[i : i + rng.randint(1, 8)]
        elif kind == "repeat":
            out[i:i] = out[i : i + rng.randint(1, 16)]
        else:  # a byte that means something to a JSON parser or a UTF-8 decoder
            out[i:i] = bytes([rng.choice(b'\x00\xff\x80"\\{}[],:-.0eE\x7f\xc3\xed ')])
        done.append(f"{kind}@{i}")
    return bytes(out), " ".join(done)


def random_case(world: World, routes: list[Route]) -> Case:
    """Past the systematic inputs: a valid body's bytes mutated at random, or hostile
    values put in several fields at once."""
    rng = world.rng
    route = rng.choice([r for r in routes if r.reads_body])
    body = world.body(route, rng.choice(world.variants(route)))
    if rng.random() < 0.6:
        data, how = mutated(encoded(body), rng)
        return world.case("byte mutations", route, data=data, ok=True, note=how)
    leaves = [w for w, v in nodes(body) if not isinstance(v, dict | list)]
    labels, ok = [], True
    for where in rng.sample(leaves, min(len(leaves), rng.randint(1, 3))):
        label, value, valid = rng.choice(rng.choice([NUMBERS, TEXT, TYPES, NESTING]))
        body = replaced(body, where, value)
        labels.append(f"{named(where)} = {label}")
        ok = ok and valid
    return world.case(
        "mixed", route, body, ok=ok, note="; ".join(labels), ascii_only=rng.random() < 0.5
    )


@dataclass
class Plan:
    """The inputs: round-robin over every (category, route) pair's systematic inputs, each
    pair's in a seeded order, then random ones."""

    world: World
    routes: list[Route]
    buckets: list[list[Case]] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = self.world.rng
        for generator in GENERATORS.values():
            for route in self.routes:
                for variant in self.world.variants(route):
                    make = partial(self.world.body, route, variant)
                    self.buckets.append(list(generator(self.world, route, make)))
        self.buckets.append(list(gen_unknown(self.world, self.routes)))
        self.buckets = [bucket for bucket in self.buckets if bucket]
        for bucket in self.buckets:
            rng.shuffle(bucket)
        rng.shuffle(self.buckets)

    @property
    def systematic(self) -> int:
        return sum(map(len, self.buckets))

    def cases(self, count: int) -> Iterator[Case]:
        queues = [list(reversed(bucket)) for bucket in self.buckets]
        number = 0
        while number < count:
            queues = [queue for queue in queues if queue]
            for queue in queues or [[]]:
                case = queue.pop() if queue else random_case(self.world, self.routes)
                case.number = number
                yield case
                number += 1
                if number >= count:
                    return


# --- Sending and checking ------------------------------------------------------------


@dataclass
class Answer:
    status: int | None  # None: the connection closed without an answer
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def send(base_url: str, http: httpx.Client, case: Case) -> Answer:
    if case.raw is None:
        content: bytes | Iterator[bytes] | None = case.body
        if case.stream and case.body is not None:
            data = case.body
            content = (data[i : i + 262_144] for i in range(0, len(data), 262_144))
        try:
            reply = http.request(
                case.method, base_url + case.target, headers=case.headers, content=content
            )
            return Answer(reply.status_code, dict(reply.headers), reply.content)
        except (httpx.LocalProtocolError, httpx.InvalidURL):  # httpx will not: a socket will
            case.raw = http_request(
                case.method.encode(), case.target.encode(), case.headers, case.body
            )
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=RAW_TIMEOUT) as sock:
        with contextlib.suppress(OSError):  # closed mid-request: an answer may be waiting
            sock.sendall(case.raw)
        if case.hangs_up:
            return Answer(None)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                received += chunk
    return parse_answer(received)


def parse_answer(received: bytes) -> Answer:
    while received.startswith(b"HTTP/1.1 1"):  # 100 Continue
        received = received.partition(b"\r\n\r\n")[2]
    if not received:
        return Answer(None)
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    length = int(headers.get("content-length", len(rest)))
    return Answer(int(status_line.split(b" ")[1]), headers, rest[:length])


def problems_with(case: Case, answer: Answer) -> list[str]:
    where = f"#{case.number} {case.category} {case.route} [{case.note[:120]}]"
    if answer.status is None:
        return [] if case.hangs_up else [f"{where}: no answer"]
    if answer.status >= 500:
        return [f"{where}: {answer.status} {answer.body[:300]!r}"]
    if 200 <= answer.status < 300 and not case.ok and not items_refused(case, answer):
        return [f"{where}: accepted with {answer.status}: {answer.body[:200]!r}"]
    if answer.status < 400 or case.method == "HEAD":
        return []
    body = lenient(answer.body)
    error = body.get("error") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or set(body) != {"error"}
        or not isinstance(error, dict)
        or set(error) != {"code", "message", "details"}
        or not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(error["code"]))
        or not isinstance(error["message"], str)
    ):
        return [f"{where}: {answer.status} not in the error shape: {answer.body[:200]!r}"]
    return []


def items_refused(case: Case, answer: Answer) -> bool:
    """A batch refuses a bad item in its place (``{"status": 4xx, "error": ...}``) and
    answers 200 for the batch: hostile items must all be refused there."""
    body = lenient(answer.body) if case.route == BATCH and answer.status == 200 else None
    results = body.get("results") if isinstance(body, dict) else None
    return isinstance(results, list) and all(
        isinstance(r, dict) and int(r.get("status", 0)) >= 400 for r in results
    )


def batch_items(case: Case, answer: Answer) -> Iterator[tuple[str, Case]]:
    """The cash-outs a batch accepted, each with the item it was accepted from."""
    sent = lenient(case.body or b"")
    items = sent.get("items") if isinstance(sent, dict) else None
    for n, result in enumerate(json.loads(answer.body)["results"]):
        if result["status"] == 202:
            item = items[n] if isinstance(items, list) and n < len(items) else None
            yield str(result["cashOut"]["internalCode"]), replace(case, body=encoded(item))


def accepted_as_sent(api: Api, code: str, case: Case) -> list[str]:
    """A cash-out accepted from a mutated body holds what that body said."""
    where = f"#{case.number} {case.category} [{case.note[:80]}]: {code}"
    sent = lenient(case.body or b"")
    stored = api.get(f"/cash-out/{code}").json()
    if not isinstance(sent, dict) or not isinstance(sent.get("payee"), dict):
        return [f"{where} accepted from a body that is not a cash-out: {case.body!r}"]
    found = []
    try:
        amount: Decimal | None = Decimal(str(sent.get("amount")))
    except InvalidOperation:
        amount = None
    if Decimal(str(stored["amount"])) != amount:
        found.append(f"{where} holds {stored['amount']}, the body said {sent.get('amount')!r}")
    if stored["externalReference"] != sent.get("externalReference"):
        found.append(f"{where} has another externalReference than its body")
    if stored["payee"]["name"] != unicodedata.normalize("NFC", str(sent["payee"].get("name"))):
        found.append(f"{where} pays {stored['payee']['name']!r}, not {sent['payee'].get('name')!r}")
    return found


def server_log() -> Path | None:
    """This process's log file, where the server (a thread of this process) writes."""
    directory = logscan.log_dir()
    return directory / f"pytest-{os.getpid()}.jsonl" if directory else None


def log_records(path: Path | None, offset: int) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    with path.open("rb") as lines:
        lines.seek(offset)
        records = [lenient(line) for line in lines.read().splitlines()]
    return [r for r in records if isinstance(r, dict)]


@pytest.fixture(scope="module")
def world(server: RunningServer) -> Iterator[World]:
    merchant = new_merchant(server, fund=FUND)
    other = new_merchant(server, fund=100_00)
    assert other.cash_out(key=OTHER_KEY).status_code == 202

    def endpoint() -> str:
        reply = merchant.http.post(
            "/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=merchant.headers()
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    reference = f"hostile-{uuid.uuid4().hex[:12]}"
    created = merchant.cash_out(reference=reference)
    assert created.status_code == 202, created.text
    openapi = merchant.http.get("/openapi.json").json()
    yield World(
        server,
        merchant,
        other,
        openapi.get("components", {}).get("schemas", {}),
        endpoint(),
        endpoint(),
        created.json()["internalCode"],
        reference,
        random.Random(SEED),
    )
    merchant.close()
    other.close()


def test_hostile_inputs_get_no_5xx(world: World, figures: Callable[..., None]) -> None:
    """``CONNECTPSP_HOSTILE_INPUTS`` generated inputs (see the module's docstring)."""
    api = world.merchant
    routes = routes_of(api.http.get("/openapi.json").json())
    assert {"POST /cash-out", "POST /auth/token", "GET /balance"} <= {r.name for r in routes}
    plan = Plan(world, routes)
    log = server_log()
    offset = log.stat().st_size if log is not None and log.exists() else 0
    before = api.balance()

    by_category: Counter[str] = Counter()
    by_route: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    problems: list[str] = []
    accepted: dict[str, Case] = {}
    hang_ups_mid_body = 0
    started = time.monotonic()
    with httpx.Client(timeout=30) as http:
        for case in plan.cases(INPUTS):
            answer = send(world.server.base_url, http, case)
            by_category[case.category] += 1
            by_route[case.route] += 1
            answers[str(answer.status or "none")] += 1
            problems += problems_with(case, answer)
            replayed = answer.headers.get("idempotent-replayed") == "true"
            if case.route == CASH_OUT and answer.status == 202 and not replayed:
                accepted[json.loads(answer.body)["internalCode"]] = case
            if case.route == BATCH and answer.status == 200 and not replayed:
                accepted.update(batch_items(case, answer))
            reads = any(r.name == case.route and r.reads_body for r in routes)
            hang_ups_mid_body += case.hangs_up and reads and "10 of 100" in case.note
    seconds = time.monotonic() - started

    # Accepted only what was valid, and exactly that: the balance moved by the accepted
    # cash-outs (nothing settles them: the server runs no worker), the ledger balances.
    for code, case in accepted.items():
        problems += accepted_as_sent(api, code, case)
    held = sum(
        (Decimal(str(api.get(f"/cash-out/{c}").json()["finalAmount"])) for c in accepted),
        Decimal(0),
    )
    after = api.balance()
    moved = {key: Decimal(str(after[key])) - Decimal(str(before[key])) for key in after}
    if moved != {"available": -held, "reserved": held, "blocked": Decimal(0), "total": Decimal(0)}:
        problems.append(f"the balance moved by {moved}; the accepted cash-outs hold {held}")
    problems += [f"ledger: {p}" for p in ledger_problems(world.server.container.db)]
    container = world.server.container
    problems += [f"cash-in: {p}" for p in cash_in_problems(container.db, container.settings.ispb)]

    # The server logs a hang-up once it notices it: wait for those lines.
    deadline = time.monotonic() + 10
    while True:
        records = log_records(log, offset)
        requests = [r for r in records if r.get("event") == "request"]
        closed = sum(1 for r in requests if r.get("status") == 499)
        if closed >= hang_ups_mid_body or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    errors = [
        r
        for r in records
        if r.get("level") in ("error", "critical") or r.get("event") == "unhandled_error"
    ]
    logged_5xx = [r for r in requests if int(r.get("status", 0)) >= 500]
    problems += [
        f"log: {r.get('event')} {r.get('error_type', '')} {str(r.get('exception', ''))[-400:]}"
        for r in errors[:10]
    ]
    problems += [
        f"log: {r['method']} {r['path'][:80]} logged {r['status']}" for r in logged_5xx[:10]
    ]
    if closed < hang_ups_mid_body:  # more: the parser refused a body, its 400 closed it
        problems.append(
            f"{hang_ups_mid_body} clients hung up mid-body, {closed} access lines say 499"
        )

    server_errors = sum(
        n for status, n in answers.items() if status.isdigit() and int(status) >= 500
    )
    figures(
        inputs=sum(by_category.values()),
        systematic=plan.systematic,
        seed=SEED,
        seconds=round(seconds),
        by_category=dict(sorted(by_category.items())),
        answers=dict(sorted(answers.items())),
        server_errors=server_errors,
        logged_5xx=len(logged_5xx),
        logged_errors=len(errors),
        accepted_cash_outs=len(accepted),
        routes=len(routes),
        problems=len(problems),
    )
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    if len(plan.buckets) <= INPUTS:  # a round over every pair: every route attacked
        assert {r.name for r in routes} <= set(by_route), by_route


def test_an_accepted_batch_item_is_written_again_with_its_numbers() -> None:
    """A batch's items are read back with their numbers as ``Decimal`` (``lenient``), and
    each accepted one is written again to be compared with what was stored: the long run
    met an item with a decimal amount, and the writer failed on it."""
    sent = lenient(b'{"items": [{"amount": 1.50, "n": 7, "big": 1e2}]}')
    assert isinstance(sent, dict)
    assert encoded(sent["items"][0]) == b'{"amount":1.50,"n":7,"big":1E+2}'
