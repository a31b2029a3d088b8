"""docs/sdk.md's call table is the clients' real surface: every public call of
``ConnectPSP`` and ``AsyncConnectPSP``, with its exact parameters and return type, and
nothing that does not exist. Reads only docs/sdk.md and the SDK itself."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import connectpsp
from connectpsp import AsyncConnectPSP, ConnectPSP
from connectpsp.client import _lists, _refunds, _resources

DOCS = Path(__file__).parents[2] / "docs" / "sdk.md"
CLIENTS: dict[str, type[Any]] = {"ConnectPSP": ConnectPSP, "AsyncConnectPSP": AsyncConnectPSP}
_CODE = re.compile(r"`([^`]+)`")


@dataclasses.dataclass(frozen=True)
class Row:
    call: str  # "psp.webhooks.create(url, events=None, *, idempotency_key=None)"
    returns: str
    raises: str

    @property
    def name(self) -> str:  # "psp.webhooks.create"
        return self.call.split("(", 1)[0]


def call_table(text: str) -> list[Row]:
    """The rows of the first table under "## Calls"."""
    section = text.split("\n## Calls\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0].replace(" ", "") == "|call|returns|raises|", lines[0]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        call = _CODE.fullmatch(cells[0])
        assert call is not None, f"the call is not one code span: {line!r}"
        rows.append(Row(call.group(1), cells[1], cells[2]))
    return rows


# the real surface -------------------------------------------------------------------------


class _Named:
    """A callable default as the user imports it (``time.sleep``, ``asyncio.sleep``)."""

    def __init__(self, value: Callable[..., Any]) -> None:
        self.text = f"{value.__module__.split('.')[0]}.{value.__name__}"

    def __repr__(self) -> str:
        return self.text


def rendered(signature: inspect.Signature) -> str:
    """``(a, b=None, *, c=None)``: names, kinds and defaults, without annotations."""
    bare = [
        p.replace(
            annotation=p.empty,
            default=_Named(p.default)
            if p.default is not p.empty and callable(p.default)
            else p.default,
        )
        for p in signature.parameters.values()
    ]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def type_name(hint: Any) -> str:
    """``list[WebhookEndpoint]``, ``AcceptedCashOut``, ``None``: as the table writes it."""
    if hint is None or hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return str(hint.__name__)


@dataclasses.dataclass(frozen=True)
class Call:
    signature: str
    returns: Any  # the return type; for async calls, what awaiting gives
    is_async: bool


def _public_methods(owner: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, _ in inspect.getmembers(type(owner), inspect.isfunction):
        if not name.startswith("_"):
            yield name, getattr(owner, name)


def surface(client: Any) -> dict[str, Call]:
    """{"psp.webhooks.create": Call, ...}: the client's public methods, and those of each
    resource it holds (a public attribute whose class comes from ``client._resources``)."""
    found: dict[str, Call] = {}

    def add(name: str, method: Callable[..., Any]) -> None:
        returns = typing.get_type_hints(method)["return"]
        # A list is an iterator on one client and an ``async for`` one on the other.
        streamed = typing.get_origin(returns) is AsyncIterator
        if streamed:
            returns = Iterator[typing.get_args(returns)[0]]  # type: ignore[misc]
        found[name] = Call(
            rendered(inspect.signature(method)),
            returns,
            inspect.iscoroutinefunction(method) or streamed,
        )

    for name, method in _public_methods(client):
        add(f"psp.{name}", method)
    for attribute, resource in vars(client).items():
        resources = (_resources.__name__, _lists.__name__, _refunds.__name__)
        if not attribute.startswith("_") and type(resource).__module__ in resources:
            for name, method in _public_methods(resource):
                add(f"psp.{attribute}.{name}", method)
    return found


def surfaces() -> dict[str, dict[str, Call]]:
    """Both clients' surfaces, read from real instances (creating one sends nothing)."""
    transport = httpx.MockTransport(lambda _: pytest.fail("a client sent a request"))
    with ConnectPSP("http://psp.test", "cid", "cs", "ct", "at", transport=transport) as sync:
        blocking = surface(sync)

    async def awaitable() -> dict[str, Call]:
        async with AsyncConnectPSP(
            "http://psp.test", "cid", "cs", "ct", "at", transport=transport
        ) as psp:
            return surface(psp)

    return {"ConnectPSP": blocking, "AsyncConnectPSP": asyncio.run(awaitable())}


# the comparison -------------------------------------------------------------------------

# Cells that name no exception on purpose.
_RAISES_NOTHING = {"nothing", "only the errors of every call"}


def _raises_problems(row: Row, codes: str) -> list[str]:
    """Every code span in the raises cell is an exception class (the SDK's or a builtin)
    or an API error code listed in docs/errors.md."""
    spans = _CODE.findall(row.raises)
    if not spans and row.raises not in _RAISES_NOTHING:
        return [f"{row.name}: the raises cell names no exception: {row.raises!r}"]
    found = []
    for span in spans:
        if re.fullmatch(r"[A-Z][A-Z0-9_]+", span):
            if f"| `{span}` |" not in codes:
                found.append(f"{row.name} names the code {span}, not in docs/errors.md")
            continue
        value = getattr(connectpsp, span, None) or getattr(builtins, span, None)
        if not (inspect.isclass(value) and issubclass(value, Exception)):
            found.append(f"{row.name} raises {span}, which is not an exception")
    return found


def _returns_problems(row: Row, hint: Any) -> list[str]:
    """The returns cell opens with the type (``Balance``), or with the type and its
    fields in order (``Balance(available, reserved, total)``)."""
    first = _CODE.match(row.returns)
    expected = type_name(hint)
    if first is None:
        return [f"{row.name}: the returns cell does not open with `{expected}`"]
    # A union's "|" is escaped in a table cell ("A \\| B").
    name, paren, fields = first.group(1).replace("\\|", "|").partition("(")
    if name != expected:
        return [f"{row.name} returns {expected}, documented {first.group(1)}"]
    if paren:
        real = ", ".join(f.name for f in dataclasses.fields(hint))
        if fields != real + ")":
            return [f"{row.name}: {expected} has the fields ({real}), documented ({fields}"]
    return []


def problems(text: str, real: dict[str, dict[str, Call]]) -> list[str]:
    """Every difference between the call table in ``text`` and the clients' ``real``
    surfaces (from ``surfaces()``)."""
    rows = call_table(text)
    names = [row.name for row in rows]
    found = [f"{n} is documented twice" for n in sorted({n for n in names if names.count(n) > 1})]
    documented = {row.name: row for row in rows}

    for client_name, client in CLIENTS.items():
        signature = client_name + rendered(inspect.signature(client))
        if client_name not in documented:
            found.append(f"the constructor {signature} is not documented")
        elif documented[client_name].call != signature:
            found.append(f"documented {documented[client_name].call}, but it is {signature}")

    for client_name, calls in real.items():
        for name, call in sorted(calls.items()):
            if name not in documented:
                found.append(f"{client_name}: {name}{call.signature} is not documented")
            if call.is_async != (client_name == "AsyncConnectPSP"):
                found.append(f"{client_name}: {name} is {'' if call.is_async else 'not '}async")
        found += [
            f"{client_name} has no {name}"
            for name in documented
            if name.startswith("psp.") and name not in calls
        ]

    blocking, awaitable = real["ConnectPSP"], real["AsyncConnectPSP"]
    for name in sorted(blocking.keys() & awaitable.keys()):
        sync, async_ = blocking[name], awaitable[name]
        if (sync.signature, sync.returns) != (async_.signature, async_.returns):
            found.append(f"{name} differs between the clients: {sync} and {async_}")
        if name in documented:
            row = documented[name]
            if row.call != name + sync.signature:
                found.append(f"documented {row.call}, but it is {name}{sync.signature}")
            found += _returns_problems(row, sync.returns)

    codes = (DOCS.parent / "errors.md").read_text()
    for row in rows:
        found += _raises_problems(row, codes)
    return found


# the tests ------------------------------------------------------------------------------


def test_the_call_table_is_the_clients_real_surface() -> None:
    assert problems(DOCS.read_text(), surfaces()) == []


def test_the_table_covers_the_calls_issue_5_names() -> None:
    names = {row.name for row in call_table(DOCS.read_text())}
    for resource, calls in {
        "cash_outs": ("create", "get", "find"),
        "balance": ("get",),
        "webhooks": ("create", "list", "delete", "rotate_secret", "deliveries", "retry"),
    }.items():
        for call in calls:
            assert f"psp.{resource}.{call}" in names


def test_the_table_covers_the_calls_issue_15_names() -> None:
    names = {row.name for row in call_table(DOCS.read_text())}
    for resource, calls in {
        "cash_ins": ("create", "get", "find", "cancel", "qr_code"),
        "pix_keys": ("register", "list", "delete"),
        "sandbox": ("pay",),
    }.items():
        for call in calls:
            assert f"psp.{resource}.{call}" in names


def test_the_table_covers_the_refund_calls_of_issue_16() -> None:
    names = {row.name for row in call_table(DOCS.read_text())}
    assert {"psp.cash_ins.refund", "psp.refunds.get"} <= names


def _tampered(old: str, new: str) -> str:
    text = DOCS.read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(  # the audit's finding
            "`psp.webhooks.create(url, events=None, *, idempotency_key=None)`",
            "`psp.webhooks.create(url, events=None)`",
            "documented psp.webhooks.create(url, events=None), but it is",
            id="missing-parameter",
        ),
        pytest.param(
            "`psp.cash_outs.get(internal_code)`",
            "`psp.cash_outs.get(internal_code, *, expand=None)`",
            "documented psp.cash_outs.get(internal_code, *, expand=None), but",
            id="extra-parameter",
        ),
        pytest.param(
            "limit=100)`",
            "limit=50)`",
            "documented psp.webhooks.deliveries(status=None, limit=50), but",
            id="wrong-default",
        ),
        pytest.param(
            "`psp.cash_outs.find(*, external_reference)`",
            "`psp.cash_outs.find(external_reference)`",
            "documented psp.cash_outs.find(external_reference), but",
            id="keyword-only-as-positional",
        ),
        pytest.param(
            "| `psp.balance.get()` |",
            "| `psp.balance.history()` | `None` | nothing |\n| `psp.balance.get()` |",
            "ConnectPSP has no psp.balance.history",
            id="call-that-does-not-exist",
        ),
        pytest.param(
            "| `psp.webhooks.retry(delivery_id)` |",
            "| `psp.webhooks.retry_later(delivery_id)` |",
            "ConnectPSP: psp.webhooks.retry(delivery_id) is not documented",
            id="call-left-out",
        ),
        pytest.param(
            "| `Balance(available, reserved, total, blocked)` |",
            "| `CashOut` |",
            "psp.balance.get returns Balance, documented CashOut",
            id="wrong-return-type",
        ),
        pytest.param(
            "`Balance(available, reserved, total, blocked)`",
            "`Balance(available, total)`",
            "Balance has the fields (available, reserved, total, blocked)",
            id="wrong-result-fields",
        ),
        pytest.param(
            "attempted again now | `NotFoundError`;",
            "attempted again now | `MissingError`;",
            "raises MissingError, which is not an exception",
            id="unknown-exception",
        ),
        pytest.param(
            "(`DUPLICATE_EXTERNAL_REFERENCE`,",
            "(`DUPLICATE_REFERENCE`,",
            "names the code DUPLICATE_REFERENCE, not in docs/errors.md",
            id="unknown-code",
        ),
        pytest.param(
            "max_retries=2, transport=None, sleep=time.sleep",
            "max_retries=2, sleep=time.sleep",
            "documented ConnectPSP(base_url, client_id",
            id="constructor-option-left-out",
        ),
    ],
)
def test_the_check_sees_a_wrong_table(old: str, new: str, expected: str) -> None:
    found = problems(_tampered(old, new), surfaces())
    assert any(expected in problem for problem in found), found


def test_the_check_sees_a_method_or_parameter_added_without_docs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cancel(self: Any, internal_code: str) -> None: ...

    def listed(self: Any, *, limit: int = 10) -> builtins.list[Any]:
        return []

    async def listed_async(self: Any, *, limit: int = 10) -> builtins.list[Any]:
        return []

    monkeypatch.setattr(_resources.CashOuts, "cancel", cancel, raising=False)
    monkeypatch.setattr(_resources.Webhooks, "list", listed)
    monkeypatch.setattr(_resources.AsyncWebhooks, "list", listed_async)
    found = problems(DOCS.read_text(), surfaces())
    assert "ConnectPSP: psp.cash_outs.cancel(internal_code) is not documented" in found
    assert "documented psp.webhooks.list(), but it is psp.webhooks.list(*, limit=10)" in found
    # documented for both clients, it is missing from the async one
    text = _tampered(
        "| `psp.cash_outs.get(",
        "| `psp.cash_outs.cancel(internal_code)` | `None` | nothing |\n| `psp.cash_outs.get(",
    )
    assert "AsyncConnectPSP has no psp.cash_outs.cancel" in problems(text, surfaces())


def test_the_check_sees_the_clients_drift_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    async def deliveries(self: Any, status: str | None = None) -> builtins.list[Any]:
        return []

    def balance(self: Any) -> Any: ...

    monkeypatch.setattr(_resources.AsyncWebhooks, "deliveries", deliveries)
    monkeypatch.setattr(_resources.AsyncBalanceResource, "get", balance)
    found = problems(DOCS.read_text(), surfaces())
    assert any(p.startswith("psp.webhooks.deliveries differs between the clients") for p in found)
    assert "AsyncConnectPSP: psp.balance.get is not async" in found
