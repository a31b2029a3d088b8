"""Crash loop (Jepsen's bank workload, with kill -9): a real API process
(``connectpsp serve --no-worker``) and a real ``connectpsp worker`` run on one database
while a load generator sends cash-outs over HTTP. At random moments the API, the worker
or both are killed with SIGKILL and started again. After each iteration the load pauses,
the worker drains, and the run is checked against the client's own log of acknowledged
(202) requests:

- none lost: every acknowledged cash-out exists, with the amount the client sent;
- none paid twice: the rail was asked to pay each at most once, each reservation was
  posted or voided exactly once (``tests.invariants``);
- all terminal after draining, and the ledger balanced with no negative balance;
- every terminal event delivered at least once to the cash-out's ``webhookUrl``.

The crash loop's load also pays the merchants, as customers of other banks would
(``POST /sandbox/pix/pay``): to their keys, their static codes and dynamic codes it
creates, some from a payer DICT marks for fraud (held: ``domain.blocks``); and sends
on-us cash-outs from one merchant to another's key or static code. Checked as well:

- every endToEndId acknowledged (201) is credited once, to its merchant, with its
  amount; the sandbox payer's credits that were never acknowledged are no more than the
  payments whose answer was lost; a dynamic code whose payment's answer was lost, and
  that was refused as paid when sent again, was paid exactly once;
- an on-us cash-out COMPLETED credited its receiver once, a FAILED one did not, and
  money is conserved (``tests.invariants.cash_in_problems``).

The merchants refund (parts of) the payments their charges received (``POST
/cash-in/{internalCode}/refunds``; some payers' accounts reject the refund, some payments
are past the 90 days), and payees' banks send settled cash-outs back (``POST
/sandbox/cash-out/{internalCode}/return``). Checked as well:

- every refund in the database was acknowledged (202) and every acknowledged one is
  there, with its merchant, payment and amount; each ended COMPLETED, or FAILED when
  its payer's account rejects refunds, and nothing else; SPI was sent it as one return;
  its reservation was posted or voided once (``tests.invariants``), and its terminal
  event reached its charge's ``webhookUrl``;
- what the cash-outs' returns add up to is at least what was acknowledged (201), and no
  more than that and the returns whose answer was lost.

Payers' PSPs report received Pix as fraud (MED: ``POST /sandbox/med/infractions``, which
blocks the funds at once), and an operator decides some of them with the CLI (``connectpsp
infractions accept|reject``, a process of its own, never killed) while the API and the
worker die. The processes run on real time, so a report's 7-day deadline never comes
during a run: to let the worker's default decide, the loop makes a report just before
each kill with a service of its own whose clock is 7 days back (its deadline is due at
once), and the real worker processes, killed and restarted like the rest, apply
``CONNECTPSP_MED_DEFAULT`` to it.
Checked as well:

- every report stored was acknowledged and every acknowledged one is stored, against its
  Pix, with the amount asked; it blocked all of it unless a refund of the Pix came first;
- each decided once: one decision event, by the operator when its CLI said so, by the
  deadline (as the default says) only when its deadline was due; one the operator found
  decided already was the deadline's; its block ended with the decision (``tests.
  invariants``), and each accepted report's FR01 refund exists once, within what was
  blocked, ended as its payer's account says, went to SPI as one return, and its events
  reached the charge's ``webhookUrl``; no rejected or open report has a refund;
- each merchant's blocked balance (``GET /balance``) is what its active blocks hold.

The load behaves as a careful client (or our SDK): a request whose answer was lost to a
crash is sent again with the same idempotency key until it gets a definite answer. A
payment, and a payee's bank's return, has no idempotency key (the sandbox payer mints an
endToEndId per call): sent again, it is a new one; the load does not send a return again.
A MED report needs none: a Pix takes one report, and the report sent again after a lost
answer is refused with the id of the one that was made."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from connectpsp.adapters.rails.simulated_returns import (
    LOST_REFUND_ANSWER_PAYER,
    MAGIC_REFUND_PAYERS,
)
from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container, build
from connectpsp.domain.cashin import ChargeRequest, ChargeType
from connectpsp.domain.errors import ConnectPSPError
from connectpsp.domain.ids import derived_id
from connectpsp.domain.infractions import DECISION_DEADLINE
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.pix import PixKeyType
from connectpsp.service.acceptance import Accepted
from connectpsp.service.auth import signature_for
from connectpsp.settings import Settings
from tests.invariants import cash_in_problems, ledger_problems, settlement_problems
from tests.logscan import remember_secret
from tests.receiver import Receiver, receiver
from tests.reliability.pgcluster import PrivatePostgres
from tests.support import MASTER_KEY, FakeClock, free_port, process_env

# Where each request goes, so every path runs: settled, key not found, SPI rejection,
# and a rail answer that is lost and must be reconciled.
DESTINATIONS: list[dict[str, Any]] = [
    {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
    {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "nobody@sandbox.connectpsp.dev"},
    {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "9901",
            "accountType": "CHECKING",
        },
    },
    {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "9999",
            "accountType": "CHECKING",
        },
    },
]
SETTLING = (DESTINATIONS[0], DESTINATIONS[3])
VICTIMS = ("api", "worker", "both")
CHARGE_HOOK = "/charge-hook"  # the charges' webhookUrl: their refunds' events come here
# The merchants' own documents: an on-us cash-out names its receiver's.
MERCHANT_DOCUMENTS = ("39053344705", "86288366757", "11144477735")
# A payer DICT marks for fraud (marked before the processes start): its Pix is held.
MARKED_PAYER = "71460238001"
PAYER_BANK = "60701190"  # the sandbox payers' participant (Itaú)
# Payers whose refunds SPI rejects, and one whose refund's first answer is lost.
REFUND_PAYERS = (*MAGIC_REFUND_PAYERS, LOST_REFUND_ANSWER_PAYER)
# What the load does when it pays too: cash-outs out, a third of the time.
PAYING_KINDS = ("cash_out",) * 4 + (
    "pay_key",
    "pay_static",
    "pay_dynamic",
    "on_us",
    "refund",
    "refund",
    "return",
    "report",
    "report",
)
# A payment settled this long ago is past the 90 days in which it can be refunded.
PAID_LONG_AGO = "2026-01-01T12:00:00-03:00"
OPERATOR = "crash-operator"  # who decides MED reports with the CLI


@dataclass
class Figures:
    iterations: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    resent_after_crash: int = 0
    terminal_events: int = 0
    pix_acknowledged: int = 0
    pix_answers_lost: int = 0
    pix_held: int = 0
    on_us_acknowledged: int = 0
    refunds_acknowledged: int = 0
    refunds: Counter[str] = field(default_factory=Counter)  # by the status they ended in
    returns_acknowledged: int = 0
    return_answers_lost: int = 0
    med_default: str = ""  # CONNECTPSP_MED_DEFAULT of the worker processes
    infractions_reported: int = 0  # acknowledged over HTTP
    infractions_overdue: int = 0  # reported with their deadline due at once
    report_answers_lost: int = 0
    infractions: Counter[str] = field(default_factory=Counter)  # by status at the end
    decided_by: Counter[str] = field(default_factory=Counter)  # the operator or the deadline
    operator_decisions: Counter[str] = field(default_factory=Counter)  # accept, reject, late
    operator_beat_deadline: int = 0  # reports due that the operator decided first
    med_blocked: int = 0  # centavos: what the reports blocked, in all
    med_refunds: Counter[str] = field(default_factory=Counter)  # the FR01 refunds, by status
    refused: Counter[str] = field(default_factory=Counter)  # definite refusals, by code
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


@dataclass
class Merchant:
    client_id: str
    token: str
    application_token: str
    crypto_token: str
    document: str = ""
    key: str = ""  # its EVP key
    static_code: str = ""  # a static BR Code of no amount, paid again and again
    static_internal_code: str = ""


@dataclass
class Acked:
    merchant: str
    internal_code: str
    amount_centavos: int
    receiver: str | None = None  # on-us: the merchant it pays
    settles: bool = False  # to a destination SPI settles: its payee's bank may send it back


@dataclass
class AckedPix:
    """A payment the sandbox payer acknowledged (201) to ``merchant``."""

    merchant: str
    end_to_end_id: str
    amount_centavos: int
    charge: str | None = None  # the internal code of the charge it paid, if any
    payer: str = ""  # its payer's document


@dataclass
class AckedRefund:
    merchant: str
    refund_id: str
    end_to_end_id: str
    amount_centavos: int
    payer: str  # the payer's document: SPI rejects a refund to some


@dataclass
class AckedReturn:
    """A payee's bank's return of (part of) a cash-out, acknowledged (201)."""

    internal_code: str
    amount_centavos: int


@dataclass
class AckedReport:
    """A MED report against a Pix ``pix.merchant`` received, acknowledged (201; or 409
    naming it, when the answer to the first try was lost)."""

    infraction_id: str
    pix: AckedPix
    asked: int  # centavos: the report's amount (all of the Pix when it named none)
    overdue: bool = False  # made 7 days back: its deadline was due at once


@dataclass
class OperatorDecision:
    infraction_id: str
    verb: str  # accept | reject
    decided: bool  # the CLI decided it; False: it was decided already


@dataclass
class Med:
    """What the load needs to play MED: the environment of the operator's CLI, and a
    report made by a service whose clock is 7 days back (its deadline due at once)."""

    cli_env: dict[str, str]
    report_overdue: Callable[[str, int | None, str | None], Any]
    default: str  # the worker processes' CONNECTPSP_MED_DEFAULT


class Load:
    """Threads that send cash-outs while ``running`` is set. A request in hand is kept,
    and sent again with the same key, until it gets an answer."""

    def __init__(
        self,
        base_url: str,
        merchants: list[Merchant],
        hook_url: str,
        seed: int,
        threads: int,
        *,
        pays: bool = False,
        med: Med | None = None,
    ) -> None:
        self.base_url = base_url
        self.pays = pays  # pays the merchants and sends on-us cash-outs too
        self.med = med  # reports the Pix paid as fraud, and an operator decides some
        self.reports: list[AckedReport] = []
        self.reported: set[str] = set()  # the endToEndIds taken for a report
        self.report_answers_lost = 0
        self.decisions: list[OperatorDecision] = []
        self.operator_errors: list[str] = []
        self.paid: list[AckedPix] = []
        self.pay_answers_lost = 0
        self.refunds: list[AckedRefund] = []
        self.returns: list[AckedReturn] = []
        self.returns_lost: Counter[str] = Counter()  # what may have come back, by cash-out
        self.return_answers_lost = 0
        self.charges_paid_unacked: list[tuple[str, str]] = []  # (merchant, internal code)
        self.merchants = merchants
        self.hook_url = hook_url
        self.running = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[Acked] = []
        self.drained = 0  # the acknowledged cash-outs before this many are terminal
        self.resent = 0
        self.refused: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()  # 503s, by code, each retried
        # Each thread runs its step again and again; one operator, when there is MED.
        steps = [self._one] * threads + ([self._operate] if med else [])
        self.idle = [threading.Event() for _ in steps]
        self.threads = [
            threading.Thread(target=self._run, args=(n, random.Random(seed + n), step), daemon=True)
            for n, step in enumerate(steps)
        ]
        for thread in self.threads:
            thread.start()

    def pause(self, timeout: float = 60) -> None:
        """Stop sending new requests and wait until none is in hand."""
        self.running.clear()
        deadline = time.monotonic() + timeout
        for idle in self.idle:
            if not idle.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError("a request found no answer after the restart")

    def close(self) -> None:
        self.stop.set()
        self.running.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(
        self, n: int, rng: random.Random, step: Callable[[httpx.Client, random.Random], None]
    ) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self.stop.is_set():
                self.idle[n].set()
                self.running.wait()
                if self.stop.is_set():
                    return
                self.idle[n].clear()
                step(http, rng)

    def _one(self, http: httpx.Client, rng: random.Random) -> None:
        kind = rng.choice(PAYING_KINDS) if self.pays else "cash_out"
        if kind.startswith("report") and self.med is None:
            kind = "cash_out"
        if kind in ("pay_key", "pay_static"):
            m, amount = rng.choice(self.merchants), rng.randint(1, 500)
            body = {"pixKey": m.key} if kind == "pay_key" else {"brCode": m.static_code}
            charge = m.static_internal_code if kind == "pay_static" else None
            self._pay(http, rng, m, {**body, "amount": _amount(amount)}, amount, charge)
        elif kind == "pay_dynamic":
            self._pay_dynamic(http, rng)
        elif kind == "refund":
            self._refund(http, rng)
        elif kind == "return":
            self._return(http, rng)
        elif kind == "report":
            self._report(http, rng)
        elif kind == "on_us":
            m, to = rng.sample(self.merchants, 2)
            destination = rng.choice(
                [
                    {"type": "PIX", "pixKeyType": "EVP", "pixKey": to.key},
                    {"type": "BRCODE", "brCode": to.static_code},
                ]
            )
            self._cash_out(http, rng, m, destination, to)
        else:
            self._cash_out(http, rng, rng.choice(self.merchants), rng.choice(DESTINATIONS))

    def _cash_out(
        self,
        http: httpx.Client,
        rng: random.Random,
        m: Merchant,
        destination: dict[str, Any],
        to: Merchant | None = None,
    ) -> None:
        amount = rng.randint(100, 500)
        body = {
            "amount": _amount(amount),
            "externalReference": f"crash-{uuid.uuid4().hex[:20]}",
            "webhookUrl": f"{self.hook_url}/hook",
            "payee": {
                "name": "Maria Silva",
                "document": to.document if to else "12345678909",
                "destination": destination,
            },
        }
        reply, tries = self._send(http, "/cash-out", m, body)
        with self.lock:
            self.resent += tries > 1
            if reply.status_code == 202:
                code = reply.json()["internalCode"]
                settles = to is None and destination in SETTLING
                self.acked.append(
                    Acked(m.client_id, code, amount, to.client_id if to else None, settles)
                )
            else:
                self.refused[f"{reply.status_code} {_code(reply)}"] += 1

    def _send(
        self, http: httpx.Client, path: str, m: Merchant, body: dict[str, Any]
    ) -> tuple[httpx.Response, int]:
        """POST under one idempotency key until a definite answer; it and the tries."""
        headers = {**_headers(m), "X-Idempotency-Key": str(uuid.uuid4())}
        tries = 0
        # The answer may be lost to a crash; the same key makes the retry safe. A key
        # claimed by a process that died stays "in use" until its claim expires.
        while True:
            tries += 1
            try:
                reply = http.post(path, json=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if reply.status_code == 409 and _code(reply) == "IDEMPOTENCY_KEY_IN_USE":
                time.sleep(0.25)
                continue
            if reply.status_code == 503:
                with self.lock:
                    self.unavailable[_code(reply)] += 1
                time.sleep(0.05)
                continue
            return reply, tries

    def _pay(
        self,
        http: httpx.Client,
        rng: random.Random,
        m: Merchant,
        body: dict[str, Any],
        amount: int,
        charge: str | None = None,
    ) -> httpx.Response:
        """The sandbox payer pays ``m`` (``charge``, if it pays one) until it gets a
        definite answer: each try is a new payment (a new endToEndId), so one whose
        answer was lost may be credited without the payer knowing its id; those are
        counted. Some payers are marked for fraud, some reject refunds; some payments
        settled months ago."""
        draw = rng.random()
        document = (
            MARKED_PAYER
            if draw < 0.15
            else rng.choice(REFUND_PAYERS)
            if draw < 0.45
            else "52998224725"
        )
        body = {**body, "payer": {"name": "Pagador", "document": document, "ispb": PAYER_BANK}}
        if rng.random() < 0.05:
            body["paidAt"] = PAID_LONG_AGO
        while True:
            try:
                reply = http.post("/sandbox/pix/pay", json=body, headers=_headers(m))
            except httpx.ConnectError:  # the API is down: the payment was never made
                time.sleep(0.05)
                continue
            except httpx.TransportError:
                reply = None
            if reply is not None and reply.status_code != 503:
                break
            with self.lock:
                self.pay_answers_lost += 1
            time.sleep(0.05)
        with self.lock:
            if reply.status_code == 201:
                e2e = reply.json()["endToEndId"]
                self.paid.append(AckedPix(m.client_id, e2e, amount, charge, document))
            else:
                self.refused[f"pay {reply.status_code} {_code(reply)}"] += 1
        return reply

    def _pay_dynamic(self, http: httpx.Client, rng: random.Random) -> None:
        """A dynamic charge (created as a careful client does), then paid: if a try's
        answer was lost, the next may find it paid already."""
        m = rng.choice(self.merchants)
        amount = rng.randint(100, 500)
        charge = {
            "type": "DYNAMIC",
            "amount": _amount(amount),
            "externalReference": f"crash-charge-{uuid.uuid4().hex[:16]}",
            "expiresIn": 3600,
            "webhookUrl": f"{self.hook_url}{CHARGE_HOOK}",
        }
        created, _ = self._send(http, "/cash-in", m, charge)
        if created.status_code != 201:
            with self.lock:
                self.refused[f"charge {created.status_code} {_code(created)}"] += 1
            return
        lost_before = self.pay_answers_lost
        code = created.json()["internalCode"]
        reply = self._pay(http, rng, m, {"brCode": created.json()["brCode"]}, amount, code)
        if _code(reply) == "CHARGE_NOT_PAYABLE" and self.pay_answers_lost > lost_before:
            with self.lock:
                self.charges_paid_unacked.append((m.client_id, created.json()["internalCode"]))

    def _refund(self, http: httpx.Client, rng: random.Random) -> None:
        """A merchant refunds part or all of a payment a charge of its received (now and
        then more than the payment: refused), under a key it sends again until answered."""
        with self.lock:
            paid = [p for p in self.paid if p.charge is not None]
        rejected = [p for p in paid if p.payer in MAGIC_REFUND_PAYERS]
        if not paid:
            return
        # A third of them to a payer whose account rejects it: a short run meets both ends.
        pix = rng.choice(rejected if rejected and rng.random() < 0.3 else paid)
        assert pix.charge is not None
        m = next(m for m in self.merchants if m.client_id == pix.merchant)
        amount = (
            rng.randint(1, pix.amount_centavos) if rng.random() < 0.8 else pix.amount_centavos + 1
        )
        body = {"endToEndId": pix.end_to_end_id, "amount": _amount(amount)}
        reply, tries = self._send(http, f"/cash-in/{pix.charge}/refunds", m, body)
        with self.lock:
            self.resent += tries > 1
            if reply.status_code == 202:
                refund_id = reply.json()["refundId"]
                self.refunds.append(
                    AckedRefund(m.client_id, refund_id, pix.end_to_end_id, amount, pix.payer)
                )
            else:
                self.refused[f"refund {reply.status_code} {_code(reply)}"] += 1

    def _return(self, http: httpx.Client, rng: random.Random) -> None:
        """A payee's bank sends (part of) a cash-out back, once: a return has no key, so
        one whose answer was lost is counted, not sent again."""
        with self.lock:
            sent = [a for a in self.acked[: self.drained] if a.settles]
        if not sent:
            return
        cash_out = rng.choice(sent)
        m = next(m for m in self.merchants if m.client_id == cash_out.merchant)
        amount = rng.randint(1, cash_out.amount_centavos // 2)
        try:
            reply = http.post(
                f"/sandbox/cash-out/{cash_out.internal_code}/return",
                json={"amount": _amount(amount), "reason": rng.choice(["MD06", "BE08"])},
                headers=_headers(m),
            )
        except httpx.ConnectError:  # the API is down: nothing was sent
            return
        except httpx.TransportError:
            reply = None
        with self.lock:
            if reply is None or reply.status_code == 503:
                self.returns_lost[cash_out.internal_code] += amount
                self.return_answers_lost += 1
            elif reply.status_code == 201:
                self.returns.append(AckedReturn(cash_out.internal_code, amount))
            else:  # not COMPLETED (yet), or past the cash-out's amount
                self.refused[f"return {reply.status_code} {_code(reply)}"] += 1

    def _to_report(self, rng: random.Random) -> tuple[AckedPix, int | None] | None:
        """A Pix paid that was not reported yet, taken for a report, and the amount to
        ask: none (all of it), a part, or now and then more than the Pix (refused)."""
        with self.lock:
            fresh = [p for p in self.paid if p.end_to_end_id not in self.reported]
            if not fresh:
                return None
            pix = rng.choice(fresh)
            self.reported.add(pix.end_to_end_id)
        draw = rng.random()
        if draw < 0.4:
            return pix, None
        return pix, pix.amount_centavos + 1 if draw > 0.95 else rng.randint(1, pix.amount_centavos)

    def _report(self, http: httpx.Client, rng: random.Random) -> None:
        """The payer's PSP reports a Pix as fraud, until it gets a definite answer: a Pix
        takes one report, so a report whose answer was lost is refused when sent again,
        naming the one that was made."""
        taken = self._to_report(rng)
        if taken is None:
            return
        pix, amount = taken
        m = next(m for m in self.merchants if m.client_id == pix.merchant)
        body: dict[str, Any] = {"endToEndId": pix.end_to_end_id, "details": "golpe (crash)"}
        if amount is not None:
            body["amount"] = _amount(amount)
        lost = 0
        while True:
            try:
                reply = http.post("/sandbox/med/infractions", json=body, headers=_headers(m))
            except httpx.ConnectError:  # the API is down: nothing was reported
                time.sleep(0.05)
                continue
            except httpx.TransportError:
                reply = None
            if reply is not None and reply.status_code != 503:
                break
            lost += 1
            time.sleep(0.05)
        with self.lock:
            self.report_answers_lost += lost
            made = None
            if reply.status_code == 201:
                made = reply.json()["infractionId"]
            elif lost and reply.status_code == 409 and _code(reply) == "ILLEGAL_TRANSITION":
                made = reply.json()["error"]["details"]["infractionId"]
            if made is None:
                self.refused[f"report {reply.status_code} {_code(reply)}"] += 1
            else:
                asked = pix.amount_centavos if amount is None else amount
                self.reports.append(AckedReport(made, pix, asked))

    def report_overdue(self, rng: random.Random) -> None:
        """A report made 7 days back, its deadline due at once: the worker applies the
        default to it. The loop makes one just before each kill."""
        assert self.med is not None
        taken = self._to_report(rng)
        if taken is None:
            return
        pix, amount = taken
        try:
            made = self.med.report_overdue(pix.end_to_end_id, amount, "golpe (overdue)")
        except ConnectPSPError as error:
            with self.lock:
                self.refused[f"overdue report {error.code}"] += 1
            return
        asked = pix.amount_centavos if amount is None else amount
        with self.lock:
            self.reports.append(AckedReport(made.id, pix, asked, overdue=True))

    def _operate(self, http: httpx.Client, rng: random.Random) -> None:
        """The operator decides a report it has not decided yet with the CLI, accepting
        and rejecting in turn; now and then the newest one whose deadline is due, which
        the worker may have decided already."""
        assert self.med is not None
        with self.lock:
            mine = {d.infraction_id for d in self.decisions}
            undecided = [r for r in self.reports if r.infraction_id not in mine]
            verb = ("accept", "reject")[len(self.decisions) % 2]
        current = [r for r in undecided if not r.overdue]
        if not current:
            time.sleep(0.05)
            return
        # Now and then the newest report due: a worker that is down or starting may not
        # have decided it yet.
        due = [r for r in undecided if r.overdue][-1:]
        report = rng.choice(due if due and rng.random() < 0.2 else current)
        command = [sys.executable, "-m", "connectpsp", "infractions", verb, report.infraction_id]
        command += ["--by", OPERATOR]
        if verb == "reject":
            command += ["--reason", "the payer confirmed the purchase"]
        done = subprocess.run(
            command, env=self.med.cli_env, capture_output=True, text=True, timeout=120
        )
        with self.lock:
            if done.returncode == 0:
                self.decisions.append(OperatorDecision(report.infraction_id, verb, True))
            elif "already" in done.stderr:
                self.decisions.append(OperatorDecision(report.infraction_id, verb, False))
            else:
                self.operator_errors.append(
                    f"{verb} {report.infraction_id}: exit {done.returncode}: {done.stderr[-500:]}"
                )


def _amount(centavos: int) -> str:
    return f"{centavos // 100}.{centavos % 100:02d}"


def _headers(m: Merchant) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {m.token}",
        "ApplicationToken": m.application_token,
        "DigitalSignature": signature_for(m.token, m.crypto_token),
    }


def _code(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


class Processes:
    """The API and the worker as real processes, each killed and started at will."""

    def __init__(
        self, settings: Settings, workdir: Path, port: int, *, med_default: str = "accept"
    ) -> None:
        self.env = process_env(settings, latency_ms=0, lease_seconds=2)
        self.env["CONNECTPSP_MED_DEFAULT"] = med_default
        self.workdir = workdir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self.starts += 1
        log = (self.workdir / f"{args[0]}-{self.starts}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "connectpsp", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def start_api(self) -> None:
        self.api = self._spawn("serve", "--no-worker", "--port", str(self.port))
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.api.poll() is None, "the API process exited"
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.05)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker")

    def kill(self, victim: str) -> None:
        for name in ("api", "worker") if victim == "both" else (victim,):
            proc = getattr(self, name)
            if proc is not None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                setattr(self, name, None)

    def restart_missing(self) -> None:
        if self.worker is None:
            self.start_worker()
        if self.api is None:
            self.start_api()

    def deaths(self) -> list[str]:
        """Processes that exited on their own, with the end of their log."""
        found = []
        for name in ("api", "worker"):
            proc = getattr(self, name)
            if proc is not None and proc.poll() is not None:
                logs = sorted(
                    self.workdir.glob(f"{'serve' if name == 'api' else name}-*.log"),
                    key=lambda path: path.stat().st_mtime,
                )
                tail = logs[-1].read_text()[-2000:] if logs else ""
                found.append(f"the {name} exited with {proc.returncode}: {tail}")
        return found

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _merchants(
    container: Container, base_url: str, count: int, *, receive: bool = False, hook_url: str = ""
) -> list[Merchant]:
    """``count`` funded merchants with tokens; to ``receive``, each also has a document,
    an EVP key, a static code of no amount, and a cash-in fee (0, 0.10, 0.20)."""
    merchants = []
    for n in range(count):
        creds = container.clients.create(
            f"crash-{n}",
            document=MERCHANT_DOCUMENTS[n] if receive else None,
            cash_in_fee_plan=FeePlan(fixed=10 * n),
        )
        remember_secret(
            creds.client_secret, creds.crypto_token, creds.application_token, creds.webhook_secret
        )
        container.clients.fund(creds.client_id, 100_000_000_00)
        reply = httpx.post(
            f"{base_url}/auth/token",
            json={"clientId": creds.client_id, "clientSecret": creds.client_secret},
        )
        assert reply.status_code == 200, reply.text
        token = reply.json()["accessToken"]
        remember_secret(token)
        merchant = Merchant(creds.client_id, token, creds.application_token, creds.crypto_token)
        if receive:
            client = container.clients.get(creds.client_id)
            merchant.document = MERCHANT_DOCUMENTS[n]
            merchant.key = container.pix_keys.register(client, PixKeyType.EVP, None, "crash").key
            static = ChargeRequest(
                ChargeType.STATIC, None, f"crash-static-{n}", webhook_url=hook_url + CHARGE_HOOK
            )
            decided = container.cash_ins.create(client, str(uuid.uuid4()), static)
            assert isinstance(decided.outcome, Accepted), decided
            merchant.static_code = decided.outcome.result.br_code
            merchant.static_internal_code = decided.outcome.result.internal_code
        merchants.append(merchant)
    return merchants


def _problems(container: Container, hook: Receiver, load: Load) -> list[str]:
    """What the database and the receiver say about the acknowledged cash-outs and,
    when the load pays, the acknowledged payments."""
    acked = load.acked
    c = t.cash_outs.c
    codes = [a.internal_code for a in acked]
    with container.db.transaction(write=False) as tx:
        rows = {
            r.internal_code: r
            for r in tx.conn.execute(select(c.id, c.internal_code, c.client_id, c.amount, c.status))
        }
    problems = [
        f"acknowledged {a.internal_code} is lost or changed"
        for a in acked
        if a.internal_code not in rows
        or (rows[a.internal_code].client_id, rows[a.internal_code].amount)
        != (a.merchant, a.amount_centavos)
    ]
    ids = [rows[code].id for code in codes if code in rows]
    problems += settlement_problems(container.db, ids)
    problems += ledger_problems(container.db)
    delivered = {r.json()["data"]["internalCode"] for r in hook.by_path("/hook")}
    problems += [f"{code}: no terminal webhook received" for code in codes if code not in delivered]
    if load.pays:
        problems += _payment_problems(container, load)
        problems += _refund_problems(container, hook, load)
        problems += _return_problems(container, load)
        problems += cash_in_problems(container.db, container.settings.ispb)
    if load.med is not None:
        problems += _med_problems(container, hook, load)
    return problems


def _infraction_events(hook: Receiver) -> dict[str, set[str]]:
    """The infractions' events that reached their charge's webhookUrl, by infraction."""
    events: dict[str, set[str]] = defaultdict(set)
    for r in hook.by_path(CHARGE_HOOK):
        event = r.json()
        if event["eventType"].startswith("INFRACTION_"):
            events[event["data"]["infractionId"]].add(event["eventType"])
    return events


def _med_problems(container: Container, hook: Receiver, load: Load) -> list[str]:
    """Every report stored acknowledged and every acknowledged one stored as asked; each
    decided once, by whom it should be, with its one FR01 refund when accepted; each
    merchant's blocked balance what its blocks hold. (A block in force exactly while its
    report is OPEN, and a refund's reservation, are ``tests.invariants``'.)"""
    assert load.med is not None
    r, sp, msg, b = (
        t.cash_in_refunds.c,
        t.sandbox_spi_payments.c,
        t.webhook_messages.c,
        t.balance_blocks.c,
    )
    with container.db.transaction(write=False) as tx:
        stored = {row.id: row for row in tx.conn.execute(select(t.med_infractions))}
        refunds: dict[str, list[Any]] = defaultdict(list)  # by endToEndId
        for refund in tx.conn.execute(select(r.id, r.end_to_end_id, r.amount, r.reason, r.status)):
            refunds[refund.end_to_end_id].append(refund)
        sent = Counter(p.idempotency_key for p in tx.conn.execute(select(sp.idempotency_key)))
        events: dict[str, Counter[str]] = defaultdict(Counter)
        for message in tx.conn.execute(
            select(msg.subject_id, msg.event_type).where(
                msg.subject_kind == "infraction", msg.shape == "movement"
            )
        ):
            events[message.subject_id][message.event_type] += 1
        held: Counter[str] = Counter()
        for block in tx.conn.execute(select(b.client_id, b.amount).where(b.released_at.is_(None))):
            held[block.client_id] += block.amount
    acked = {a.infraction_id: a for a in load.reports}
    problems = [f"infraction {x} was never acknowledged" for x in stored.keys() - acked.keys()]
    problems += load.operator_errors
    decided_by_operator = {d.infraction_id: d for d in load.decisions if d.decided}
    late = {d.infraction_id for d in load.decisions if not d.decided}
    default = "ACCEPTED" if load.med.default == "accept" else "REJECTED"
    ended = _refunds_ended(hook)
    delivered = _infraction_events(hook)
    for a in load.reports:
        x, e2e = a.infraction_id, a.pix.end_to_end_id
        row = stored.get(x)
        seen = (row.client_id, row.end_to_end_id, row.amount) if row else None
        if seen != (a.pix.merchant, e2e, a.asked):
            problems.append(f"acknowledged infraction {x} is lost or changed: {seen}")
            continue
        assert row is not None
        fraud = [f for f in refunds[e2e] if f.reason == "FRAUD"]
        others = [f for f in refunds[e2e] if f.reason != "FRAUD"]
        # The merchants hold plenty: only a refund of the Pix may leave less to block.
        if row.blocked != row.amount and not others:
            problems.append(f"infraction {x} of {row.amount} blocked {row.blocked}")
        wanted = Counter({"INFRACTION_REPORTED": 1})
        if row.status != "OPEN":
            wanted[f"INFRACTION_{row.status}"] = 1
        if events[x] != wanted:
            problems.append(f"infraction {x} {row.status}: events {dict(events[x])}")
        if a.pix.charge is not None and delivered.get(x, set()) != set(wanted):
            problems.append(f"infraction {x} {row.status}: delivered {delivered.get(x)}")
        # Who decided, and as what.
        mine = decided_by_operator.get(x)
        if mine is not None:
            status = "ACCEPTED" if mine.verb == "accept" else "REJECTED"
            if (row.status, row.decided_by) != (status, OPERATOR):
                problems.append(
                    f"infraction {x}: {mine.verb}ed, is {row.status} by {row.decided_by}"
                )
        elif row.decided_by == "deadline":
            if not a.overdue or row.status != default:
                problems.append(f"infraction {x} {row.status} by the deadline, overdue {a.overdue}")
        elif a.overdue or x in late or row.status != "OPEN":
            problems.append(f"infraction {x} {row.status} by {row.decided_by}")
        # Its refund: one, when accepted with funds blocked; none otherwise.
        if row.status != "ACCEPTED" or row.refund_id is None:
            if fraud or row.refund_id is not None:
                problems.append(f"infraction {x} {row.status}: refunds {fraud}, {row.refund_id}")
            if row.status == "ACCEPTED" and row.blocked and not others:
                problems.append(f"infraction {x} accepted with {row.blocked} blocked, no refund")
            continue
        if [f.id for f in fraud] != [row.refund_id]:
            problems.append(f"infraction {x}: refund {row.refund_id}, FR01 refunds {fraud}")
            continue
        refund = fraud[0]
        status = "FAILED" if a.pix.payer in MAGIC_REFUND_PAYERS else "COMPLETED"
        # All it blocked, unless a refund of the Pix left less to refund.
        if (
            refund.status != status
            or not 0 < refund.amount <= row.blocked
            or (refund.amount != row.blocked and not others)
        ):
            problems.append(f"infraction {x}: refund {refund}, of a payer {a.pix.payer}")
        if sent[derived_id(refund.id, "rail")] != 1:
            problems.append(
                f"FR01 refund {refund.id} sent to SPI {sent[derived_id(refund.id, 'rail')]}x"
            )
        if a.pix.charge is not None and ended.get(refund.id) != refund.status:
            problems.append(
                f"FR01 refund {refund.id} {refund.status}: event {ended.get(refund.id)}"
            )
    with httpx.Client(base_url=load.base_url, timeout=10) as http:
        for m in load.merchants:
            reply = http.get("/balance", headers=_headers(m))
            blocked = (
                int(reply.json(parse_float=Decimal)["blocked"] * 100)
                if reply.status_code == 200
                else None
            )
            if blocked != held[m.client_id]:
                problems.append(
                    f"{m.client_id}: blocked {blocked}, its blocks hold {held[m.client_id]}"
                )
    return problems


def _med_settled(container: Container, hook: Receiver, load: Load) -> bool:
    """No report due is OPEN, and the events of those of charges reached their hook."""
    i = t.med_infractions.c
    with container.db.transaction(write=False) as tx:
        stored = {row.id: row for row in tx.conn.execute(select(i.id, i.status, i.refund_id))}
    delivered, ended = _infraction_events(hook), _refunds_ended(hook)
    for a in load.reports:
        row = stored.get(a.infraction_id)
        if row is None:
            continue  # lost: the checks say so
        if a.overdue and row.status == "OPEN":
            return False
        if a.pix.charge is not None:
            if len(delivered.get(a.infraction_id, ())) < 1 + (row.status != "OPEN"):
                return False
            if row.refund_id is not None and row.refund_id not in ended:
                return False
    return True


def _refunds_ended(hook: Receiver) -> dict[str, str]:
    """The refunds whose terminal event reached their charge's webhookUrl: its status."""
    ended = {}
    for r in hook.by_path(CHARGE_HOOK):
        event = r.json()
        if event["eventType"] in ("REFUND_COMPLETED", "REFUND_FAILED"):
            ended[event["data"]["refundId"]] = event["data"]["status"]
    return ended


def _refund_problems(container: Container, hook: Receiver, load: Load) -> list[str]:
    """Every refund in the database acknowledged and every acknowledged one there, as
    asked; each ended as its payer's account says, sent to SPI as one return, and its
    terminal event delivered. (Its reservation posted or voided once, and what a
    payment's refunds add up to, are ``tests.invariants.cash_in_problems``'s.)"""
    r, sp = t.cash_in_refunds.c, t.sandbox_spi_payments.c
    with container.db.transaction(write=False) as tx:
        stored = {  # the merchants' own: a MED report's (FR01) are _med_problems'
            row.id: row
            for row in tx.conn.execute(
                select(r.id, r.client_id, r.end_to_end_id, r.amount, r.status).where(
                    r.reason != "FRAUD"
                )
            )
        }
        sent = Counter(
            row.idempotency_key
            for row in tx.conn.execute(select(sp.idempotency_key, sp.end_to_end_id))
        )
    problems = []
    acked = {a.refund_id: a for a in load.refunds}
    problems += [f"refund {i} was never acknowledged" for i in stored.keys() - acked.keys()]
    ended = _refunds_ended(hook)
    for a in load.refunds:
        row = stored.get(a.refund_id)
        seen = (row.client_id, row.end_to_end_id, row.amount) if row else None
        if seen != (a.merchant, a.end_to_end_id, a.amount_centavos):
            problems.append(f"acknowledged refund {a.refund_id} is lost or changed: {seen}")
            continue
        assert row is not None
        wanted = "FAILED" if a.payer in MAGIC_REFUND_PAYERS else "COMPLETED"
        if row.status != wanted:
            problems.append(f"refund {a.refund_id} of a payer {a.payer}: {row.status}")
        if sent[derived_id(a.refund_id, "rail")] != 1:
            problems.append(
                f"refund {a.refund_id} sent to SPI {sent[derived_id(a.refund_id, 'rail')]}x"
            )
        if ended.get(a.refund_id) != row.status:
            problems.append(f"refund {a.refund_id} {row.status}: event {ended.get(a.refund_id)}")
    return problems


def _return_problems(container: Container, load: Load) -> list[str]:
    """Each cash-out's returns add up to at least what was acknowledged, and to no more
    than that and the returns whose answer was lost."""
    co, rt = t.cash_outs.c, t.cash_out_returns.c
    with container.db.transaction(write=False) as tx:
        returned: Counter[str] = Counter()
        for row in tx.conn.execute(
            select(co.internal_code, rt.amount).join(t.cash_outs, co.id == rt.cash_out_id)
        ):
            returned[row.internal_code] += row.amount
    acked: Counter[str] = Counter()
    for back in load.returns:
        acked[back.internal_code] += back.amount_centavos
    problems = []
    for code in sorted(set(acked) | set(returned)):
        least, most = acked[code], acked[code] + load.returns_lost[code]
        if not least <= returned[code] <= most:
            problems.append(f"cash-out {code}: {returned[code]} returned, {least} acknowledged")
    return problems


def _payment_problems(container: Container, load: Load) -> list[str]:
    """Each acknowledged endToEndId credited once to its merchant with its amount (the
    cash-ins' key is the endToEndId: once at most); credits nobody acknowledged no more
    than the answers lost; each on-us cash-out COMPLETED credited its receiver."""
    ci, ch, co = t.cash_ins.c, t.charges.c, t.cash_outs.c
    with container.db.transaction(write=False) as tx:
        credited = {
            r.end_to_end_id: r
            for r in tx.conn.execute(
                select(ci.end_to_end_id, ci.client_id, ci.amount, ci.payer_ispb)
            )
        }
        charges = {
            (r.client_id, r.internal_code): r.status
            for r in tx.conn.execute(select(ch.client_id, ch.internal_code, ch.status))
        }
        cash_outs = {
            r.internal_code: r
            for r in tx.conn.execute(select(co.internal_code, co.status, co.end_to_end_id))
        }
    problems = []
    for pix in load.paid:
        row = credited.get(pix.end_to_end_id)
        if row is None or (row.client_id, row.amount) != (pix.merchant, pix.amount_centavos):
            problems.append(f"acknowledged Pix {pix.end_to_end_id} is lost or changed: {row}")
    acknowledged = {pix.end_to_end_id for pix in load.paid}
    unacknowledged = [
        e2e for e2e, r in credited.items() if r.payer_ispb == PAYER_BANK and e2e not in acknowledged
    ]
    if len(unacknowledged) > load.pay_answers_lost:
        problems.append(
            f"{len(unacknowledged)} Pix credited that nobody acknowledged, "
            f"{load.pay_answers_lost} answers lost"
        )
    for merchant, code in load.charges_paid_unacked:
        if charges.get((merchant, code)) != "COMPLETED":
            problems.append(
                f"charge {code} refused as paid, but is {charges.get((merchant, code))}"
            )
    for a in load.acked:
        cash_out = cash_outs.get(a.internal_code)
        if a.receiver is None or cash_out is None or cash_out.status != "COMPLETED":
            continue
        row = credited.get(cash_out.end_to_end_id)
        if row is None or row.client_id != a.receiver:
            problems.append(f"on-us {a.internal_code} COMPLETED, its receiver credited {row}")
    return problems


def _drain(container: Container, hook: Receiver, load: Load, timeout: float) -> None:
    """Wait until every acknowledged cash-out and refund is terminal and its event has
    arrived, and every MED report due is decided, its events arrived."""
    c, r = t.cash_outs.c, t.cash_in_refunds.c
    codes = {a.internal_code for a in load.acked}
    refunds = {a.refund_id for a in load.refunds}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The reports first: a report decided (at its deadline, by a worker) starts its
        # refund in the same transaction, so the refunds read after it include that one.
        # Read before it, a refund started in between was missed (2026-12-06, the long
        # run on PostgreSQL: the checks then found it PROCESSING).
        if load.med is not None and not _med_settled(container, hook, load):
            time.sleep(0.1)
            continue
        with container.db.transaction(write=False) as tx:
            processing = tx.conn.execute(
                select(c.internal_code).where(c.status == "PROCESSING")
            ).all()
            refunding = tx.conn.execute(select(r.id).where(r.status == "PROCESSING")).all()
        delivered = {r.json()["data"]["internalCode"] for r in hook.by_path("/hook")}
        if (
            not any(row.internal_code in codes for row in processing)
            and codes <= delivered
            and not refunding
            and refunds <= _refunds_ended(hook).keys()
        ):
            return
        time.sleep(0.1)


def crash_loop(
    settings: Settings,
    workdir: Path,
    *,
    iterations: int,
    seed: int,
    threads: int = 4,
    pays: bool = True,
    med_default: str = "accept",
) -> Figures:
    """Run ``iterations`` kill-and-restart rounds; returns the figures and violations.
    With ``pays``, the load pays the merchants, sends on-us cash-outs, refunds, returns
    and MED reports too; the worker processes decide overdue reports by ``med_default``."""
    rng = random.Random(seed)
    figures = Figures(med_default=med_default)
    started = time.monotonic()
    container = build(settings, clock=FakeClock())
    # Marked before any process starts: no DICT cache holds an older answer.
    container.sandbox_fraud_markers.add(document=MARKED_PAYER)
    # The payer's PSP of the overdue reports: its clock is a deadline and a second back.
    back = FakeClock()
    back.advance(seconds=-DECISION_DEADLINE.total_seconds() - 1)
    past = build(settings, clock=back) if pays else None
    procs = Processes(settings, workdir, free_port(), med_default=med_default)
    med = Med(procs.env, past.infractions.report, med_default) if past else None
    with receiver() as hook:
        procs.start_worker()
        procs.start_api()
        merchants = _merchants(container, procs.base_url, 3, receive=pays, hook_url=hook.url)
        load = Load(procs.base_url, merchants, hook.url, seed, threads, pays=pays, med=med)
        try:
            for _ in range(iterations):
                load.running.set()
                time.sleep(rng.uniform(0.2, 1.0))
                if load.med is not None:  # its deadline due as the processes die
                    load.report_overdue(rng)
                    time.sleep(rng.uniform(0.0, 0.1))
                victim = rng.choice(VICTIMS)
                procs.kill(victim)
                figures.kills[victim] += 1
                procs.restart_missing()
                load.pause()
                _drain(container, hook, load, timeout=60)
                load.drained = len(load.acked)
                figures.iterations += 1
                problems = procs.deaths() + _problems(container, hook, load)
                if problems:
                    figures.violations += [f"iteration {figures.iterations}: {p}" for p in problems]
                    break
        finally:
            load.close()
            procs.stop()
        figures.acknowledged = len(load.acked)
        figures.resent_after_crash = load.resent
        figures.terminal_events = len(hook.by_path("/hook"))
        figures.pix_acknowledged = len(load.paid)
        figures.pix_answers_lost = load.pay_answers_lost
        figures.on_us_acknowledged = sum(a.receiver is not None for a in load.acked)
        figures.refunds_acknowledged = len(load.refunds)
        figures.returns_acknowledged = len(load.returns)
        figures.return_answers_lost = load.return_answers_lost
        figures.refused = load.refused
        figures.infractions_reported = sum(not a.overdue for a in load.reports)
        figures.infractions_overdue = sum(a.overdue for a in load.reports)
        figures.report_answers_lost = load.report_answers_lost
        figures.operator_decisions = Counter(
            d.verb if d.decided else "too late" for d in load.decisions
        )
        with container.db.transaction(write=False) as tx:
            b, r, i = t.balance_blocks.c, t.cash_in_refunds.c, t.med_infractions.c
            figures.pix_held = tx.conn.execute(
                select(func.count()).select_from(t.balance_blocks).where(b.reason != "MED")
            ).scalar_one()
            figures.refunds = Counter(
                dict(
                    tx.conn.execute(
                        select(r.status, func.count()).where(r.reason != "FRAUD").group_by(r.status)
                    ).all()
                )
            )
            figures.med_refunds = Counter(
                dict(
                    tx.conn.execute(
                        select(r.status, func.count()).where(r.reason == "FRAUD").group_by(r.status)
                    ).all()
                )
            )
            figures.infractions = Counter(
                dict(tx.conn.execute(select(i.status, func.count()).group_by(i.status)).all())
            )
            figures.decided_by = Counter(
                dict(
                    tx.conn.execute(
                        select(i.decided_by, func.count())
                        .where(i.decided_by.is_not(None))
                        .group_by(i.decided_by)
                    ).all()
                )
            )
            overdue = [a.infraction_id for a in load.reports if a.overdue]
            figures.operator_beat_deadline = tx.conn.execute(
                select(func.count())
                .select_from(t.med_infractions)
                .where(i.id.in_(overdue), i.decided_by == OPERATOR)
            ).scalar_one()
            figures.med_blocked = int(
                tx.conn.execute(select(func.coalesce(func.sum(i.blocked), 0))).scalar_one()
            )
    if past is not None:
        past.close()
    container.close()
    figures.seconds = time.monotonic() - started
    return figures


@dataclass
class OutageFigures:
    outages: int = 0
    acknowledged: int = 0
    unavailable: Counter[str] = field(default_factory=Counter)
    probes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


def database_outage(
    cluster: PrivatePostgres, workdir: Path, *, outages: int, seed: int, down_seconds: float = 2
) -> OutageFigures:
    """Stop PostgreSQL (as a crash: ``pg_ctl -m immediate``) in the middle of load,
    ``outages`` times. While it is down, every answer must be a 503 with the
    ``SERVICE_UNAVAILABLE`` code; once it is back, the API and the worker recover on
    their own, and every acknowledged cash-out is settled and delivered."""
    rng = random.Random(seed)
    figures = OutageFigures()
    started = time.monotonic()
    settings = Settings(
        database_url=cluster.url, master_key=MASTER_KEY, var_dir=workdir, sandbox_latency_ms=0
    )
    container = build(settings, clock=FakeClock())
    procs = Processes(settings, workdir, free_port())
    with receiver() as hook:
        procs.start_worker()
        procs.start_api()
        merchants = _merchants(container, procs.base_url, 2)
        load = Load(procs.base_url, merchants, hook.url, seed, threads=4)
        try:
            for _ in range(outages):
                load.running.set()
                time.sleep(rng.uniform(0.3, 1.0))
                cluster.stop("immediate")
                down_until = time.monotonic() + down_seconds
                while time.monotonic() < down_until:
                    figures.probes.update(_probe(procs.base_url, merchants[0]))
                    time.sleep(0.2)
                cluster.start()
                time.sleep(rng.uniform(0.3, 1.0))  # load goes on against the recovered API
                load.pause()
                _drain(container, hook, load, timeout=60)
                figures.outages += 1
                problems = procs.deaths() + _problems(container, hook, load)
                if problems:
                    figures.violations += [f"outage {figures.outages}: {p}" for p in problems]
                    break
        finally:
            load.close()
            procs.stop()
        figures.acknowledged = len(load.acked)
        figures.unavailable = load.unavailable
    container.close()
    figures.seconds = time.monotonic() - started
    return figures


def _probe(base_url: str, m: Merchant) -> list[str]:
    """What the API answers while the database is down, as "status CODE" strings."""
    answers = []
    for method, path in (("GET", "/healthz"), ("GET", "/balance"), ("POST", "/auth/token")):
        reply = httpx.request(
            method,
            base_url + path,
            headers={"Authorization": f"Bearer {m.token}", "ApplicationToken": m.application_token},
            json={"clientId": m.client_id, "clientSecret": "cs_probe"}
            if method == "POST"
            else None,
            timeout=10,
        )
        answers.append(f"{path} {reply.status_code} {_code(reply)}")
    return answers


if __name__ == "__main__":  # a quick manual run: python -m tests.reliability.crashloop
    import tempfile

    from tests.support import database

    with tempfile.TemporaryDirectory() as tmp, database("sqlite", Path(tmp)) as s:
        print(crash_loop(s, Path(tmp), iterations=int(os.environ.get("N", "5")), seed=1))
