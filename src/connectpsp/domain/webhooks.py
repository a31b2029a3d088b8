"""Webhooks: the two payload shapes of the seeds, Standard Webhooks signatures, the retry
policy, and which network addresses a webhook may never reach."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = [
    "MAX_ATTEMPTS",
    "Attempt",
    "AttemptResult",
    "DeliveryStatus",
    "DeliveryTask",
    "DeliveryView",
    "DueDelivery",
    "Endpoint",
    "EndpointCreated",
    "Message",
    "MessageShape",
    "NewEndpoint",
    "RotateSecret",
    "SecretRotated",
    "forbidden_address",
    "is_http_url",
    "new_webhook_secret",
    "next_attempt_delay",
    "placeholder_host",
    "sign",
]


class MessageShape(StrEnum):
    # seed 000's shape, to the record's own webhookUrl (named for cash-outs, where it began)
    CASH_OUT = "cash_out"
    MOVEMENT = "movement"  # seed 004: to the client's registered endpoints


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every attempt failed, the receiver answered 410, or the endpoint is gone


def new_webhook_secret() -> str:
    """``whsec_`` + standard base64 of 24 random bytes, as Standard Webhooks expects."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_bytes(secret: str) -> bytes:
    body = secret.removeprefix("whsec_")
    return base64.b64decode(body + "=" * (-len(body) % 4))


def sign(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``
    for each live secret, space-separated (more than one while a rotation overlaps)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(_secret_bytes(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets_
    )


# Attempt 1 is immediate; then these waits, each stretched by up to 10 % of jitter.
_SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
MAX_ATTEMPTS = len(_SCHEDULE) + 1
_MAX_RETRY_AFTER = timedelta(hours=24)


def next_attempt_delay(
    attempts_made: int, retry_after: timedelta | None = None, rng: random.Random | None = None
) -> timedelta | None:
    """How long to wait after ``attempts_made`` failed attempts; None when they are spent.
    A receiver's ``Retry-After`` (on 429 and 503) is honoured when it asks for longer."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    wait = _SCHEDULE[attempts_made - 1]
    wait += wait * (rng or random).uniform(0, 0.1)
    if retry_after is not None:
        wait = max(wait, min(retry_after, _MAX_RETRY_AFTER))
    return wait


def is_http_url(url: str) -> bool:
    """An absolute http or https URL with a host, and a port (if it names one) that is a
    number up to 65535. ``urlsplit`` raises for some malformed URLs (an unclosed IPv6
    bracket) and ``port`` for a bad port: such a URL is simply not one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read only to check it
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def placeholder_host(url: str) -> str | None:
    """The URL's host as written if it is a placeholder, such as the docs' ``YOUR_DOMAIN``:
    one with an ``_``, which no host name has (RFC 1123), so it can never be reached."""
    try:
        host = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return None
    host = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    return host if "_" in host else None


def forbidden_address(address: str) -> bool:
    """True for anything but a public unicast address: loopback, the private ranges,
    link-local (169.254.169.254 included), CGNAT 100.64/10, IPv6 ULA, link-local and
    site-local, multicast, reserved, unspecified, and the IPv4-mapped (``::ffff:a.b.c.d``)
    and 6to4 forms of all of these. IPv6 addresses in ``::/8`` (the IPv4-compatible
    ``::a.b.c.d`` and NAT64's ``64:ff9b::/96`` among them) are reserved: all refused."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    if ip in _CGNAT:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Endpoint:
    """A client's registered webhook URL (seed 004 events)."""

    id: str
    client_id: str
    url: str
    events: tuple[str, ...]
    secret_enc: str
    previous_secret_enc: str | None
    previous_secret_expires_at: datetime | None
    enabled: bool
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.events


@dataclass(frozen=True)
class NewEndpoint:
    """A request to register an endpoint: its URL and the events it wants."""

    url: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class EndpointCreated:
    """The answer to a registration, the signing secret included (shown only here)."""

    id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    secret: str


@dataclass(frozen=True)
class RotateSecret:
    """A request to give an endpoint a new signing secret."""

    endpoint_id: str


@dataclass(frozen=True)
class SecretRotated:
    endpoint_id: str
    secret: str
    previous_secret_expires_at: datetime


@dataclass(frozen=True)
class Message:
    id: str  # the webhook-id, the same on every attempt and replay
    client_id: str
    event_type: str
    shape: MessageShape
    subject_kind: str  # what the event is about: cash_out
    subject_id: str
    body: bytes
    created_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    """A delivery that is due, before it is claimed."""

    id: str
    endpoint_id: str | None
    url: str
    due_at: datetime

    @property
    def target(self) -> str:
        """What the concurrency cap counts by: the endpoint, or the cash-out's URL."""
        return self.endpoint_id or self.url


@dataclass(frozen=True)
class DeliveryTask:
    """A delivery claimed for an attempt, with what signing it needs."""

    id: str
    message_id: str
    client_id: str
    endpoint_id: str | None
    url: str
    body: bytes
    attempts: int  # made before this one
    # The secrets that may sign it, encrypted: the endpoint's (and its previous one, in
    # a rotation's overlap), or, for a record's own webhookUrl, the client's.
    endpoint_secret_enc: str | None
    previous_secret_enc: str | None
    previous_secret_expires_at: datetime | None
    client_secret_enc: str

    @property
    def target(self) -> str:
        return self.endpoint_id or self.url


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None


@dataclass(frozen=True)
class AttemptResult:
    """An attempt to record, and the delivery's status after it."""

    delivery_id: str
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None  # when pending: the next try


@dataclass(frozen=True)
class DeliveryView:
    id: str
    message_id: str
    event_type: str
    endpoint_id: str | None
    url: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    created_at: datetime
