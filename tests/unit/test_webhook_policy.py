import asyncio
import contextlib
import random
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook

from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.domain.webhooks import (
    MAX_ATTEMPTS,
    forbidden_address,
    new_webhook_secret,
    next_attempt_delay,
    sign,
)
from connectpsp.service.ports import BlockedUrl, SendResult
from tests.receiver import receiver
from tests.support import FakeClock


def post(sender: HttpSender, url: str, headers: dict[str, str], body: bytes) -> SendResult:
    """One attempt, on an event loop of its own (the dispatcher runs one for all)."""
    return asyncio.run(sender.send(url, headers, body))


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


def test_waits_are_jittered() -> None:
    """Each wait is its base stretched by a random part of 10 %: waits for the same
    attempt differ, so receivers that failed together are not retried together."""
    for made, base in ((1, timedelta(seconds=5)), (4, timedelta(hours=2))):
        waits = [next_attempt_delay(made) for _ in range(50)]
        assert all(w is not None and base <= w <= base * 1.1 for w in waits)
        assert len(set(waits)) > 40
        assert max(w for w in waits if w is not None) - base > base * 0.05
    seeded = [next_attempt_delay(2, rng=random.Random(seed)) for seed in range(5)]
    assert len(set(seeded)) == 5


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
        # IPv4-compatible, IPv4-mapped, reserved and site-local forms
        "::7f00:1",
        "::a00:1",
        "::ffff:169.254.169.254",
        "::ffff:100.64.0.1",
        "::ffff:172.16.0.1",
        "::ffff:192.168.1.1",
        "64:ff9b::7f00:1",
        "240.0.0.1",
        "fec0::1",
        "100::1",
    ],
)
def test_forbidden(address: str) -> None:
    assert forbidden_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "200.160.2.3",
        "2001:4860:4860::8888",
        "172.32.0.1",
        "100.128.0.1",
        "::ffff:8.8.8.8",
        "2606:4700::1111",
    ],
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
        result = post(sender, "http://hook.example.com/in", {}, b"{}")
        sender.close()
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("blocked")
    assert canary.connections == 0


def test_the_connection_goes_to_the_resolved_address_under_the_original_host() -> None:
    """``hook.invalid`` cannot resolve (RFC 6761): a request reaches the receiver only
    because the sender connects to the address the guard resolved, not to the name."""
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"] if host == "hook.invalid" else []

    with receiver() as hook:
        guard = AddressGuard(allow_loopback=True, resolve=resolve)
        sender = HttpSender(guard, timeout=2, clock=FakeClock())
        result = post(sender, f"http://hook.invalid:{hook.port}/in", {}, b"{}")
        sender.close()
    assert result.status_code == 200, result  # unpinned: ConnectError, a failed DNS lookup
    (received,) = hook.requests
    assert resolved == ["hook.invalid"]
    assert received.path == "/in"
    assert received.headers["host"] == f"hook.invalid:{hook.port}"


def test_the_receiver_fails_a_delivery_no_expected_secret_signed() -> None:
    """The test receiver checks each request with the reference library's signing."""
    secret, other = new_webhook_secret(), new_webhook_secret()
    stamp = int(datetime.now(UTC).timestamp())

    def headers(signer: str, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign([signer], "msg_1", stamp, body),
        }

    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
    with receiver() as hook:
        hook.expect(secret)
        assert post(sender, hook.url, headers(secret, b"{}"), b"{}").ok
        assert post(sender, hook.url, {**headers(secret, b"{}"), "x": "1"}, b"{}").ok
    assert (hook.checked, hook.bad_signatures) == (2, [])
    checking = receiver()
    hook = checking.__enter__()
    hook.expect(secret, "/mine")
    post(sender, f"{hook.url}/mine", headers(other, b"{}"), b"{}")  # another secret
    post(sender, f"{hook.url}/mine", headers(secret, b"{}"), b'{"a":1}')  # tampered
    post(sender, f"{hook.url}/mine", {}, b"{}")  # unsigned
    post(sender, f"{hook.url}/else", {}, b"{}")  # no secret expected: unchecked
    sender.close()
    with pytest.raises(AssertionError, match="no expected secret signed"):
        checking.__exit__(None, None, None)  # the test using this receiver fails
    assert hook.checked == 3
    assert len(hook.bad_signatures) == 3


def test_loopback_is_allowed_only_when_configured() -> None:
    with pytest.raises(BlockedUrl):
        AddressGuard(allow_loopback=False).check("http://127.0.0.1:9/")
    AddressGuard(allow_loopback=True).check("http://127.0.0.1:9/")
    with pytest.raises(BlockedUrl):  # loopback allowed is not private ranges allowed
        AddressGuard(allow_loopback=True).check("http://10.0.0.1/")
    with pytest.raises(BlockedUrl):
        AddressGuard(allow_loopback=True).check("http://no-such-host.invalid/")


def test_a_literal_check_is_worked_out_once_per_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cash-out with a webhookUrl has it checked at acceptance: the answer, allowed
    or refused, is kept by URL (it needs no DNS, so it holds)."""
    calls = []
    real = socket.getaddrinfo

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    guard = AddressGuard(allow_loopback=False)
    refused = []
    for _ in range(3):
        guard.check_literal("https://8.8.8.8/hooks")
        with pytest.raises(BlockedUrl) as blocked:
            guard.check_literal("http://10.0.0.7/hooks")
        refused.append(str(blocked.value))
    assert calls == ["8.8.8.8", "10.0.0.7"]
    assert refused == [refused[0]] * 3 and "private" in refused[0]


def test_sender_connects_to_the_checked_address_and_follows_no_redirect() -> None:
    with receiver() as hook:
        hook.script = [(302, {"Location": "http://169.254.169.254/"})]
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
        result = post(sender, f"http://localhost:{hook.port}/in", {"x-test": "1"}, b"{}")
        sender.close()
        (received,) = hook.requests
    assert result.status_code == 302  # not followed: a failure to retry, nothing more
    assert received.headers["host"] == f"localhost:{hook.port}"
    assert received.headers["x-test"] == "1"


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt() -> None:
    with receiver() as slow:
        slow.delay = 1.5
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=0.3, clock=FakeClock())
        result = post(sender, slow.url, {}, b"{}")
        sender.close()
    assert not result.ok
    assert result.status_code is None
    assert result.error == "timeout"
    assert 250 <= result.latency_ms < 1500


def trickling_server(head: bytes, *, every: float, stop: threading.Event) -> tuple[int, Any]:
    """A server that reads a request, then sends ``head`` a byte every ``every`` s until
    ``stop`` (or for at most 5 s, then the rest of a 200 answer); its port and closer."""
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            deadline = time.monotonic() + 5
            for byte in head:
                if stop.is_set() or time.monotonic() > deadline:
                    break
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(every)
            with contextlib.suppress(OSError):
                conn.sendall(b"\r\ncontent-length: 2\r\n\r\nok")

    threading.Thread(target=trickle, daemon=True).start()
    return listener.getsockname()[1], listener.close


def test_the_timeout_bounds_the_whole_attempt_not_each_read() -> None:
    """A receiver that trickles its status line and headers, a byte every 50 ms, never
    leaves a single read waiting as long as the timeout; the attempt still ends at it."""
    stop = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 200
    port, close = trickling_server(head, every=0.05, stop=stop)
    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=0.5, clock=FakeClock())
    try:
        result = post(sender, f"http://127.0.0.1:{port}/", {}, b"{}")
    finally:
        stop.set()
        sender.close()
        close()
    assert result.status_code is None
    assert result.error == "timeout"
    assert 450 <= result.latency_ms < 1200


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
        result = post(sender, f"http://127.0.0.1:{port}/", {}, b"{}")
    finally:
        stop.set()
        sender.close()
        listener.close()
    assert result.status_code == 200
    assert result.body is not None and 0 < len(result.body) < 1024
    assert result.latency_ms < 1500


def test_connections_are_kept_alive_between_attempts() -> None:
    async def five(sender: HttpSender, url: str) -> list[SendResult]:
        return [await sender.send(url, {}, b"{}") for _ in range(5)]

    with receiver(keep_alive=True) as hook:
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
        results = asyncio.run(five(sender, hook.url))
        sender.close()
    assert [r.status_code for r in results] == [200] * 5
    assert hook.connections == 1


def test_a_kept_connection_the_receiver_closed_is_replaced() -> None:
    """A receiver that answers one request per connection, saying keep-alive, and then
    closes it: each next attempt finds the kept connection closed (or it fails before
    any answer) and opens another; none fails for it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async def three(sender: HttpSender) -> list[SendResult]:
        return [await sender.send(f"http://127.0.0.1:{port}/", {}, b"{}") for _ in range(3)]

    threading.Thread(target=serve, daemon=True).start()
    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
    try:
        results = asyncio.run(three(sender))
    finally:
        sender.close()
        listener.close()
    assert [(r.status_code, r.error) for r in results] == [(200, None)] * 3
    assert len(accepted) == 3


def self_signed(directory: Path, address: str) -> tuple[Path, Path]:
    """A certificate for ``address`` that no public CA signed, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(address))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_an_https_receiver_must_present_a_certificate_a_public_ca_signed(
    tmp_path: Path,
) -> None:
    """TLS is verified (certifi's CAs, the URL's host): a receiver with a self-signed
    certificate gets no webhook, and the attempt fails with the verification error."""
    cert, key = self_signed(tmp_path, "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    served: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            served.append(tls.recv(65536))
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
    try:
        result = post(sender, f"https://127.0.0.1:{port}/in", {}, b"{}")
    finally:
        sender.close()
        thread.join(timeout=5)
        listener.close()
    assert result.status_code is None
    assert result.error == "SSLCertVerificationError"
    assert served == []
