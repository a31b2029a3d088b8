"""Issue 18's small rules over fakes: a used reference names the cash-out holding it,
within a batch and across batches; a placeholder host is recognised; each database has
its own demo client file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectpsp.cli.demo import demo_client_file
from connectpsp.domain.webhooks import placeholder_host
from connectpsp.service.acceptance import Accepted, Refused
from connectpsp.settings import Settings
from tests.fakes import Services, fake_services, one_batch, request


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def test_a_used_reference_names_the_cash_out_that_holds_it(s: Services) -> None:
    payer = s.client(funds=100_00)
    first = s.cash_outs.create(payer, "a", request(1_00, "invoice-1")).outcome
    assert isinstance(first, Accepted)
    again = s.cash_outs.create(payer, "b", request(1_00, "invoice-1")).outcome
    assert isinstance(again, Refused)
    assert again.error.code == "DUPLICATE_EXTERNAL_REFERENCE"
    assert again.error.details == {"internalCode": first.result.internal_code}
    assert first.result.internal_code in again.error.message
    # Replayed from its key: the same refusal, details and all.
    replayed = s.cash_outs.create(payer, "b", request(1_00, "invoice-1"))
    assert replayed.replayed and isinstance(replayed.outcome, Refused)
    assert replayed.outcome.error.details == again.error.details


def test_a_reference_used_twice_in_one_batch_names_the_first(s: Services) -> None:
    payer = s.client(funds=100_00)
    with one_batch(s.engine, s.db, payer):
        first = s.cash_outs.submit(payer, "one", request(1_00, "twice"))
        second = s.cash_outs.submit(payer, "two", request(1_00, "twice"))
    accepted, refused = first.result(5).outcome, second.result(5).outcome
    assert isinstance(accepted, Accepted) and isinstance(refused, Refused)
    assert refused.error.details == {"internalCode": accepted.result.internal_code}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://YOUR_DOMAIN/webhooks/connectpsp", "YOUR_DOMAIN"),
        ("http://user:pw@YOUR_HOST:8080/hook", "YOUR_HOST"),
        ("https://hooks.my_shop.com/x", "hooks.my_shop.com"),
        ("https://hooks.example.com/webhooks", None),
        ("http://127.0.0.1:8080/", None),
        ("http://[::1]:8080/", None),
        ("https://shop.example/x?next=a_b", None),  # an _ elsewhere than the host is fine
    ],
)
def test_a_placeholder_host_is_one_no_host_name_could_be(url: str, host: str | None) -> None:
    assert placeholder_host(url) == host


def test_outside_the_sandbox_a_placeholder_is_left_to_dispatch(s: Services) -> None:
    s.endpoints.check_cash_out_url("https://YOUR_DOMAIN/webhooks/connectpsp")  # no error


def test_each_database_names_its_own_demo_client_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = "postgresql+psycopg://app:secret@db.internal:5432/psp"

    def file(url: str, schema: str | None = None) -> Path:
        settings = Settings(var_dir=tmp_path, database_url=url, database_schema=schema)
        return demo_client_file(settings)

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    here = file(pg, "a"), file("sqlite:///var/psp.db"), file(f"sqlite:///{tmp_path}/var/psp.db")
    monkeypatch.chdir(tmp_path / "elsewhere")  # another terminal, another directory
    assert file(pg, "a") == here[0]  # a server's name, not a path: the same from anywhere
    assert file(pg.replace("secret", "other"), "a") == here[0]  # nor does the password count
    assert file(pg, "b") != here[0]  # another schema, another database
    assert file("sqlite:///var/psp.db") != here[1]  # a relative path, from elsewhere
    monkeypatch.chdir(tmp_path)
    assert file("sqlite:///var/psp.db") == here[1] == here[2]  # the same file, however named
    assert len({*here, file(pg, "b")}) == 3
    assert all(path.parent == tmp_path and path.suffix == ".json" for path in here)
