"""The SDK against the real server on loopback: the README's SDK scripts as written, a
response lost after the commit, a token that expires mid-session, webhook retry and
replay, and the async client."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectpsp import (
    AsyncConnectPSP,
    BankAccount,
    ConnectPSP,
    NotFoundError,
    Payee,
    PixKey,
    ValidationError,
    webhooks,
)
from connectpsp.adapters.storage import schema as t
from connectpsp.cli.demo import tour_variables
from tests.receiver import Received, receiver
from tests.support import Api, RunningServer, free_port, new_merchant

README = Path(__file__).parents[2] / "README.md"
PAYEE = Payee("Maria Silva", "12345678909", PixKey("CPF", "12345678909"))


def readme_section() -> str:
    return README.read_text().split("## The SDK", 1)[1].split("\n## ", 1)[0]


def readme_blocks() -> dict[str, str]:
    """The SDK section's Python blocks, by the file name in their first comment."""
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.S)
    return {block.split()[1].rstrip(":"): block for block in blocks}


def exported(m: Api) -> dict[str, str]:
    """What the tour's step 0 sets for ``m`` on this server: the URL and the variables
    ``connectpsp demo --env`` exports (``tour_variables``)."""
    lines = tour_variables(m.creds.as_json(), m.server.base_url)
    return dict(re.findall(r"^export (\w+)=(\S+)$", lines, re.M))


def sdk_env(m: Api) -> dict[str, str]:
    return {**os.environ, **exported(m)}


def test_the_readme_says_how_to_set_every_variable_the_tutorial_reads() -> None:
    readme = README.read_text()
    step_0 = re.findall(r"```sh\n(.*?)```", readme.split("## A tour", 1)[1], re.S)[0]
    assert "export CONNECTPSP_URL=http://127.0.0.1:8000" in step_0
    assert 'eval "$(connectpsp demo --env)"' in step_0
    read = {
        name
        for code in readme_blocks().values()
        for name in re.findall(r"""os\.environ\[["'](\w+)["']\]""", code)
    }
    names = {
        "CONNECTPSP_URL",
        "CONNECTPSP_CLIENT_ID",
        "CONNECTPSP_CLIENT_SECRET",
        "CONNECTPSP_CRYPTO_TOKEN",
        "CONNECTPSP_APPLICATION_TOKEN",
        "CONNECTPSP_WEBHOOK_SECRET",
    }
    assert read == names, "the README's scripts read what step 0 does not set"
    keys = ("clientId", "clientSecret", "cryptoToken", "applicationToken", "webhookSecret")
    lines = tour_variables(dict.fromkeys(keys, "x"), "http://127.0.0.1:8000")
    assert set(re.findall(r"export (\w+)=", lines)) == names  # what demo --env sets


def test_the_readme_tutorial_runs_as_written(
    settling_server: RunningServer, tmp_path: Path
) -> None:
    blocks = readme_blocks()
    assert set(blocks) == {"send.py", "receiver.py"}
    for name, code in blocks.items():
        (tmp_path / name).write_text(code)
    m = new_merchant(settling_server, fund=1_000_00)
    port = free_port()
    env = {**sdk_env(m), "PORT": str(port), "WEBHOOK_URL": f"http://127.0.0.1:{port}/"}
    receiver = subprocess.Popen(
        [sys.executable, "receiver.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and receiver.poll() is None
            time.sleep(0.05)
        sent = subprocess.run(
            [sys.executable, "send.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        lines = sent.stdout.splitlines()
        assert len(lines) == 3
        for line in lines[:2]:
            code, status, e2e = line.split()
            assert status == "COMPLETED"
            assert re.fullmatch(r"E00416968\d{12}[A-Za-z0-9]{11}", e2e)
        assert lines[2] == "available 900.00"
        assert receiver.stdout is not None
        verified = receiver.stdout.readline().split()
        assert verified == ["verified", "CashOutCompleted", lines[0].split()[0]]
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


@contextmanager
def lossy_proxy(upstream_port: int) -> Iterator[dict[str, Any]]:
    """A TCP proxy that, once, lets a POST /cash-out reach the server and its 202 come
    back, then cuts the client's connection instead of passing the answer on."""
    state: dict[str, Any] = {"cut": 0, "armed": False}
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    state["port"] = listener.getsockname()[1]

    def pump(src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if not to_client and b"POST /cash-out" in data and state["cut"] == 0:
                    state["armed"] = True
                if to_client and state["armed"] and b" 202 " in data.split(b"\r\n", 1)[0]:
                    state["armed"] = False
                    state["cut"] += 1
                    raise ConnectionAbortedError  # the answer is lost on the way back
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", upstream_port))
            threading.Thread(target=pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, True), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield state
    finally:
        listener.close()


def reservations(server: RunningServer, cash_out_id: str) -> int:
    with server.container.db.transaction(write=False) as tx:
        tr = t.transfers.c
        return int(
            tx.conn.execute(
                select(func.count()).where(tr.ref == cash_out_id, tr.kind == "pending")
            ).scalar_one()
        )


def psp_for(m: Api, base_url: str | None = None, *, async_: bool = False) -> Any:
    c = m.creds
    kind = AsyncConnectPSP if async_ else ConnectPSP
    return kind(
        base_url or m.server.base_url,
        c.client_id,
        c.client_secret,
        c.crypto_token,
        c.application_token,
        timeout=5,
    )


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_a_lost_response_is_retried_into_the_same_cash_out(
    settling_server: RunningServer, async_: bool
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    port = int(settling_server.base_url.rsplit(":", 1)[1])
    with lossy_proxy(port) as proxy:
        psp = psp_for(m, f"http://127.0.0.1:{proxy['port']}", async_=async_)

        async def create_async() -> Any:
            async with psp:
                return await psp.cash_outs.create("25.00", "lost-answer", PAYEE)

        if async_:
            accepted = asyncio.run(create_async())
        else:
            with psp:
                accepted = psp.cash_outs.create("25.00", "lost-answer", PAYEE)
        assert proxy["cut"] == 1  # the first answer really was lost
    found = m.get("/cash-out", externalReference="lost-answer").json()
    assert found["transactionId"] == accepted.transaction_id
    assert reservations(settling_server, accepted.transaction_id) == 1
    with psp_for(m) as sync:
        balance = sync.balance.get()
    assert balance.available == Decimal("75.00")


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_the_whole_surface_and_an_expiring_token(
    settling_server: RunningServer, async_: bool
) -> None:
    m = new_merchant(settling_server, fund=1_000_00)

    async def flow(psp: Any) -> None:
        async def call(value: Any) -> Any:
            return await value if asyncio.iscoroutine(value) else value

        accepted = await call(
            psp.cash_outs.create(
                Decimal("10.00"),
                "surface-1",
                {
                    "name": "Maria Silva",
                    "document": "12345678909",
                    "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
                },
                description="via dict",
            )
        )
        bank = await call(
            psp.cash_outs.create(
                "5.00",
                "surface-2",
                Payee(
                    "Maria Silva",
                    "12345678909",
                    BankAccount("18236120", "0001", "947710840", "PAYMENT"),
                ),
            )
        )
        for code in (accepted.internal_code, bank.internal_code):
            cash_out = await call(psp.cash_outs.get(code))
            while not cash_out.is_final:
                await asyncio.sleep(0.02)
                cash_out = await call(psp.cash_outs.get(code))
            assert cash_out.status == "COMPLETED"
            assert cash_out.paid_at is not None and cash_out.paid_at.utcoffset() is not None
        found = await call(psp.cash_outs.find(external_reference="surface-1"))
        assert (found.amount, found.description) == (Decimal("10.00"), "via dict")
        assert found.payee.document == "***.456.789-**"
        settling_server.clock.advance(hours=2)  # the cached token is now expired
        try:
            assert (await call(psp.balance.get())).available == Decimal("985.00")
        finally:
            settling_server.clock.advance(hours=-2)
        endpoint = await call(psp.webhooks.create("http://127.0.0.1:9/hook", ["CASHOUT_FAILED"]))
        assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
        assert [e.id for e in await call(psp.webhooks.list())] == [endpoint.id]
        rotation = await call(psp.webhooks.rotate_secret(endpoint.id))
        assert rotation.secret != endpoint.secret
        assert await call(psp.webhooks.deliveries(status="pending")) == []
        await call(psp.webhooks.delete(endpoint.id))
        with pytest.raises(NotFoundError):
            await call(psp.cash_outs.get("ZZZZZZZZZZ"))

    if async_:

        async def main() -> None:
            async with psp_for(m, async_=True) as psp:
                await flow(psp)

        asyncio.run(main())
    else:
        with psp_for(m) as psp:
            asyncio.run(flow(psp))


async def call(value: Any) -> Any:
    """A client call's result, awaited if the client is the async one."""
    return await value if asyncio.iscoroutine(value) else value


def run_with(m: Api, async_: bool, flow: Any) -> None:
    """Run ``flow(psp)`` with a sync or an async client for merchant ``m``."""
    if async_:

        async def main() -> None:
            async with psp_for(m, async_=True) as psp:
                await flow(psp)

        asyncio.run(main())
    else:
        with psp_for(m) as psp:
            asyncio.run(flow(psp))


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_webhook_retry_and_replay_through_the_sdk(
    settling_server: RunningServer, async_: bool
) -> None:
    """``psp.webhooks.retry`` sends a delivery again and ``replay`` re-sends a window's
    events, both with the original webhook-id; each delivery verifies with the SDK."""
    m = new_merchant(settling_server, fund=100_00)
    clock = settling_server.clock

    def verified(received: Received, secret: str) -> webhooks.CashOutMovement:
        event = webhooks.verify(received.body, received.headers, secret, now=clock.now())
        assert isinstance(event, webhooks.CashOutMovement)
        return event

    async def deliveries(psp: Any, count: int, attempts: int) -> list[Any]:
        """The succeeded deliveries once there are ``count`` with ``attempts`` in all."""
        deadline = time.monotonic() + 15
        while True:
            found = await call(psp.webhooks.deliveries(status="succeeded"))
            if len(found) == count and sum(len(d.attempts) for d in found) >= attempts:
                return list(found)
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.02)

    with receiver() as hook:

        async def flow(psp: Any) -> None:
            endpoint = await call(psp.webhooks.create(f"{hook.url}/movements"))
            since = clock.now() - timedelta(seconds=1)
            accepted = await call(psp.cash_outs.create("10.00", "hooks", PAYEE))
            (first,) = hook.wait_for(1)
            event = verified(first, endpoint.secret)
            assert (event.transaction_id, event.external_id) == (accepted.transaction_id, "hooks")
            assert event.confirmed and event.original_amount == Decimal("10.00")
            assert event.final_amount == event.original_amount + event.fee_amount
            (delivery,) = await deliveries(psp, 1, 1)
            assert delivery.webhook_id == first.headers["webhook-id"] == event.webhook_id
            assert delivery.endpoint_id == endpoint.id
            assert [a.status_code for a in delivery.attempts] == [200]

            assert await call(psp.webhooks.retry(delivery.id)) is None
            second = hook.wait_for(2)[1]
            assert second.headers["webhook-id"] == first.headers["webhook-id"]
            assert verified(second, endpoint.secret) == event
            (again,) = await deliveries(psp, 1, 2)
            assert again.id == delivery.id
            assert [a.status_code for a in again.attempts] == [200, 200]

            until = clock.now() + timedelta(seconds=1)
            replayed = await call(psp.webhooks.replay(endpoint.id, since, until))
            assert replayed == 1
            third = hook.wait_for(3)[2]
            assert third.headers["webhook-id"] == first.headers["webhook-id"]
            assert verified(third, endpoint.secret) == event
            assert len(await deliveries(psp, 2, 3)) == 2
            assert (
                await call(psp.webhooks.replay(endpoint.id, until, until + timedelta(minutes=1)))
                == 0
            )

            with pytest.raises(ValidationError):
                await call(psp.webhooks.replay(endpoint.id, until, since))  # backwards
            with pytest.raises(NotFoundError):
                await call(psp.webhooks.retry("no-such-delivery"))
            with pytest.raises(NotFoundError):
                await call(psp.webhooks.replay("no-such-endpoint", since, until))
            assert len(hook.requests) == 3

        run_with(m, async_, flow)
