"""Identifiers: time-ordered where they are made by the thousand, stable where derived."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from connectpsp.domain.ids import derived_id, ordered_id

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def millis(text: str) -> int:
    return int(text[:8] + text[9:13], 16)


def test_an_ordered_id_is_a_uuid_7_in_the_order_of_its_moment() -> None:
    ids = [ordered_id(NOON + timedelta(milliseconds=n)) for n in range(0, 5000, 7)]
    assert ids == sorted(ids)
    for text in ids[:3]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 7, uuid.RFC_4122)
    assert millis(ids[0]) == int(NOON.timestamp() * 1000)
    assert len({ordered_id(NOON) for _ in range(1000)}) == 1000  # one moment, all unique


def test_an_id_derived_from_an_ordered_one_is_ordered_stable_and_its_own() -> None:
    base = ordered_id(NOON)
    fee, rail = derived_id(base, "fee"), derived_id(base, "rail")
    for derived in (fee, rail):
        parsed = uuid.UUID(derived)
        assert (str(parsed), parsed.version, parsed.variant) == (derived, 7, uuid.RFC_4122)
        assert millis(derived) == millis(base)  # beside its base in an index
    assert len({base, fee, rail}) == 3
    assert derived_id(base, "fee") == fee  # a retry or a restart finds the same one
    later = ordered_id(NOON + timedelta(milliseconds=1))
    assert derived_id(base, "fee") < derived_id(later, "fee")


def test_an_id_derived_from_any_other_is_the_version_5_uuid_it_always_was() -> None:
    # Pinned: a cash-out accepted before ids were ordered settles with the same fee
    # transfer and rail key after an upgrade.
    assert derived_id("dd30446e-6cc5-4664-bf3f-6b7f5e55a1a9", "fee") == (
        "7deb8cc9-5d13-5d04-be64-0107968057fe"
    )
    assert uuid.UUID(derived_id("E12345678202612051200abcdefghijk", "cash_in")).version == 5
