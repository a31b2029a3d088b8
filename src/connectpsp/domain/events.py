"""Domain events: what happened to a record, stated once.

A unit of work collects the events of its transaction, and the publisher renders each
into its webhook shapes in that same transaction: the state change and its
notifications commit together. Adding an event is a new subclass and its payload
builders; no schema changes, since messages are stored by subject (kind and id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

__all__ = ["Event"]


@dataclass(frozen=True)
class Event:
    """Something that happened to one of a client's records, at ``at``."""

    type: ClassVar[str]  # the public event type, as webhooks name it: CASHOUT_COMPLETED
    subject_kind: ClassVar[str]  # what kind of record it is about: cash_out

    at: datetime

    @property
    def subject_id(self) -> str:
        raise NotImplementedError

    @property
    def client_id(self) -> str:
        raise NotImplementedError

    @property
    def webhook_url(self) -> str | None:
        """Where the record asked its own events to go (a request's ``webhookUrl``)."""
        return None
