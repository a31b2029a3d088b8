"""When to retry a request, and how long to wait first. Small pure functions.

Retried: no answer (connection errors, timeouts), 5xx, 429, and 409
IDEMPOTENCY_KEY_IN_USE (the first try is still running). Never retried: any other 4xx,
which would fail the same way again. Every POST carries an idempotency key, so
retrying one never moves money twice.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after", "retry_delay", "should_retry"]

BASE_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


def should_retry(status: int | None, code: str | None) -> bool:
    """``status`` None means there was no answer at all."""
    if status is None or status >= 500 or status == 429:
        return True
    return status == 409 and code == "IDEMPOTENCY_KEY_IN_USE"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait that a ``Retry-After`` header asks for, or None if it asks for
    nothing readable. RFC 9110 allows two forms: delay-seconds (``"120"``) and an
    HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``), which is read against ``now``
    (a date already past means no wait)."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, as HTTP dates always are
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def retry_delay(
    retry: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before retry number ``retry`` (1, 2, ...): capped exponential backoff with
    equal jitter, or the server's ``Retry-After`` when it gives one (capped at a minute).

    Equal jitter: the ceiling doubles from ``BASE_DELAY`` up to ``MAX_DELAY``, and the
    wait is drawn uniformly from its upper half, ``[ceiling / 2, ceiling]``: clients that
    failed together do not retry together, and none retries at once. ``rng`` (the
    ``random`` module by default) draws it."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_RETRY_AFTER)
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (retry - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)
