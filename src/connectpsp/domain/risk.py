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

from bisect import bisect_left, bisect_right
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
    "Attempt",
    "Check",
    "Decision",
    "RiskHistory",
    "RiskRules",
    "Screening",
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

    @property
    def night_window(self) -> str:
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
    local = moment.astimezone(SAO_PAULO)
    start, end = rules.night_start, rules.night_end
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


@dataclass
class RiskHistory:
    """A client's recent attempts (the last hour, and since its night began) and which
    of a batch's payees it has paid before; changed as a batch is decided (``add``).

    A window is found by bisection over the attempts' times, oldest first, and its
    accepted amount from a running sum: a hot client's batch decides every request
    against thousands of attempts, and a scan per request cost more than the rest of
    the acceptance (``python -m bench.profile --rules on``)."""

    attempts: list[Attempt] = field(default_factory=list)
    payees: set[str] = field(default_factory=set)
    _times: list[datetime] = field(init=False, repr=False)
    _sums: list[Centavos] = field(init=False, repr=False)  # [i]: accepted in attempts[:i]

    def __post_init__(self) -> None:
        self.attempts = sorted(self.attempts, key=lambda a: a.at)
        self._times = [a.at for a in self.attempts]
        self._sums = [0]
        for attempt in self.attempts:
            self._sums.append(self._sums[-1] + (attempt.amount if attempt.accepted else 0))

    def add(self, attempt: Attempt) -> None:
        if self._times and attempt.at < self._times[-1]:
            # Older than the newest (another process's clock a little ahead): re-sorted.
            self.attempts.append(attempt)
            self.__post_init__()
            return
        self.attempts.append(attempt)
        self._times.append(attempt.at)
        self._sums.append(self._sums[-1] + (attempt.amount if attempt.accepted else 0))

    def count_after(self, moment: datetime) -> int:
        """Attempts, accepted or refused, strictly after ``moment``."""
        return len(self._times) - bisect_right(self._times, moment)

    def accepted_since(self, moment: datetime) -> Centavos:
        """The amount accepted at ``moment`` or after."""
        return self._sums[-1] - self._sums[bisect_left(self._times, moment)]


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
    checks = [
        Check(
            "fraud_markers",
            not screening.marked,
            {
                "keyMarked": screening.key_marked,
                "ownerMarked": screening.owner_marked,
                "payeeMarked": screening.payee_marked,
            },
        )
    ]
    if rules.max_cash_outs_per_minute is not None:
        recent = history.count_after(now - MINUTE)
        checks.append(
            Check(
                "max_cash_outs_per_minute",
                recent < rules.max_cash_outs_per_minute,
                {"limit": rules.max_cash_outs_per_minute, "inLastMinute": recent},
            )
        )
    if rules.max_amount_per_hour is not None:
        sent = history.accepted_since(now - HOUR)
        checks.append(
            Check(
                "max_amount_per_hour",
                sent + amount <= rules.max_amount_per_hour,
                {"limit": rules.max_amount_per_hour, "inLastHour": sent, "amount": amount},
            )
        )
    if rules.new_payee_limit is not None:
        known = payee in history.payees
        checks.append(
            Check(
                "new_payee_limit",
                known or amount <= rules.new_payee_limit,
                {"limit": rules.new_payee_limit, "knownPayee": known, "amount": amount},
            )
        )
    began = night_started(rules, now)
    if rules.night_limit is not None and began is not None:
        sent = history.accepted_since(began)
        checks.append(
            Check(
                "night_limit",
                sent + amount <= rules.night_limit,
                {
                    "limit": rules.night_limit,
                    "window": rules.night_window,
                    "sentTonight": sent,
                    "amount": amount,
                },
            )
        )
    return checks


def refusal_of(checks: list[Check]) -> ConnectPSPError | None:
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
