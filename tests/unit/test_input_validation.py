"""Bad input is refused with the field named before anything is written, and errors are
worded without the secrets a database error's text may hold (issue 13, finding 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from connectpsp.cli import database_problem, explain
from connectpsp.domain.errors import StorageUnavailable, ValidationFailed
from connectpsp.domain.ledger import MAX_FEE_BPS, FeePlan
from connectpsp.domain.money import MAX_CENTAVOS
from connectpsp.service.clients import ClientService, validate_new_client
from connectpsp.settings import Settings, SettingsError
from tests.support import FakeClock

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
CIPHERTEXT = "v1.bm9uY2U.Y2lwaGVydGV4dA"


def fields(raised: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in raised.value.errors}


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"bps": -5}, "bps"),
        ({"bps": MAX_FEE_BPS + 1}, "bps"),
        ({"fixed": -1}, "fixed"),
        ({"fixed": MAX_CENTAVOS + 1}, "fixed"),
        ({"bps": True}, "bps"),  # a bool is not a number of basis points
    ],
)
def test_a_fee_plan_out_of_bounds_names_its_field(plan: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        FeePlan(**plan)
    assert set(fields(raised)) == {field}


def test_a_fee_plan_at_its_bounds_is_valid() -> None:
    assert FeePlan(fixed=0, bps=0).fee_for(10_000) == 0
    assert FeePlan(fixed=MAX_CENTAVOS, bps=MAX_FEE_BPS).fee_for(100) == MAX_CENTAVOS + 100


def test_a_client_name_is_trimmed_and_checked() -> None:
    assert validate_new_client("  Acme Payouts ") == "Acme Payouts"
    assert validate_new_client("x" * 120) == "x" * 120
    assert validate_new_client("Padaria São João ☕") == "Padaria São João ☕"
    for name, says in [
        ("", "must not be empty"),
        (" \t ", "must not be empty"),
        ("x" * 121, "at most 120"),
        ("line\nbreak", "control characters"),
        ("esc\x1b[2J", "control characters"),
        ("spoof\u202etxt.exe", "control characters"),
        ("sep\u2028arator", "control characters"),
        ("bytes\udcff", "lone surrogates"),
    ]:
        with pytest.raises(ValidationFailed) as raised:
            validate_new_client(name)
        assert says in fields(raised)["name"], name


def test_every_bad_argument_is_named_at_once() -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_new_client("", per_transaction_limit=-1, daily_limit=MAX_CENTAVOS + 1)
    assert set(fields(raised)) == {"name", "per_transaction_limit", "daily_limit"}
    assert validate_new_client("Zero", per_transaction_limit=0, daily_limit=0) == "Zero"


class Untouchable:
    """Storage, hasher and cipher that fail the test if the service reaches them."""

    def __call__(self, **_: Any) -> Any:
        raise AssertionError("the database was opened for a client that is invalid")

    def hash(self, secret: str) -> str:
        raise AssertionError("a secret was hashed for a client that is invalid")

    def verify(self, stored: str, secret: str) -> bool:
        raise AssertionError("not used")

    def encrypt(self, plaintext: str, *, context: str) -> str:
        raise AssertionError("a secret was encrypted for a client that is invalid")

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        raise AssertionError("not used")


def test_the_service_refuses_a_bad_client_before_it_hashes_or_writes() -> None:
    nothing = Untouchable()
    service = ClientService(
        nothing,
        clock=FakeClock(),
        hasher=nothing,
        cipher=nothing,
        default_fee_plan=FeePlan(),
        default_per_transaction_limit=100,
        default_daily_limit=1000,
    )
    with pytest.raises(ValidationFailed) as raised:
        service.create("   ", daily_limit=-1)
    assert set(fields(raised)) == {"name", "daily_limit"}


def env(**variables: str) -> dict[str, str]:
    return {f"CONNECTPSP_{name}": value for name, value in variables.items()}


@pytest.mark.parametrize(
    "url",
    [
        "postgres://psp:pw@db.internal:5432/psp",
        "postgresql://psp:pw@db.internal:5432/psp",
        "postgresql+psycopg://psp:pw@db.internal:5432/psp",
        "POSTGRES://psp:pw@db.internal:5432/psp",
    ],
)
def test_every_postgresql_url_form_means_psycopg(url: str, tmp_path: Path) -> None:
    settings = Settings.from_env(env(DATABASE_URL=url, VAR_DIR=str(tmp_path)))
    assert settings.database_url == "postgresql+psycopg://psp:pw@db.internal:5432/psp"


def test_a_sqlite_url_keeps_its_path(tmp_path: Path) -> None:
    for url in ("sqlite:///var/x.db", "SQLite:///var/x.db"):
        settings = Settings.from_env(env(DATABASE_URL=url, VAR_DIR=str(tmp_path)))
        assert settings.database_url == "sqlite:///var/x.db"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://psp:hunter2@db/psp", "must start with sqlite:///, postgresql+psycopg://"),
        ("postgresql+psycopg2://psp:hunter2@db/psp", "or postgres://"),
        ("db.internal:5432", "must start with"),
        ("postgres://psp:hunter2@db:port/psp", "is not a valid URL"),
        ("postgres://psp:hun@ter2@db/psp", "percent-encode an @"),
        ("sqlite://", "must name a SQLite file"),
    ],
)
def test_a_database_url_in_another_form_is_refused_without_repeating_it(
    url: str, says: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="CONNECTPSP_DATABASE_URL") as raised:
        Settings.from_env(env(DATABASE_URL=url, VAR_DIR=str(tmp_path)))
    assert says in str(raised.value)
    assert "hunter2" not in str(raised.value) and "ter2" not in str(raised.value)


def test_a_schema_name_must_be_one_postgresql_keeps_as_written(tmp_path: Path) -> None:
    ok = Settings.from_env(env(DATABASE_SCHEMA="psp_2024", VAR_DIR=str(tmp_path)))
    assert ok.database_schema == "psp_2024"
    for bad in ("Psp", "psp;drop", "psp,public", "1psp", "p" * 64):
        with pytest.raises(SettingsError, match="CONNECTPSP_DATABASE_SCHEMA"):
            Settings.from_env(env(DATABASE_SCHEMA=bad, VAR_DIR=str(tmp_path)))


def test_a_default_fee_out_of_bounds_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONNECTPSP_DEFAULT_FEE_BPS must be between"):
        Settings.from_env(env(DEFAULT_FEE_BPS="-5", VAR_DIR=str(tmp_path)))


class DriverError(Exception):
    """What a driver raises: its text quotes the row, as PostgreSQL's DETAIL does."""

    sqlstate = "23514"


PG = Settings(
    database_url="postgresql+psycopg://psp:hunter2@db.internal:5432/psp?password=hunter2",
    database_schema="psp",
)


def test_a_refused_statement_is_described_by_its_code_alone() -> None:
    error = IntegrityError(
        "INSERT INTO clients (id, secret_hash, crypto_token_enc) VALUES (%s, %s, %s)",
        ("c1", HASH, CIPHERTEXT),
        DriverError(f"Failing row contains (c1, {HASH}, {CIPHERTEXT})"),
    )
    line = database_problem(error, PG)
    assert line == (
        "the database at postgresql+psycopg://psp:***@db.internal:5432/psp (schema psp) "
        "refused a statement (IntegrityError, SQLSTATE 23514)"
    )


def test_a_failure_to_connect_shows_the_drivers_reason_without_the_password() -> None:
    reason = 'connection to server at "db.internal" failed: password hunter2 was refused\n\tx'
    error = OperationalError(None, None, Exception(reason))
    wrapped = StorageUnavailable()  # as a transaction raises it
    wrapped.__cause__ = error
    for failure in (error, wrapped):
        line = database_problem(failure, PG)
        assert line == (
            "cannot connect to the database at postgresql+psycopg://psp:***@db.internal:5432/psp "
            '(schema psp): connection to server at "db.internal" failed: password *** was '
            "refused x"
        )


def test_an_unexpected_error_is_named_by_its_type_only() -> None:
    message, status = explain(RuntimeError(f"boom {HASH}"))
    assert status == 1 and HASH not in message and "builtins.RuntimeError" in message
    assert explain(SettingsError("CONNECTPSP_ISPB must be 8 digits")) == (
        "CONNECTPSP_ISPB must be 8 digits",
        2,
    )
