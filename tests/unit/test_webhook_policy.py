import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.domain.webhooks import (
    MAX_ATTEMPTS,
    forbidden_address,
    new_webhook_secret,
    next_attempt_delay,
    sign,
)
from connectpsp.service.webhooks import BlockedUrl
from tests.receiver import receiver
from tests.support import FakeClock


def test_schedule_then_give_up() -> None:
    rng = random.Random(1)
    expected = [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    for made, base in enumerate(expected, start=1):
        wait = next_attempt_delay(made, rng=rng)
        assert wait is not None
        assert base <= wait <= base * 1.1  # jitter only ever lengthens, by up to 10 %
    assert MAX_ATTEMPTS == 8
    assert next_attempt_delay(8) is None


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    assert next_attempt_delay(1, timedelta(hours=1)) == timedelta(hours=1)
    short = next_attempt_delay(3, timedelta(seconds=1))
    assert short is not None and short >= timedelta(minutes=30)
    assert next_attempt_delay(1, timedelta(days=30)) == timedelta(hours=24)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "2002:7f00:0001::1",
        "255.255.255.255",
    ],
)
def test_forbidden(address: str) -> None:
    assert forbidden_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "200.160.2.3", "2001:4860:4860::8888", "172.32.0.1", "100.128.0.1"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not forbidden_address(address)


def test_signatures_verify_with_the_reference_library() -> None:
    secret = new_webhook_secret()
    now = datetime.now(UTC)
    header = sign([secret], "msg_1", int(now.timestamp()), b'{"a":1}')
    Webhook(secret).verify(
        b'{"a":1}',
        {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": header,
        },
    )


def test_guard_pins_the_address_it_checked() -> None:
    """DNS rebinding: the name resolves to a public address when registered, then to
    loopback when the webhook is sent. The sender refuses; nothing is contacted."""
    answers = {"hook.example.com": [["93.184.216.34"], ["127.0.0.1"]]}

    def resolve(host: str, port: int) -> list[str]:
        return answers[host].pop(0)

    guard = AddressGuard(allow_loopback=False, resolve=resolve)
    guard.check("http://hook.example.com/in")  # registration passes
    with receiver() as canary:
        sender = HttpSender(guard, timeout=2, clock=FakeClock())
        result = sender.send("http://hook.example.com/in", {}, b"{}")
        sender.close()
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("blocked")
    assert canary.connections == 0


def test_loopback_is_allowed_only_when_configured() -> None:
    with pytest.raises(BlockedUrl):
        AddressGuard(allow_loopback=False).check("http://127.0.0.1:9/")
    AddressGuard(allow_loopback=True).check("http://127.0.0.1:9/")
    with pytest.raises(BlockedUrl):  # loopback allowed is not private ranges allowed
        AddressGuard(allow_loopback=True).check("http://10.0.0.1/")
    with pytest.raises(BlockedUrl):
        AddressGuard(allow_loopback=True).check("http://no-such-host.invalid/")


def test_sender_connects_to_the_checked_address_and_follows_no_redirect() -> None:
    with receiver() as hook:
        hook.script = [(302, {"Location": "http://169.254.169.254/"})]
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
        result = sender.send(f"http://localhost:{hook.port}/in", {"x-test": "1"}, b"{}")
        sender.close()
        (received,) = hook.requests
    assert result.status_code == 302  # not followed: a failure to retry, nothing more
    assert received.headers["host"] == f"localhost:{hook.port}"
    assert received.headers["x-test"] == "1"


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt() -> None:
    with receiver() as slow:
        slow.delay = 1.5
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=0.3, clock=FakeClock())
        result = sender.send(slow.url, {}, b"{}")
        sender.close()
    assert not result.ok
    assert result.status_code is None
    assert result.error == "timeout"
    assert 250 <= result.latency_ms < 1500


def test_a_body_that_trickles_in_is_cut_off_at_the_timeout() -> None:
    """The timeout bounds each read; a receiver that sends a byte every 0.1 s would
    otherwise hold the attempt (and its lease) for minutes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 4096\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=0.5, clock=FakeClock())
    try:
        result = sender.send(f"http://127.0.0.1:{port}/", {}, b"{}")
    finally:
        stop.set()
        sender.close()
        listener.close()
    assert result.status_code == 200
    assert result.body is not None and 0 < len(result.body) < 1024
    assert result.latency_ms < 1500
