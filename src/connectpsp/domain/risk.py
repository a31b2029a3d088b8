"""Fraud and risk checks, decided with the balance check before a cash-out's 202.

Two kinds of check run on every cash-out a client sends:
- **fraud markers**: DICT's security information on the counterpart (the Pix key, its
  owner's CPF/CNPJ, the payee's document or the bank account's owner). A marker in force
  refuses the cash-out with ``FRAUD_SUSPECTED``, and the answer says nothing more;
- **the client's own rules**, each off until the client's operator sets it: a count of
  cash-outs per minute, an amount per hour, a cap on the first payment to a payee the
  client never paid, and a cap on the amount sent in the night (a window in
  America/Sao_Paulo). A breach is ``LIMIT_EXCEEDED``, whose details name the rule.

Every check that ran is kept, with its inputs, for the record of the decision. Every
decided attempt counts towards the per-minute count, refused ones too, so that probing a
limit is not free; amounts count only when they were accepted (a refusal moves none).
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.documents import mask_document
from connectpsp.domain.errors import (
    ConnectPSPError,
    FieldError,
    FraudSuspected,
    LimitExceeded,
    ValidationFailed,
)
from connectpsp.domain.money import MAX_CENTAVOS, Centavos, format_brl, to_decimal

__all__ = [
    "HOUR",
    "MINUTE",
    "TICK",
    "Attempt",
    "Check",
    "Decision",
    "RiskHistory",
    "RiskRules",
    "Screening",
    "Tally",
    "looks_back",
    "night_started",
    "refusal_of",
    "screen",
]

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RiskRules:
    """A client's own limits; None turns a rule off."""

    max_cash_outs_per_minute: int | None = None
    max_amount_per_hour: Centavos | None = None
    new_payee_limit: Centavos | None = None
    night_limit: Centavos | None = None
    night_start: time = time(20, 0)  # the night window, in America/Sao_Paulo
    night_end: time = time(6, 0)

    def __post_init__(self) -> None:
        problems = []
        if self.max_cash_outs_per_minute is not None and self.max_cash_outs_per_minute < 1:
            problems.append(FieldError("max_cash_outs_per_minute", "must be at least 1"))
        for name in ("max_amount_per_hour", "new_payee_limit", "night_limit"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_CENTAVOS:
                problems.append(FieldError(name, "must be an amount of at least 0"))
        if self.night_start == self.night_end:
            problems.append(FieldError("night_window", "must start and end at different times"))
        if problems:
            raise ValidationFailed(problems)

    @functools.cached_property
    def night_window(self) -> str:  # read into every night check's record: kept
        return f"{self.night_start:%H:%M}-{self.night_end:%H:%M}"

    @staticmethod
    def parse_night_window(text: str) -> tuple[time, time]:
        """``"20:00-06:00"`` as its start and end; ``ValueError`` otherwise."""
        start, sep, end = text.partition("-")
        try:
            if not sep or len(start) != 5 or len(end) != 5:
                raise ValueError
            return time.fromisoformat(start), time.fromisoformat(end)
        except ValueError:
            raise ValueError("must be HH:MM-HH:MM, e.g. 20:00-06:00") from None


def night_started(rules: RiskRules, moment: datetime) -> datetime | None:
    """When the night window that holds ``moment`` began (aware), or None in the day. A
    window may cross midnight (20:00-06:00) or not (00:00-05:00)."""
    return _night_started(rules.night_start, rules.night_end, moment)


# A batch's decisions share their moment, and its clients mostly their window.
@functools.lru_cache(maxsize=64)
def _night_started(start: time, end: time, moment: datetime) -> datetime | None:
    local = moment.astimezone(SAO_PAULO)
    today = local.date()
    if start < end:
        inside = start <= local.time() < end
        began = today
    elif local.time() >= start:
        inside, began = True, today
    else:
        inside, began = local.time() < end, today - timedelta(days=1)
    if not inside:
        return None
    return datetime.combine(began, start, tzinfo=SAO_PAULO)


@dataclass(frozen=True)
class Screening:
    """What DICT's security information says of a cash-out's counterpart: whether a fraud
    marker is in force on the key, on the key's owner, on the payee's document."""

    key_marked: bool = False
    owner_marked: bool = False
    payee_marked: bool = False

    @property
    def marked(self) -> bool:
        return self.key_marked or self.owner_marked or self.payee_marked


@dataclass(frozen=True)
class Attempt:
    """A cash-out a client sent that was decided: when, how much, and whether accepted."""

    at: datetime
    amount: Centavos
    accepted: bool


# Both databases keep times to the microsecond: "after t" is "at or after t + TICK".
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Tally:
    """A client's running totals: how many cash-outs it had decided, and the amount of
    those accepted. Each recorded decision keeps the tally it brought the client to, so
    what a client did in a window is the difference of two tallies, however long its
    history."""

    decided: int = 0
    accepted: Centavos = 0

    def after(self, attempt: Attempt) -> Tally:
        return Tally(self.decided + 1, self.accepted + (attempt.amount if attempt.accepted else 0))


def looks_back(rules: RiskRules, now: datetime) -> list[datetime]:
    """The moments a client's own rules look back to at ``now``: a batch reads the
    client's tally as it stood just before each (``RiskHistory.stored_before``)."""
    minute, hour, began = _window_starts(rules, now)
    moments = [minute] if rules.max_cash_outs_per_minute is not None else []
    moments += [hour] if rules.max_amount_per_hour is not None else []
    return moments + ([began] if began is not None else [])


_Starts = tuple[datetime, datetime, datetime | None]


def _window_starts(rules: RiskRules, now: datetime) -> _Starts:
    """Where ``rules``' windows begin at ``now``: the minute's first moment, the hour's,
    and the night's (None in the day, or with no night limit)."""
    began = night_started(rules, now) if rules.night_limit is not None else None
    return now - MINUTE + TICK, now - HOUR, began


@dataclass
class RiskHistory:
    """What a client's own rules look back at, for one book: the client's tally as
    stored (``stored``), and as it stood just before each moment its rules look back to
    (``stored_before``, keyed by ``looks_back``'s moments); the attempts decided in this
    book since (``add``); and which of the book's payees the client has paid.

    The attempts added here are answered by bisection over their times with a running
    sum: a book may decide thousands of attempts against one client."""

    stored: Tally = field(default_factory=Tally)
    stored_before: dict[datetime, Tally] = field(default_factory=dict)
    payees: set[str] = field(default_factory=set)
    _added: list[Attempt] = field(default_factory=list, repr=False)
    _times: list[datetime] = field(default_factory=list, repr=False)
    _sums: list[Centavos] = field(
        default_factory=lambda: [0], repr=False
    )  # [i]: accepted in _added[:i]
    _windows: tuple[RiskRules, datetime, _Starts] | None = field(default=None, repr=False)

    def add(self, attempt: Attempt) -> Tally:
        """Count ``attempt``; the client's tally with it."""
        if self._times and attempt.at < self._times[-1]:
            # Older than the newest (a test's clock going back): kept in time order.
            self._added.append(attempt)
            self._added.sort(key=lambda a: a.at)
            self._times = [a.at for a in self._added]
            self._sums = [0]
            for a in self._added:
                self._sums.append(self._sums[-1] + (a.amount if a.accepted else 0))
        else:
            self._added.append(attempt)
            self._times.append(attempt.at)
            self._sums.append(self._sums[-1] + (attempt.amount if attempt.accepted else 0))
        return Tally(self.stored.decided + len(self._added), self.stored.accepted + self._sums[-1])

    def windows(self, rules: RiskRules, now: datetime) -> _Starts:
        """``_window_starts``, worked out once for a batch: its decisions share their
        moment and their client's rules."""
        known = self._windows
        if known is not None and known[0] is rules and known[1] is now:
            return known[2]
        found = _window_starts(rules, now)
        self._windows = (rules, now, found)
        return found

    def counts_since(self, moment: datetime) -> tuple[int, Centavos]:
        """The attempts decided at ``moment`` or after, and the amount of those accepted."""
        times = self._times
        # A batch decides its attempts at one moment, inside every window it looks back
        # over: then none is older than ``moment``, and there is nothing to search.
        first = 0 if not times or moment <= times[0] else bisect_left(times, moment)
        decided = len(times) - first
        sums = self._sums
        accepted = sums[-1] - sums[first]
        stored = self.stored
        if stored.decided:
            # A moment the batch did not read is a bug in the caller: no silent zero.
            before = self.stored_before[moment]
            decided += stored.decided - before.decided
            accepted += stored.accepted - before.accepted
        return decided, accepted


@dataclass(frozen=True)
class Check:
    """One check that ran: its rule, whether it passed, and what it looked at."""

    rule: str
    passed: bool
    inputs: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "inputs": self.inputs}


@dataclass(frozen=True)
class Decision:
    """The record of one decided cash-out request: what ran, on what, and the outcome."""

    id: str
    client_id: str
    cash_out_id: str | None  # the accepted cash-out; None when refused
    at: datetime
    amount: Centavos
    payee: str  # the payee's document
    code: str | None  # the refusal's code; None when accepted
    checks: tuple[Check, ...]
    tally: Tally  # the client's, this decision included

    @property
    def accepted(self) -> bool:
        return self.code is None

    def as_json(self) -> dict[str, Any]:
        """As an operator reads it: amounts in centavos, times in ISO 8601, the payee's
        document masked (the cash-out holds it whole)."""
        return {
            "id": self.id,
            "clientId": self.client_id,
            "cashOutId": self.cash_out_id,
            "at": self.at.isoformat(),
            "amount": self.amount,
            "payee": mask_document(self.payee),
            "outcome": "accepted" if self.accepted else "refused",
            "code": self.code,
            "checks": [c.as_record() for c in self.checks],
        }


def screen(
    rules: RiskRules,
    history: RiskHistory,
    screening: Screening,
    payee: str,
    amount: Centavos,
    now: datetime,
) -> list[Check]:
    """Every check that applies to this cash-out, in order: fraud markers first."""
    checks = [_FRAUD_CHECKS[screening.key_marked, screening.owner_marked, screening.payee_marked]]
    per_minute = rules.max_cash_outs_per_minute
    per_hour = rules.max_amount_per_hour
    new_payee = rules.new_payee_limit
    night = rules.night_limit
    if per_minute is None and per_hour is None and new_payee is None and night is None:
        return checks
    # Every number below is plain arithmetic on the history: this runs for every
    # cash-out of a client with rules, in the writer's transaction.
    minute, hour, began = history.windows(rules, now)
    if per_minute is not None:
        recent = history.counts_since(minute)[0]
        checks.append(
            Check(
                "max_cash_outs_per_minute",
                recent < per_minute,
                {"limit": per_minute, "inLastMinute": recent},
            )
        )
    if per_hour is not None:
        sent = history.counts_since(hour)[1]
        checks.append(
            Check(
                "max_amount_per_hour",
                sent + amount <= per_hour,
                {"limit": per_hour, "inLastHour": sent, "amount": amount},
            )
        )
    if new_payee is not None:
        known = payee in history.payees
        checks.append(
            Check(
                "new_payee_limit",
                known or amount <= new_payee,
                {"limit": new_payee, "knownPayee": known, "amount": amount},
            )
        )
    if night is not None and began is not None:
        sent = history.counts_since(began)[1]
        checks.append(
            Check(
                "night_limit",
                sent + amount <= night,
                {
                    "limit": night,
                    "window": rules.night_window,
                    "sentTonight": sent,
                    "amount": amount,
                },
            )
        )
    return checks


def _fraud_check(key: bool, owner: bool, payee: bool) -> Check:
    inputs = {"keyMarked": key, "ownerMarked": owner, "payeeMarked": payee}
    return Check("fraud_markers", not (key or owner or payee), inputs)


# The fraud markers' check for each screening, made once.
_FRAUD_CHECKS = {
    (k, o, p): _fraud_check(k, o, p)
    for k in (False, True)
    for o in (False, True)
    for p in (False, True)
}


def refusal_of(checks: Sequence[Check]) -> ConnectPSPError | None:
    """The refusal the first failed check calls for: a fraud marker says nothing more;
    a client's own rule is named with its limit."""
    for check in checks:
        if check.passed:
            continue
        if check.rule == "fraud_markers":
            return FraudSuspected()
        limit = check.inputs["limit"]
        count = check.rule == "max_cash_outs_per_minute"
        return LimitExceeded(
            f"This cash-out would pass your {_NAMES[check.rule]} "
            f"({limit if count else format_brl(limit)}).",
            # in reais as text, as amounts are written elsewhere; a count as a number
            {"rule": check.rule, "limit": limit if count else str(to_decimal(limit))},
        )
    return None


_NAMES = {
    "max_cash_outs_per_minute": "limit of cash-outs per minute",
    "max_amount_per_hour": "limit of amount per hour",
    "new_payee_limit": "limit for a first payment to a new payee",
    "night_limit": "night limit",
}
