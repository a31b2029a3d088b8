"""The SDK's behaviour against a scripted transport (httpx.MockTransport): tokens,
signatures, idempotency keys, the retry policy and the error tree. Every behaviour is
run on both clients, ``ConnectPSP`` and ``AsyncConnectPSP``."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import hmac
import inspect
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import connectpsp
from connectpsp import (
    Amount,
    APIError,
    AsyncConnectPSP,
    AuthenticationError,
    ConflictError,
    ConnectPSP,
    ConnectPSPError,
    InsufficientBalanceError,
    LimitExceededError,
    NotFoundError,
    Payee,
    PixKey,
    RateLimitError,
    ValidationError,
)
from connectpsp.client._retry import parse_retry_after, retry_delay, should_retry

PAYEE = Payee("Maria Silva", "12345678909", PixKey("CPF", "12345678909"))
ACCEPTED = {
    "transactionId": "t",
    "internalCode": "ABCDEFGHIJ",
    "externalReference": "r",
    "status": "PROCESSING",
    "requestedAt": "2026-03-10T14:00:00-03:00",
}
BALANCE = {"available": 1.5, "reserved": 0, "total": 1.5}
KINDS = ["sync", "async"]


def error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"code": code, "message": code.lower(), "details": None}},
        headers={"x-request-id": "req-1", **headers},
    )


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=BALANCE if body is None else body)


class Script:
    """Answers /auth/token itself (tok-1, tok-2, ... each valid ``expires_in`` seconds);
    other requests get the scripted answers in order."""

    def __init__(self, *answers: httpx.Response | Exception, expires_in: int = 3600) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.paths: list[str] = []  # every request, token requests included, in order
        self.tokens = 0
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/auth/token":
            self.tokens += 1
            assert json.loads(request.content) == {"clientId": "cid", "clientSecret": "cs"}
            return httpx.Response(
                200,
                json={
                    "accessToken": f"tok-{self.tokens}",
                    "tokenType": "Bearer",
                    "expiresIn": self.expires_in,
                },
            )
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bearers(self) -> list[str]:
        return [r.headers["authorization"].removeprefix("Bearer ") for r in self.requests]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def call(value: Any) -> Any:
    """The result of a client call, awaited if the client is the async one."""
    return await value if inspect.isawaitable(value) else value


Steps = Callable[[Any], Awaitable[Any]]


def make(
    kind: str,
    script: Callable[[httpx.Request], Any],
    sleeps: list[float] | None = None,
    clock: Clock | None = None,
    **kw: Any,
) -> Any:
    record = sleeps if sleeps is not None else []
    options: dict[str, Any] = {
        "transport": httpx.MockTransport(script),
        "clock": clock or Clock(),
        **kw,
    }
    if kind == "sync":
        return ConnectPSP(
            "http://psp.test", "cid", "cs", "ct", "at", sleep=record.append, **options
        )

    async def fake_sleep(seconds: float) -> None:
        record.append(seconds)

    return AsyncConnectPSP("http://psp.test", "cid", "cs", "ct", "at", sleep=fake_sleep, **options)


def run(
    kind: str,
    script: Callable[[httpx.Request], Any],
    steps: Steps,
    sleeps: list[float] | None = None,
    clock: Clock | None = None,
    **kw: Any,
) -> Any:
    """Open a ``kind`` client on the scripted transport and run ``steps(psp)``, which
    writes each call as ``await call(psp....)`` so it reads the same for both clients."""

    async def main() -> Any:
        psp = make(kind, script, sleeps, clock, **kw)
        if kind == "sync":
            with psp:
                return await steps(psp)
        async with psp:
            return await steps(psp)

    return asyncio.run(main())


def balance(psp: Any) -> Awaitable[Any]:
    return call(psp.balance.get())


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# the retry policy: pure functions ---------------------------------------------------------


def test_should_retry_matrix() -> None:
    assert should_retry(None, None)  # no answer at all
    assert should_retry(500, "INTERNAL_ERROR")
    assert should_retry(503, "SERVICE_UNAVAILABLE")
    assert should_retry(429, "RATE_LIMITED")
    assert should_retry(409, "IDEMPOTENCY_KEY_IN_USE")
    for status, code in (
        (400, "VALIDATION_ERROR"),
        (401, "UNAUTHORIZED"),
        (404, "NOT_FOUND"),
        (403, "FORBIDDEN"),
        (405, "METHOD_NOT_ALLOWED"),
        (409, "DUPLICATE_EXTERNAL_REFERENCE"),
        (422, "IDEMPOTENCY_KEY_MISMATCH"),  # as the server sends it
        (422, "INSUFFICIENT_BALANCE"),
    ):
        assert not should_retry(status, code)


def test_retry_delay_is_capped_jittered_and_honours_retry_after() -> None:
    rng = random.Random(7)
    for retry in range(1, 12):
        wait = retry_delay(retry, rng=rng)
        ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert retry_delay(1, retry_after=3) == 3
    assert retry_delay(1, retry_after=0) == 0
    assert retry_delay(1, retry_after=3600) == 60


class RecordingRandom(random.Random):
    """Records the range each draw is asked for, and answers from a seeded generator."""

    def __init__(self) -> None:
        super().__init__(11)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return super().uniform(a, b)


def test_retry_delay_draws_equal_jitter_from_the_upper_half_of_the_ceiling() -> None:
    rng = RecordingRandom()
    waits = [retry_delay(retry, rng=rng) for retry in range(1, 8)]
    assert rng.ranges == [(0.25, 0.5), (0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8), (4, 8)]
    assert all(low <= wait <= high for wait, (low, high) in zip(waits, rng.ranges, strict=True))
    rng.ranges.clear()
    assert retry_delay(1, retry_after=3, rng=rng) == 3 and rng.ranges == []  # no draw


def test_retry_delay_varies_from_one_retry_to_the_next() -> None:
    seeded = random.Random(3)
    waits = [retry_delay(4, rng=seeded) for _ in range(200)]
    assert len(set(waits)) > 100  # not one fixed wait
    assert min(waits) < 2.5 and max(waits) > 3.5  # spread over the range [2, 4]
    assert all(2 <= w <= 4 for w in waits)
    unseeded = {retry_delay(4) for _ in range(50)}  # the default, the random module
    assert len(unseeded) > 1


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 3, 10, 17, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after(" 120 ", now) == 120
    assert parse_retry_after("Tue, 10 Mar 2026 17:00:30 GMT", now) == 30
    assert parse_retry_after("Tue, 10 Mar 2026 17:02:00 GMT", now) == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=9), usegmt=True), now) == 9
    assert parse_retry_after("Tue, 10 Mar 2026 16:59:00 GMT", now) == 0  # already past
    assert parse_retry_after("Tue, 10 Mar 2026 17:00:30 -0000", now) == 30
    for unreadable in (None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2026"):
        assert parse_retry_after(unreadable, now) is None, unreadable


def test_amounts_are_exact_and_never_floats() -> None:
    assert Amount.parse("50.00").centavos == 5000
    assert Amount.parse(Decimal("0.3")).centavos == 30
    assert str(Amount.from_centavos(5)) == "0.05"
    with pytest.raises(TypeError):
        Amount.parse(50.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Amount.parse(5000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 decimal places"):
        Amount.parse("50.005")


@pytest.mark.parametrize(
    "centavos", [12.5, 5000.0, True, False, Decimal("5000"), "5000", None], ids=repr
)
def test_an_amount_holds_only_an_int_of_centavos(centavos: Any) -> None:
    with pytest.raises(TypeError, match="centavos must be an int"):
        Amount(centavos)
    with pytest.raises(TypeError, match="centavos must be an int"):
        Amount.from_centavos(centavos)


@pytest.mark.parametrize("centavos", [0, -1, -5000, 10**15 + 1, 10**40])
def test_an_amount_is_positive_and_at_most_the_apis_maximum(centavos: int) -> None:
    with pytest.raises(ValueError, match="an amount"):
        Amount(centavos)
    with pytest.raises(ValueError, match="an amount"):
        Amount.from_centavos(centavos)


def test_the_largest_and_smallest_amounts() -> None:
    assert str(Amount(1)) == "0.01"
    assert str(Amount(10**15)) == "10000000000000.00"
    assert Amount.parse("10000000000000.00") == Amount(10**15)
    assert Amount.parse(Decimal("1E+13")).centavos == 10**15
    assert Amount.parse(Decimal("5E+1")).centavos == 5000
    assert Amount.parse("050.50").centavos == 5050  # trailing and leading zeros are exact
    assert Amount.parse("50.500").centavos == 5050


@pytest.mark.parametrize(
    "value",
    [
        "1e30",  # beyond the decimal context's precision: decimal would raise
        Decimal("1e30"),
        "1" + "0" * 40,
        Decimal("1E+999999"),
        Decimal("9" * 40),
        "10000000000000.01",  # one centavo over the maximum
        Decimal("1E+13") + Decimal("0.01"),
        "0",
        "0.00",
        Decimal(0),
        Decimal("-0"),
        "-50.00",
        Decimal("-50.00"),
        "NaN",
        "Infinity",
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-Infinity"),
        Decimal("1E-999999"),
        "5e1",
        "+50.00",
        " 50.00",
        "50.00\n",
        "5_000.00",
        "50,00",
        "",
        ".5",
        "50.",
        "\u0665\u0660",  # Arabic-Indic digits, which Decimal() would read as 50
    ],
    ids=repr,
)
def test_odd_or_huge_amounts_are_value_errors(value: Decimal | str) -> None:
    with pytest.raises(ValueError):
        Amount.parse(value)


def test_a_refused_amount_sends_nothing(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        for bad in ("1e30", "0.00", Decimal("sNaN")):
            with pytest.raises(ValueError):
                await call(psp.cash_outs.create(bad, "r", PAYEE))
        with pytest.raises(TypeError):
            await call(psp.cash_outs.create(Amount(12.5), "r", PAYEE))  # type: ignore[arg-type]

    run(kind, script, steps)
    assert script.paths == []


# tokens ---------------------------------------------------------------------------------


def test_no_request_before_the_first_call(kind: str) -> None:
    script = Script(ok())
    clock = Clock()

    async def steps(psp: Any) -> None:
        await asyncio.sleep(0)
        assert script.paths == []  # constructing (and entering) the client sent nothing
        clock.now += 10_000  # however long it waits
        assert script.paths == []
        await balance(psp)

    run(kind, script, steps, clock=clock)
    assert script.paths == ["/auth/token", "/balance"]


def test_a_client_never_used_sends_nothing(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        return None

    run(kind, script, steps)
    assert script.paths == []


def test_one_token_serves_many_calls(kind: str) -> None:
    script = Script(*(ok() for _ in range(6)))
    clock = Clock()

    async def steps(psp: Any) -> None:
        for _ in range(3):
            await balance(psp)
            clock.now += 60
        if kind == "async":  # concurrent calls share the one token request
            await asyncio.gather(*(balance(psp) for _ in range(3)))
        else:
            for _ in range(3):
                await balance(psp)

    run(kind, script, steps, clock=clock)
    assert script.tokens == 1
    assert script.bearers() == ["tok-1"] * 6
    assert script.paths.count("/auth/token") == 1


def test_the_token_is_renewed_before_it_expires_without_a_401(kind: str) -> None:
    script = Script(*(ok() for _ in range(4)))  # not one 401 in the script
    clock = Clock()

    async def steps(psp: Any) -> None:
        await balance(psp)  # tok-1, valid 3600 s from now
        clock.now += 3600 - 61  # a minute and a second left: still used
        await balance(psp)
        clock.now += 2  # 59 s left: renewed before the call, not after a refusal
        await balance(psp)
        await balance(psp)

    run(kind, script, steps, clock=clock)
    assert script.bearers() == ["tok-1", "tok-1", "tok-2", "tok-2"]
    assert script.tokens == 2


def test_a_short_lived_token_is_renewed_at_90_percent(kind: str) -> None:
    script = Script(*(ok() for _ in range(3)), expires_in=100)
    clock = Clock()

    async def steps(psp: Any) -> None:
        await balance(psp)
        clock.now += 89
        await balance(psp)
        clock.now += 2
        await balance(psp)

    run(kind, script, steps, clock=clock)
    assert script.bearers() == ["tok-1", "tok-1", "tok-2"]


def test_the_lifetime_counts_from_when_the_token_was_asked_for(kind: str) -> None:
    clock = Clock()
    answers = iter([ok(), ok()])

    def slow_token(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            clock.now += 30  # the token endpoint took 30 s to answer
            return httpx.Response(200, json={"accessToken": "tok", "expiresIn": 3600})
        return next(answers)

    paths: list[str] = []

    def script(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return slow_token(request)

    async def steps(psp: Any) -> None:
        await balance(psp)  # asked at 1000, answered at 1030
        clock.now = 1_000 + 3600 - 59  # 59 s left of its life, counted from the ask
        await balance(psp)

    run(kind, script, steps, clock=clock)
    assert paths == ["/auth/token", "/balance", "/auth/token", "/balance"]


def test_an_expired_token_is_renewed_exactly_once(kind: str) -> None:
    script = Script(error(401, "TOKEN_EXPIRED"), ok())
    got = run(kind, script, balance)
    assert got.available == Decimal("1.50")
    assert script.tokens == 2
    assert script.bearers() == ["tok-1", "tok-2"]

    stuck = Script(error(401, "TOKEN_EXPIRED"), error(401, "TOKEN_EXPIRED"), ok())
    with pytest.raises(AuthenticationError) as raised:
        run(kind, stuck, balance)
    assert raised.value.code == "TOKEN_EXPIRED"
    assert stuck.tokens == 2  # one renewal, not a loop
    assert stuck.bearers() == ["tok-1", "tok-2"]

    other = Script(error(401, "UNAUTHORIZED"))
    with pytest.raises(AuthenticationError):
        run(kind, other, balance)
    assert other.tokens == 1  # only TOKEN_EXPIRED renews


def test_concurrent_calls_refused_with_one_expired_token_renew_it_once() -> None:
    tokens: list[str] = []
    seen: list[str] = []
    both_in_flight = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            tokens.append(f"tok-{len(tokens) + 1}")
            return httpx.Response(200, json={"accessToken": tokens[-1], "expiresIn": 3600})
        bearer = request.headers["authorization"].removeprefix("Bearer ")
        seen.append(bearer)
        if bearer == "tok-1":
            if seen.count("tok-1") == 2:
                both_in_flight.set()
            await both_in_flight.wait()  # both calls hold tok-1 when it is refused
            return error(401, "TOKEN_EXPIRED")
        return ok()

    async def steps(psp: Any) -> Any:
        return await asyncio.gather(balance(psp), balance(psp))

    results = run("async", handler, steps)
    assert [r.total for r in results] == [Decimal("1.50")] * 2
    assert tokens == ["tok-1", "tok-2"]  # one renewal for both refusals
    assert sorted(seen) == ["tok-1", "tok-1", "tok-2", "tok-2"]


# signatures and idempotency keys --------------------------------------------------------


def test_the_cash_out_is_signed_and_each_call_has_its_own_key(kind: str) -> None:
    script = Script(httpx.Response(202, json=ACCEPTED), httpx.Response(202, json=ACCEPTED))

    async def steps(psp: Any) -> Any:
        first = await call(psp.cash_outs.create("50.00", "r", PAYEE))
        await call(psp.cash_outs.create(Amount.from_centavos(5000), "r2", PAYEE))
        return first

    first = run(kind, script, steps)
    assert script.tokens == 1
    assert first.internal_code == "ABCDEFGHIJ"
    assert first.requested_at.utcoffset() is not None
    request = script.requests[0]
    assert request.headers["authorization"] == "Bearer tok-1"
    assert request.headers["applicationtoken"] == "at"
    expected = hmac.new(b"ct", b"tok-1", hashlib.sha256).hexdigest()
    assert request.headers["digitalsignature"] == expected
    body = json.loads(request.content)
    assert body["amount"] == "50.00"  # a string, never a float
    assert body["payee"]["destination"] == {
        "type": "PIX",
        "pixKeyType": "CPF",
        "pixKey": "12345678909",
    }
    keys = {r.headers["x-idempotency-key"] for r in script.requests}
    assert len(keys) == 2  # a new key per call


def test_a_renewed_token_is_signed_anew(kind: str) -> None:
    script = Script(error(401, "TOKEN_EXPIRED"), httpx.Response(202, json=ACCEPTED))

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create("1.00", "r", PAYEE, idempotency_key="k"))

    run(kind, script, steps)
    signatures = [r.headers["digitalsignature"] for r in script.requests]
    assert signatures == [
        hmac.new(b"ct", token.encode(), hashlib.sha256).hexdigest() for token in ("tok-1", "tok-2")
    ]
    assert [r.headers["x-idempotency-key"] for r in script.requests] == ["k", "k"]


# retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["mine", None], ids=["given key", "generated key"])
def test_retries_reuse_the_idempotency_key(kind: str, given: str | None) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        error(500, "INTERNAL_ERROR"),
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        httpx.Response(202, json=ACCEPTED),
    )
    sleeps: list[float] = []

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create("50.00", "r", PAYEE, idempotency_key=given))

    accepted = run(kind, script, steps, sleeps, max_retries=4)
    assert accepted.status == "PROCESSING"
    keys = [r.headers["x-idempotency-key"] for r in script.requests]
    assert len(keys) == 5 and len(set(keys)) == 1
    assert given is None or keys[0] == given
    assert len(sleeps) == 4


def test_gets_carry_no_idempotency_key(kind: str) -> None:
    script = Script(error(503, "SERVICE_UNAVAILABLE"), ok())
    run(kind, script, balance)
    assert [r.headers.get("x-idempotency-key") for r in script.requests] == [None, None]


def test_in_flight_key_is_retried(kind: str) -> None:
    script = Script(
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        httpx.Response(202, json=ACCEPTED),
    )
    sleeps: list[float] = []

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create("50.00", "r", PAYEE))

    run(kind, script, steps, sleeps)
    assert len(script.requests) == 3
    assert len({r.headers["x-idempotency-key"] for r in script.requests}) == 1
    assert len(sleeps) == 2 and all(0.25 <= s <= 1.0 for s in sleeps)


@pytest.mark.parametrize(
    ("status", "code", "kind_of_error"),
    [
        (400, "VALIDATION_ERROR", ValidationError),
        (401, "UNAUTHORIZED", AuthenticationError),
        (403, "FORBIDDEN", APIError),
        (404, "NOT_FOUND", NotFoundError),
        (405, "METHOD_NOT_ALLOWED", APIError),
        (409, "DUPLICATE_EXTERNAL_REFERENCE", ConflictError),
        (409, "WEBHOOK_ENDPOINT_DISABLED", ConflictError),
        (415, "UNSUPPORTED_MEDIA_TYPE", APIError),
        (422, "IDEMPOTENCY_KEY_MISMATCH", ConflictError),  # the server sends it as 422
        (413, "PAYLOAD_TOO_LARGE", ValidationError),
        (422, "INSUFFICIENT_BALANCE", InsufficientBalanceError),
        (422, "LIMIT_EXCEEDED", LimitExceededError),
    ],
)
def test_other_4xx_are_never_retried(
    kind: str, status: int, code: str, kind_of_error: type[ConnectPSPError]
) -> None:
    script = Script(error(status, code), httpx.Response(202, json=ACCEPTED))
    sleeps: list[float] = []

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create("50.00", "r", PAYEE))

    with pytest.raises(kind_of_error) as raised:
        run(kind, script, steps, sleeps, max_retries=5)
    assert type(raised.value) is kind_of_error  # exactly, not a subclass
    assert len(script.requests) == 1
    assert sleeps == []
    assert (raised.value.code, raised.value.http_status, raised.value.request_id) == (
        code,
        status,
        "req-1",
    )


@pytest.mark.parametrize(("status", "code"), [(403, "FORBIDDEN"), (405, "METHOD_NOT_ALLOWED")])
def test_403_and_405_are_exactly_api_errors(kind: str, status: int, code: str) -> None:
    script = Script(error(status, code))
    with pytest.raises(ConnectPSPError) as raised:
        run(kind, script, balance, max_retries=3)
    assert type(raised.value) is APIError
    assert (raised.value.code, raised.value.http_status) == (code, status)
    assert len(script.requests) == 1  # never retried


def test_validation_details_come_back_on_the_error(kind: str) -> None:
    details = [
        {"field": "amount", "message": "must have at most 2 decimal places"},
        {"field": "payee.destination.pixKey", "message": "is not a valid CPF"},
    ]
    refusal = httpx.Response(
        400,
        json={
            "error": {
                "code": "VALIDATION_ERROR",
                "message": "Invalid fields: amount, payee.destination.pixKey.",
                "details": details,
            }
        },
        headers={"x-request-id": "req-7"},
    )
    script = Script(refusal)

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create("50.00", "r", PAYEE))

    with pytest.raises(ValidationError) as raised:
        run(kind, script, steps)
    err = raised.value
    assert type(err) is ValidationError
    assert err.code == "VALIDATION_ERROR"
    assert err.message == "Invalid fields: amount, payee.destination.pixKey."
    assert err.details == details
    assert (err.http_status, err.request_id) == (400, "req-7")
    assert str(err) == "VALIDATION_ERROR: Invalid fields: amount, payee.destination.pixKey."


def test_rate_limits_wait_for_retry_after_then_give_up(kind: str) -> None:
    script = Script(*(error(429, "RATE_LIMITED", **{"retry-after": "7"}) for _ in range(3)))
    sleeps: list[float] = []
    with pytest.raises(RateLimitError):
        run(kind, script, balance, sleeps, max_retries=2)
    assert sleeps == [7, 7]
    assert len(script.requests) == 3


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_honoured(kind: str, status: int) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    script = Script(
        error(status, "RATE_LIMITED", **{"retry-after": format_datetime(when, usegmt=True)}),
        ok(),
    )
    sleeps: list[float] = []
    run(kind, script, balance, sleeps)
    assert len(sleeps) == 1
    assert 25 <= sleeps[0] <= 30  # the date, less the time the test took; not backoff


def test_a_far_retry_after_is_capped_at_a_minute(kind: str) -> None:
    far = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    script = Script(
        error(429, "RATE_LIMITED", **{"retry-after": far}),
        error(429, "RATE_LIMITED", **{"retry-after": "86400"}),
        ok(),
    )
    sleeps: list[float] = []
    run(kind, script, balance, sleeps)
    assert sleeps == [60, 60]


def test_connection_errors_surface_after_the_retries(kind: str) -> None:
    script = Script(*(httpx.ConnectError("refused") for _ in range(3)))
    sleeps: list[float] = []
    with pytest.raises(connectpsp.APIConnectionError) as refused:
        run(kind, script, balance, sleeps)
    assert not isinstance(refused.value, connectpsp.APITimeoutError)
    assert len(script.requests) == 3 and len(sleeps) == 2
    slow = Script(*(httpx.ReadTimeout("slow") for _ in range(3)))
    with pytest.raises(connectpsp.APITimeoutError):
        run(kind, slow, balance)
    broken = Script(*(error(502, "BAD_GATEWAY") for _ in range(2)))
    with pytest.raises(connectpsp.APIError):
        run(kind, broken, balance, max_retries=1)
    assert len(broken.requests) == 2


def test_no_retries_when_max_retries_is_zero(kind: str) -> None:
    script = Script(error(500, "INTERNAL_ERROR"), ok())
    with pytest.raises(connectpsp.APIError):
        run(kind, script, balance, max_retries=0)
    assert len(script.requests) == 1


# the webhook calls ----------------------------------------------------------------------

ENDPOINT = {
    "id": "e-1",
    "url": "https://example.com/hook",
    "events": ["CASHOUT_COMPLETED"],
    "status": "enabled",
    "createdAt": "2026-03-10T17:00:00Z",
}
ROTATION = {"id": "e-1", "secret": "whsec_new", "previousSecretExpiresAt": "2026-03-11T17:00:00Z"}
DELIVERY = {
    "id": "d-1",
    "webhookId": "msg_1",
    "eventType": "CASHOUT_COMPLETED",
    "endpointId": "e-1",
    "url": "https://example.com/hook",
    "status": "failed",
    "createdAt": "2026-03-10T17:00:00Z",
    "nextAttemptAt": None,
    "attempts": [
        {
            "attemptedAt": "2026-03-10T17:00:01Z",
            "statusCode": 500,
            "latencyMs": 12,
            "responseBody": "oops",
            "error": None,
        }
    ],
}
SINCE = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=1)


def test_every_webhook_call_sends_its_request_and_reads_its_answer(kind: str) -> None:
    script = Script(
        httpx.Response(201, json={**ENDPOINT, "secret": "whsec_first"}),
        httpx.Response(200, json={"data": [ENDPOINT]}),
        httpx.Response(200, json=ROTATION),
        httpx.Response(200, json={"data": [DELIVERY]}),
        httpx.Response(202, json={"id": "d-1", "status": "pending"}),
        httpx.Response(202, json={"replayed": 3}),
        httpx.Response(204),
    )

    async def steps(psp: Any) -> list[Any]:
        return [
            await call(psp.webhooks.create("https://example.com/hook", ["CASHOUT_COMPLETED"])),
            await call(psp.webhooks.list()),
            await call(psp.webhooks.rotate_secret("e-1")),
            await call(psp.webhooks.deliveries(status="failed", limit=5)),
            await call(psp.webhooks.retry("d-1")),
            await call(psp.webhooks.replay("e-1", SINCE, UNTIL)),
            await call(psp.webhooks.delete("e-1")),
        ]

    created, listed, rotation, deliveries, retried, replayed, deleted = run(kind, script, steps)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/webhooks"),
        ("GET", "/webhooks"),
        ("POST", "/webhooks/e-1/rotate-secret"),
        ("GET", "/webhooks/deliveries"),
        ("POST", "/webhooks/deliveries/d-1/retry"),
        ("POST", "/webhooks/e-1/replay"),
        ("DELETE", "/webhooks/e-1"),
    ]
    create, _, _, listing, _, replay, _ = script.requests
    assert json.loads(create.content) == {
        "url": "https://example.com/hook",
        "events": ["CASHOUT_COMPLETED"],
    }
    assert dict(listing.url.params) == {"status": "failed", "limit": "5"}
    assert json.loads(replay.content) == {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    assert (created.id, created.secret, created.events) == (
        "e-1",
        "whsec_first",
        ("CASHOUT_COMPLETED",),
    )
    assert [e.secret for e in listed] == [None]
    assert (rotation.endpoint_id, rotation.secret) == ("e-1", "whsec_new")
    assert rotation.previous_secret_expires_at == UNTIL + timedelta(hours=23)
    (delivery,) = deliveries
    assert (delivery.webhook_id, delivery.attempts[0].status_code) == ("msg_1", 500)
    assert (retried, replayed, deleted) == (None, 3, None)
    posts = [r for r in script.requests if r.method == "POST"]
    assert all(r.headers.get("x-idempotency-key") for r in posts)
    assert len({r.headers["x-idempotency-key"] for r in posts}) == len(posts)  # one per call
    others = [r for r in script.requests if r.method != "POST"]
    assert all("x-idempotency-key" not in r.headers for r in others)
    assert all("digitalsignature" not in r.headers for r in script.requests)  # cash-outs only


# (the call, given a key or None; a fresh success answer for it)
WEBHOOK_POSTS: dict[str, tuple[Callable[[Any, str | None], Any], Callable[[], httpx.Response]]] = {
    "create": (
        lambda psp, key: psp.webhooks.create("https://example.com/hook", idempotency_key=key),
        lambda: httpx.Response(201, json={**ENDPOINT, "secret": "whsec_first"}),
    ),
    "rotate_secret": (
        lambda psp, key: psp.webhooks.rotate_secret("e-1", idempotency_key=key),
        lambda: httpx.Response(200, json=ROTATION),
    ),
    "retry": (  # at least once: the SDK's key is sent, and not the caller's to choose
        lambda psp, key: psp.webhooks.retry("d-1"),
        lambda: httpx.Response(202, json={"id": "d-1", "status": "pending"}),
    ),
    "replay": (
        lambda psp, key: psp.webhooks.replay("e-1", SINCE, UNTIL),
        lambda: httpx.Response(202, json={"replayed": 1}),
    ),
}


@pytest.mark.parametrize(
    ("name", "given"),
    [
        *((name, "mine") for name in ("create", "rotate_secret")),  # they take a key
        *((name, None) for name in sorted(WEBHOOK_POSTS)),
    ],
)
def test_webhook_posts_reuse_their_key_on_every_retry(
    kind: str, name: str, given: str | None
) -> None:
    send, answer = WEBHOOK_POSTS[name]
    script = Script(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        error(503, "SERVICE_UNAVAILABLE"),
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        error(401, "TOKEN_EXPIRED"),
        answer(),
        answer(),
    )
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        await call(send(psp, given))
        await call(send(psp, None))  # a second call: a key of its own

    run(kind, script, steps, sleeps, max_retries=4)
    keys = [r.headers["x-idempotency-key"] for r in script.requests]
    assert len(keys) == 7 and len(sleeps) == 4 and script.tokens == 2
    assert len(set(keys[:6])) == 1  # every retry, and the one after a renewal, reuses it
    assert keys[6] != keys[0]
    assert given is None or keys[0] == given


def test_the_calls_that_promise_idempotency_take_a_key_in_both_clients() -> None:
    from connectpsp.client import _refunds, _resources

    for method in (
        _resources.CashOuts.create,
        _resources.AsyncCashOuts.create,
        _resources.CashIns.create,
        _resources.AsyncCashIns.create,
        _resources.Webhooks.create,
        _resources.AsyncWebhooks.create,
        _resources.Webhooks.rotate_secret,
        _resources.AsyncWebhooks.rotate_secret,
        _refunds.Refunds.create,
        _refunds.AsyncRefunds.create,
    ):
        parameter = inspect.signature(method).parameters["idempotency_key"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, method
        assert parameter.default is None, method


# answers the SDK cannot use, and arguments it refuses ----------------------------------------


def test_ids_are_sent_as_one_path_segment(kind: str) -> None:
    script = Script(error(404, "NOT_FOUND"), httpx.Response(204))

    async def steps(psp: Any) -> None:
        with pytest.raises(NotFoundError):
            await call(psp.cash_outs.get("../balance?x=1#y"))
        await call(psp.webhooks.delete("a/b"))

    run(kind, script, steps)
    assert [r.url.raw_path for r in script.requests] == [
        b"/cash-out/..%2Fbalance%3Fx%3D1%23y",
        b"/webhooks/a%2Fb",
    ]


def test_a_naive_replay_window_is_refused_before_sending(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        with pytest.raises(ValueError, match="since must be a timezone-aware datetime"):
            await call(psp.webhooks.replay("e-1", SINCE.replace(tzinfo=None), UNTIL))
        with pytest.raises(ValueError, match="until"):
            await call(psp.webhooks.replay("e-1", SINCE, UNTIL.replace(tzinfo=None)))

    run(kind, script, steps)
    assert script.paths == []


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(200, text="<html>a proxy's page</html>"),
        lambda: httpx.Response(200, json={"unexpected": True}),
        lambda: httpx.Response(200, json=[1, 2]),
        lambda: httpx.Response(200, json={**BALANCE, "total": "lots"}),
    ],
    ids=["html", "other-object", "array", "bad-amount"],
)
def test_an_unreadable_success_is_an_api_error_and_not_retried(
    kind: str, answer: Callable[[], httpx.Response]
) -> None:
    unreadable = answer()
    unreadable.headers["x-request-id"] = "req-9"
    script = Script(unreadable, ok())
    sleeps: list[float] = []
    with pytest.raises(connectpsp.APIError) as raised:
        run(kind, script, balance, sleeps)
    assert (raised.value.code, raised.value.http_status, raised.value.request_id) == (
        "INVALID_RESPONSE",
        200,
        "req-9",
    )
    assert len(script.requests) == 1 and sleeps == []


def test_an_unreadable_token_answer_is_an_api_error(kind: str) -> None:
    def script(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": "no accessToken here"})

    with pytest.raises(connectpsp.APIError) as raised:
        run(kind, script, balance)
    assert raised.value.code == "INVALID_RESPONSE"


def test_an_undecodable_answer_is_retried_like_a_cut_connection(kind: str) -> None:
    script = Script(httpx.DecodingError("bad gzip"), ok())
    sleeps: list[float] = []
    assert run(kind, script, balance, sleeps).total == Decimal("1.50")
    assert len(script.requests) == 2 and len(sleeps) == 1
    broken = Script(*(httpx.DecodingError("bad gzip") for _ in range(3)))
    with pytest.raises(connectpsp.APIConnectionError):
        run(kind, broken, balance)


def test_the_public_names_are_pinned() -> None:
    assert sorted(connectpsp.__all__) == sorted(
        [
            "APIConnectionError",
            "APIError",
            "APITimeoutError",
            "AcceptedCashOut",
            "Amount",
            "AmountMismatchError",
            "AsyncConnectPSP",
            "AuthenticationError",
            "Balance",
            "BankAccount",
            "BrCodeDestination",
            "CashInPayer",
            "CashInPayment",
            "CashOut",
            "CashOutItem",
            "CashOutReturn",
            "Charge",
            "ChargeNotPayableError",
            "ConflictError",
            "ConnectPSP",
            "ConnectPSPError",
            "DeliveryAttempt",
            "Failure",
            "Infraction",
            "InsufficientBalanceError",
            "LimitExceededError",
            "Movement",
            "NotFoundError",
            "Payee",
            "PaymentNotFoundError",
            "PaymentRejectedError",
            "PixKey",
            "RateLimitError",
            "Refund",
            "RefundExceedsPaymentError",
            "RefundFailure",
            "RefundWindowClosedError",
            "RegisteredPixKey",
            "SecretRotation",
            "ValidationError",
            "WebhookDelivery",
            "WebhookEndpoint",
            "WebhookVerificationError",
            "__version__",
            "brcode",
            "webhooks",
        ]
    )
    assert sorted(connectpsp.webhooks.__all__) == sorted(
        [
            "CashInCompleted",
            "CashInExpired",
            "CashInMovement",
            "CashInRefundMovement",
            "CashOutCompleted",
            "CashOutFailed",
            "CashOutMovement",
            "CashOutReturnMovement",
            "CashOutReturned",
            "Counterpart",
            "InfractionChanged",
            "InfractionMovement",
            "RefundCompleted",
            "RefundFailed",
            "WebhookVerificationError",
            "verify",
        ]
    )
    for name in connectpsp.__all__:
        assert hasattr(connectpsp, name)


def test_importing_the_sdk_loads_only_the_sdk_and_the_standard_library() -> None:
    """An allow-list: after ``import httpx`` (the SDK's one dependency), importing the SDK
    adds only the standard library and these connectpsp modules: the package itself,
    ``connectpsp.client`` and its modules, ``connectpsp.webhooks`` and ``connectpsp.brcode``.
    ``connectpsp`` needs nothing else (``__init__`` imports only ``client``, ``webhooks``
    and ``brcode``), so any other module, of the server or a third party, is a failure."""
    import subprocess
    import sys

    # httpx itself imports its optional CLI (click, rich, pygments) when they are
    # installed, as they are in the server's environment: hence the baseline after it.
    code = (
        "import json, sys, httpx\n"
        "before = set(sys.modules)\n"
        "import connectpsp\n"
        "import connectpsp.webhooks\n"
        "from connectpsp import brcode, webhooks, ConnectPSP, AsyncConnectPSP\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    added = set(json.loads(out))
    ours = {m for m in added if m.split(".")[0] == "connectpsp"}
    others = {m for m in added - ours if m.split(".")[0] not in sys.stdlib_module_names}
    assert ours - SDK_MODULES == set(), "the SDK loaded more of connectpsp than itself"
    assert {"connectpsp", "connectpsp.client", "connectpsp.webhooks", "connectpsp.brcode"} <= ours
    assert others == set(), "the SDK loaded more than httpx and the standard library"


# The whole SDK: every module ``import connectpsp`` may load. Nothing else is needed:
# connectpsp/__init__.py imports only connectpsp.client (whose modules import only each
# other, httpx and the standard library), connectpsp.webhooks (which re-exports
# connectpsp.client._webhooks, the verifier) and connectpsp.brcode (the standard library
# only; the server decodes with it too).
SDK_MODULES = {
    "connectpsp",
    "connectpsp.brcode",
    "connectpsp.client",
    "connectpsp.client._batch",
    "connectpsp.client._charges",
    "connectpsp.client._client",
    "connectpsp.client._core",
    "connectpsp.client._events",
    "connectpsp.client._fields",
    "connectpsp.client._infractions",
    "connectpsp.client._lists",
    "connectpsp.client._models",
    "connectpsp.client._plans",
    "connectpsp.client._refunds",
    "connectpsp.client._resources",
    "connectpsp.client._retry",
    "connectpsp.client._webhooks",
    "connectpsp.client.errors",
    "connectpsp.webhooks",
}


def test_the_verifier_lives_in_the_client_and_its_public_path_is_the_same_objects() -> None:
    """``connectpsp.webhooks`` is the public path of ``connectpsp.client._webhooks``: every
    name it offers is the client's own object, not a copy, so an ``isinstance`` against
    either holds, and its ``__all__`` is the one it always had."""
    import connectpsp.webhooks
    from connectpsp.client import _webhooks, errors
    from connectpsp.webhooks import CashOutCompleted, WebhookVerificationError, verify

    public = connectpsp.webhooks
    assert connectpsp.webhooks is connectpsp.__dict__["webhooks"]
    assert public is not _webhooks and public.__all__ == _webhooks.__all__
    assert public.__all__ == [
        "CashInCompleted",
        "CashInExpired",
        "CashInMovement",
        "CashInRefundMovement",
        "CashOutCompleted",
        "CashOutFailed",
        "CashOutMovement",
        "CashOutReturnMovement",
        "CashOutReturned",
        "Counterpart",
        "InfractionChanged",
        "InfractionMovement",
        "RefundCompleted",
        "RefundFailed",
        "WebhookVerificationError",
        "verify",
    ]
    for name in [*public.__all__, "Event", "DEFAULT_TOLERANCE"]:
        assert getattr(public, name) is getattr(_webhooks, name), name
    assert verify.__module__ == "connectpsp.client._webhooks"
    assert CashOutCompleted.__module__ == "connectpsp.client._events"  # the models
    assert WebhookVerificationError is connectpsp.WebhookVerificationError
    assert WebhookVerificationError is errors.WebhookVerificationError


def connectpsp_imports(path: Path, package: str) -> set[str]:
    """What a module of ``package`` imports from connectpsp, relative imports resolved;
    ``from a import b`` counts as ``a.b`` (b may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "connectpsp"}


def test_the_sdk_imports_nothing_of_the_server() -> None:
    """The SDK is ``connectpsp/client/`` plus two thin front doors and the BR Code codec:
    the client imports only itself (not the server, not ``connectpsp.webhooks``),
    ``connectpsp.webhooks`` only the client, ``connectpsp.brcode`` nothing of connectpsp,
    and ``connectpsp/__init__.py`` only the client, ``connectpsp.webhooks`` and
    ``connectpsp.brcode``."""
    source = Path(connectpsp.__file__).parent
    client = sorted((source / "client").glob("*.py"))
    assert source / "client" / "_webhooks.py" in client
    for path in client:
        for name in connectpsp_imports(path, "connectpsp.client"):
            assert name.startswith("connectpsp.client."), f"client/{path.name} imports {name}"
    for name in connectpsp_imports(source / "webhooks.py", "connectpsp"):
        assert name.startswith("connectpsp.client."), f"webhooks.py imports {name}"
    for name in connectpsp_imports(source / "__init__.py", "connectpsp"):
        allowed = name.startswith("connectpsp.client.") or name in {
            "connectpsp.webhooks",
            "connectpsp.brcode",
        }
        assert allowed, f"__init__.py imports {name}"
    assert connectpsp_imports(source / "brcode.py", "connectpsp") == set()
