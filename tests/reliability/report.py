"""``make reliability``: the reliability and security suite, run long, on SQLite and on
PostgreSQL; writes ``docs/reliability.md`` with each test, what it checks, and the
figures of this run. The same tests run bounded in ``make test``.

The bounds come from the environment, so any of them can be raised or lowered:
``CONNECTPSP_CRASH_ITERATIONS`` (per database), ``CONNECTPSP_OUTAGES``,
``CONNECTPSP_MODEL_EXAMPLES`` (per database), ``CONNECTPSP_FUZZ_EXAMPLES``,
``CONNECTPSP_HOSTILE_INPUTS`` (per database)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectpsp.domain.money import format_brl
from connectpsp.settings import Settings
from tests.conftest import FIGURES_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
LONG = {
    "CONNECTPSP_CRASH_ITERATIONS": "100",  # x 2 databases
    "CONNECTPSP_OUTAGES": "10",
    # ~2.5 s an example on SQLite, ~4 s on PostgreSQL since refunds: about an hour in all.
    "CONNECTPSP_MODEL_EXAMPLES": "300",  # x 2 databases
    "CONNECTPSP_FUZZ_EXAMPLES": "100",
    "CONNECTPSP_HOSTILE_INPUTS": "20000",  # x 2 databases
}
TESTS = [
    "tests/reliability",  # test_hostile_run.py among them
    "tests/e2e/test_worker_processes.py",
    "tests/e2e/test_contract_fuzzing.py",
    "tests/e2e/test_auth.py",
    "tests/e2e/test_concurrency.py",
    "tests/e2e/test_hostile_input.py",
    "tests/e2e/test_token_throttle.py",
    "tests/e2e/test_slow_clients.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests/e2e").glob("test_tenancy*.py")),
]
# What each test checks, by test function.
CHECKS = {
    "test_the_service_behaves_like_the_model": (
        "Hypothesis drives the real services through cash-outs (valid, invalid, retried "
        "with the same key, in bursts, to several payees), funding, fraud markers put on "
        "and taken off payees, each client's own limits (per minute, per hour, new payee, "
        "night window; drawn and changed mid-run), the clock moving by seconds to hours and "
        "past midnight, settlement with every SPI outcome, worker crashes and restarts, and "
        "reads; every reply is compared with a pure-Python model that works out each window "
        "itself, down to the rule that refused. Invariants after every step: the ledger sums "
        "to zero, no negative balance, reserved = sum of pending cash-outs; after each "
        "example, everything terminal once drained and each client's risk tallies equal "
        "to its recorded decisions. Cash-in too: charges created (dynamic and static, with "
        "and without an amount), paid by the sandbox payer with the right amount, another "
        "or none, twice, after cancelling or expiring; Pix to a client's key, some from a "
        "payer DICT marks for fraud (held, then released by the operator or after 72 hours); "
        "a Pix brought again under its endToEndId (credited once); on-us cash-outs from one "
        "client to the other's key or static code (settled inside the ledger by the worker, "
        "or rejected by the receiver into a cancelled charge); payees' banks sending settled "
        "cash-outs back in parts (credited up to the cash-out's amount, refused past it, a "
        "return brought again credited once); clients refunding their charges' payments, "
        "one to three at once (in parts, all, past what is left, past the available balance, "
        "past the 90 days to the second, without naming one of several payments, retried "
        "under their key and with another amount under it), to payers whose account "
        "rejects the refund or whose answer is lost, or on-us back to the other client's "
        "cash-out; the worker sends them (and may die holding them), and the model posts "
        "each reservation or gives it back; MED: fraud reports against those payments "
        "(all, part, past the payment, twice; a held Pix's hold taken over) that block the "
        "least of the amount, the available balance and what is left to refund, decided by "
        "the operator (accepted: an FR01 refund reserved from the block; rejected: "
        "released; twice or without a reason: refused) or by the worker's default at the "
        "7-day deadline, drawn per example. Each answer, balance, blocked "
        "amount and charge status is the model's; after each example, every cash-in has "
        "exactly its credit and fee transfers, a dynamic charge is paid at most once and "
        "COMPLETED iff paid, an on-us cash-out COMPLETED credited its receiver and a FAILED "
        "one did not, every block holds its cash-in's net amount, and money is conserved: "
        "each account (world, settlement, fees, each client with its blocked money) holds "
        "what the funding, the completed cash-outs and the cash-ins say."
    ),
    "test_kill_9_of_api_and_worker_under_load": (
        "Real API and worker processes are killed with SIGKILL at random moments while "
        "4 threads send cash-outs over HTTP (retrying lost answers with the same key). "
        "After each iteration, against the client's log of 202s: none lost, none paid "
        "twice at the rail, all terminal, ledger balanced, every terminal webhook delivered. "
        "The same threads pay the merchants through POST /sandbox/pix/pay (keys, static "
        "codes, dynamic codes they create; some from a payer marked for fraud, held) and "
        "send on-us cash-outs between them: each endToEndId acknowledged (201) is credited "
        "once to its merchant with its amount, credits nobody acknowledged are no more than "
        "the payments whose answer was lost (a lost payment sent again is a new one), an "
        "on-us cash-out COMPLETED credited its receiver once and a FAILED one did not, and "
        "money is conserved across cash-in, cash-out and fees. The merchants refund their "
        "charges' payments (POST /cash-in/{internalCode}/refunds, retried under its key) "
        "and payees' banks send settled cash-outs back (POST /sandbox/cash-out/"
        "{internalCode}/return): every refund stored was acknowledged and every one "
        "acknowledged is stored as asked, ended COMPLETED, or FAILED exactly when its payer's "
        "account rejects refunds, went to SPI as one return, had its reservation posted or "
        "voided once and its terminal event delivered; each cash-out's returns add up to "
        "what was acknowledged, plus at most the returns whose answer was lost. Payers' "
        "PSPs report received Pix as fraud (MED: POST /sandbox/med/infractions, blocking "
        "the funds at once; sent again after a lost answer, refused naming the report made) "
        "and an operator decides reports with the CLI (connectpsp infractions accept|reject, "
        "a process of its own) during the kills; the processes run on real time, so a "
        "report made just before each kill by the loop's own service with its clock 7 days "
        "back (its deadline due at once) is decided by the killed and restarted worker "
        "processes' CONNECTPSP_MED_DEFAULT (reject on SQLite, accept on PostgreSQL): every report "
        "stored was acknowledged and every one acknowledged is stored as asked, blocking all "
        "of it unless a refund of the Pix came first; each was decided once (one decision "
        "event), by the operator when its CLI said so and by the deadline only when due, as "
        "the default says; its block was in force exactly until the decision; an accepted "
        "one's FR01 refund exists once, within what was blocked, ended as its payer's account "
        "says, went to SPI as one return and its events were delivered; no rejected or open "
        "report has a refund; each merchant's blocked balance (GET /balance) is what its "
        "active blocks hold, never negative, and money is conserved."
    ),
    "test_database_outage_under_load": (
        "A private PostgreSQL is stopped (immediate mode) and restarted in the middle of "
        "load. While it is down every answer is 503 SERVICE_UNAVAILABLE; the API and the "
        "worker recover on their own, and no acknowledged cash-out is lost."
    ),
    "test_kill_9_at_random_moments": (
        "A worker process is killed at random points over 600 cash-outs and restarted: "
        "each cash-out terminal once, the rail asked once, the ledger holds."
    ),
    "test_two_workers_share_one_postgres": (
        "Two worker processes on one PostgreSQL settle 500 cash-outs; no job is taken twice."
    ),
    "test_schemathesis_finds_nothing": (
        "Schemathesis against /openapi.json with valid credentials and signatures, positive "
        "and negative modes, stateful links: no 5xx, no schema violation."
    ),
    "test_hostile_inputs_get_no_5xx": (
        "Generated attacker input against every route of /openapi.json and unknown paths "
        "and methods, from a valid merchant's request: 10 MB bodies (declared and streamed), "
        "10,000-deep nesting, NaN/Infinity/1e309/5,000-digit numbers, control, bidi and "
        "separator characters, lone surrogates, invalid UTF-8, duplicate and unknown fields, "
        "truncated JSON, wrong types, every header malformed (httpx and raw sockets), "
        "hostile path and query parameters, broken request lines, mid-body hang-ups, seeded "
        "byte mutations. No 5xx, every error in the error shape, nothing hostile accepted, "
        "accepted cash-outs are what was sent, balance and ledger agree, no unhandled_error "
        "or 5xx in the server's log."
    ),
    "test_a_client_that_hangs_up_mid_body_is_logged_as_499_without_a_trace": (
        "A head promising 100 bytes, 10 of them, a closed socket: logged as "
        "client_disconnected at INFO and 499, never an unhandled error with a trace."
    ),
    "test_a_request_the_http_parser_refuses_is_a_400_in_the_error_shape": (
        "Requests the HTTP parser refuses (NUL in a header, folding, a broken method, a URL "
        "over 64 KiB) get 400 HTTP_ERROR in the error shape, not uvicorn's plain text."
    ),
    "test_a_header_sent_twice_is_refused_not_chosen": (
        "Authorization, ApplicationToken, DigitalSignature, X-Idempotency-Key or "
        "Content-Type sent twice is refused as that header's error; nothing is accepted."
    ),
    "test_a_webhook_url_with_a_bad_port_or_host_is_a_validation_error": (
        "Webhook URLs urlsplit cannot read (a bad port, an unclosed IPv6 bracket) are 400 "
        "naming the field, on POST /webhooks and a cash-out's webhookUrl; never a 500."
    ),
    "test_an_attacker_never_locks_the_client_out": (
        "Failed token requests for a client's id from an attacker's address: the attacker "
        "gets 429, the client still gets its token from its own address."
    ),
    "test_a_spraying_address_is_limited_but_not_its_known_clients": (
        "An address spraying clientIds is refused after its limit; clients that got a token "
        "from it recently still do."
    ),
    "test_any_client_id_is_counted_never_a_500": (
        "Any clientId (long, non-ASCII, NUL) is counted by the throttle or refused as text, "
        "never a 500."
    ),
    "test_the_limits_hold_across_two_api_processes": (
        "Two real API processes on one database reach the token limits together."
    ),
    "test_slow_and_idle_connections_are_closed_while_others_are_served": (
        "Hundreds of idle, half-sent and trickling connections are closed at their deadline "
        "(408 for part of a request) while real requests are answered promptly."
    ),
    "test_a_request_being_answered_is_never_cut": (
        "An app slower than every deadline still answers: the deadlines are on the client."
    ),
}
# What the tests of a module check, for those without a line of their own above.
MODULE_CHECKS = {
    "tests/reliability/test_model.py": (
        "The model's edge cases, through its own rules on both databases: the daily limit "
        "starts again at midnight in São Paulo; under each of a client's own limits the "
        "last allowed cash-out passes and the next is refused, a decision at the first "
        "instant of an hour or night window counts in it, a minute-old one no longer does; "
        "refusals count per minute; a marked payee is refused until its last marker is off; "
        "a marked payer's Pix is held until the operator or time releases it; a charge takes "
        "its amount until paid, cancelled or expired; an on-us cash-out credits its receiver "
        "or fails with the money back; a refund reserves its amount until SPI answers "
        "(refused past what is left, past the balance, 90 days and a second after the "
        "payment), a rejected one comes back, and an on-us one returns to the payer."
    ),
    "tests/e2e/test_hostile_input.py": (
        "A targeted hostile input (nesting, text rule, media type, duplicate fields, huge "
        "numbers, malformed headers, path and query patterns, idempotency collisions) is "
        "refused with a clear 4xx naming the field, on both databases; never a 5xx."
    ),
    "tests/e2e/test_token_throttle.py": (
        "The token throttle slows the failing address, never the named client."
    ),
    "tests/e2e/test_slow_clients.py": "Slow clients' deadlines and their settings.",
}
DEFAULT_CHECK = "Forged, expired or cross-client requests are refused; concurrency holds."

# The token endpoint's throttle, rendered into every report with the figures of
# ``Settings()``'s defaults (so that the text never drifts from the code).
THROTTLE_POLICY = """\
## Failed token requests: the throttle

`POST /auth/token` counts failed attempts so that nobody can make us run argon2 without
end, nor probe clientIds quickly. Client secrets are 256-bit random values the PSP
generates, so no rate of guessing finds one: the limits protect the server's CPU (each
verification is argon2id at 64 MiB, t=3, tens to hundreds of milliseconds), and they
must never let a stranger deny service to a client. So nothing is keyed by clientId
alone: a limit slows the address that fails, never the client that is named.

| figure | default | setting |
|---|---|---|
| failures of one clientId from one source | {per_client} | `CONNECTPSP_TOKEN_FAILURES_PER_CLIENT` |
| failures from one source, whatever the clientIds | {per_ip} | `CONNECTPSP_TOKEN_FAILURES_PER_IP` |
| window (sliding) | {window} s | |
| known source: a success keeps a (clientId, source) pair past its source's limit for \
| {known} h | `CONNECTPSP_TOKEN_KNOWN_SOURCE_HOURS` |

A *source* is an IPv4 address or an IPv6 /64 (one IPv6 host usually holds a whole /64;
counting its addresses one by one would limit nothing). Behind a reverse proxy, the
address is the one the proxy reports in `X-Forwarded-For`, which uvicorn trusts only from
`FORWARDED_ALLOW_IPS` (default `127.0.0.1,::1`): set it to the proxy's address, or every
client shares the proxy's one source.

What each party sees:

| who | sees |
|---|---|
| an attacker trying a client's clientId from its own address | {per_client} \u00d7 \
`401 INVALID_CREDENTIALS`, then `429 RATE_LIMITED` before any argon2 work, with \
`Retry-After` = the seconds until its oldest counted failure is {window} s old; then one \
more try per failure that ages out. Renewing the attack renews only its own refusal. |
| that client, from its own address, meanwhile | its token, every time |
| an address spraying clientIds | {per_ip} \u00d7 `401`, then `429` for every clientId that is \
not a known source there |
| a client behind the sprayer's NAT that got a token from there in the last {known} h | \
its token, as usual (its own failures there still count under its pair's limit of \
{per_client}) |
| a client that never got a token from the sprayer's address | `429` from there until the \
sprayer's failures age out (at most {window} s after the sprayer stops); its token from \
any other address |
| anyone, while the database is down | `503 SERVICE_UNAVAILABLE` with `Retry-After: 1`, \
never a 500 |

A success from a pair clears that pair's failures and makes it a known source. The one
case the throttle cannot tell apart is an attacker *sharing the client's own address*
(the same NAT or egress): it can keep that one (clientId, address) pair refused, as
only the secret tells the two apart and checking it is the work the limit withholds.
Attacks from many addresses are limited per address only: a global cap would let them
deny every client. That is the job of a network-level limiter in front.

Across processes: each failure is a row in `auth_failures` (one for its pair, one for
its source), written in a short transaction of its own, and a check counts a key's rows
in the window with one indexed query, so the limits hold for several API processes on
one PostgreSQL (or one SQLite file). A row per failure rather than a counter per fixed
window: the window slides exactly (no double burst at a window's edge), `Retry-After`
is the moment the count falls back under the limit, and concurrent failures only insert,
never waiting on one hot row. Rows are written only for attempts that reached argon2,
so the table grows no faster than verification can run; known sources are one row per
pair in `auth_known_sources`; the worker prunes both every minute. A refusal read from
the database is remembered in that process until it lapses, so an address hammering
after its limit costs no query (a sprayer, one per attempt: is this clientId a known
source there?); nothing can lift a refusal early in another process
(a refused pair is verified nowhere), so the memory never lets through what the
database would refuse. Requests checked at the same moment, before the first of their
failures is written, are each verified: at most as many as the API runs at once (its
40 request threads per process).

Tests: `tests/e2e/test_token_throttle.py` (requests from several loopback addresses on
SQLite and PostgreSQL: the client gets its token from its own address during an
attack; a spraying address is refused but its known clients are not; `Retry-After` and
the lift after the window; any clientId is counted, never a 500; two real
`connectpsp serve --no-worker` processes on one database reach the limits together),
`tests/e2e/test_auth.py::test_repeated_failures_are_rate_limited` (both scopes),
`tests/unit/test_token_throttle.py` (the policy against an in-memory store and a
frozen clock) and `tests/integration/test_throttle_store.py` (the SQL store and the
worker's prune).
"""


def throttle_policy(settings: Settings) -> str:
    return THROTTLE_POLICY.format(
        per_client=settings.token_failures_per_client,
        per_ip=settings.token_failures_per_ip,
        window=settings.token_failure_window_seconds,
        known=settings.token_known_source_hours,
    )


def run(report: Path | None = None) -> int:
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="connectpsp-reliability-") as tmp:
        env = {**os.environ, **LONG, FIGURES_VARIABLE: tmp}
        env.update({k: os.environ[k] for k in LONG if k in os.environ})
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q"]
        command += ["-p", "no:cacheprovider", f"--junitxml={junit}", *TESTS]
        status = subprocess.call(command, cwd=ROOT, env=env)
        results = _results(junit)
        figures = {
            data.pop("test"): data
            for data in (json.loads(p.read_text()) for p in Path(tmp).glob("*.json"))
        }
    text = _render(started, datetime.now(UTC), status, results, figures, env)
    (report or ROOT / "docs" / "reliability.md").write_text(text)
    print(f"wrote {report or 'docs/reliability.md'}; pytest exit status {status}")
    return status


def _results(junit: Path) -> list[tuple[str, str, float]]:
    """(test id, outcome, seconds) for every test case pytest ran."""
    if not junit.exists():
        return []
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "FAILED"
            elif child.tag == "skipped":
                outcome = "skipped"
        module = case.get("classname", "").replace(".", "/") + ".py"
        rows.append((f"{module}::{case.get('name')}", outcome, float(case.get("time", 0))))
    return rows


def _render(
    started: datetime,
    finished: datetime,
    status: int,
    results: list[tuple[str, str, float]],
    figures: dict[str, dict[str, Any]],
    env: dict[str, str],
) -> str:
    failed = [r for r in results if r[1] != "passed"]
    bounds = ", ".join(f"`{k}={env[k]}`" for k in LONG)
    lines = [
        "# Reliability and security suite",
        "",
        "Written by `make reliability` (`python -m tests.reliability.report`); the same tests",
        "run bounded in `make test`. Do not edit by hand: run it again.",
        "",
        f"- **Last run:** {started:%Y-%m-%d %H:%M} UTC, {(finished - started).seconds // 60} min,",
        f"  on {os.cpu_count()} cores, Python {platform.python_version()}.",
        f"- **Bounds:** {bounds}.",
        f"- **Result:** {len(results) - len(failed)} of {len(results)} tests passed"
        f" (pytest exit status {status}).",
        "",
        "## Headline figures",
        "",
        *_headline(results, figures),
        "",
        "## Each test",
        "",
        "| test | what it checks | result | seconds | figures |",
        "|---|---|---|---|---|",
    ]
    for test_id, outcome, seconds in results:
        function = test_id.split("::")[-1].split("[")[0]
        found = figures.get(test_id, {})
        shown = "; ".join(f"{k}: {_short(v)}" for k, v in found.items() if k != "summary")
        module = test_id.split("::")[0]
        check = CHECKS.get(function) or MODULE_CHECKS.get(module, DEFAULT_CHECK)
        lines.append(f"| `{test_id}` | {check} | {outcome} | {seconds:.0f} | {shown} |")
    log_gate = figures.get("log gate", {})
    lines += [
        "",
        "## Logs",
        "",
        f"Every log line the run wrote ({log_gate.get('log_lines', '?')}) was scanned for "
        "tokens, secrets, signatures and unmasked CPF/CNPJ: "
        f"{log_gate.get('problems', '?')} found.",
        "",
        throttle_policy(Settings()),
    ]
    return "\n".join(lines)


def _headline(
    results: list[tuple[str, str, float]], figures: dict[str, dict[str, Any]]
) -> list[str]:
    def total(function: str, key: str) -> int:
        return sum(
            int(v.get(key, 0)) for k, v in figures.items() if k.split("::")[-1].startswith(function)
        )

    def failures(prefix: str) -> int:
        return sum(1 for t, o, _ in results if o != "passed" and prefix in t)

    crash = "test_kill_9_of_api_and_worker_under_load"
    hostile = "test_hostile_inputs_get_no_5xx"
    return [
        f"- Crash iterations: {total(crash, 'iterations')}, invariant violations: "
        f"{total(crash, 'violations') + failures(crash)}"
        f" ({total(crash, 'acknowledged')} acknowledged cash-outs, "
        f"{total(crash, 'on_us_acknowledged')} of them on-us; "
        f"{total(crash, 'pix_acknowledged')} acknowledged Pix received, "
        f"{total(crash, 'pix_held')} held, {total(crash, 'pix_answers_lost')} answers lost; "
        f"{total(crash, 'refunds_acknowledged')} acknowledged refunds, "
        f"{total(crash, 'returns_acknowledged')} acknowledged returns of cash-outs; "
        f"{total(crash, 'infractions_reported') + total(crash, 'infractions_overdue')} MED "
        f"reports, {total(crash, 'infractions_overdue')} of them left to the deadline, "
        f"{format_brl(total(crash, 'med_blocked_centavos'))} blocked, "
        f"{total(crash, 'infractions_accepted')} accepted and "
        f"{total(crash, 'infractions_rejected')} rejected, "
        f"{total(crash, 'med_refunds_sent')} FR01 refunds).",
        f"- Database outages: {total('test_database_outage', 'outages')}, acknowledged "
        f"cash-outs lost: {total('test_database_outage', 'violations')}.",
        f"- Model examples: {total('test_the_service_behaves_like_the_model', 'examples')}, "
        f"mismatches: {failures('test_model')} "
        f"({total('test_the_service_behaves_like_the_model', 'cash_in')} Pix received, "
        f"{total('test_the_service_behaves_like_the_model', 'on-us COMPLETED')} on-us "
        "cash-outs settled, "
        f"{total('test_the_service_behaves_like_the_model', 'refund COMPLETED')} refunds "
        f"completed and {total('test_the_service_behaves_like_the_model', 'refund FAILED')} "
        f"failed, {total('test_the_service_behaves_like_the_model', 'infraction reported')} "
        "MED reports).",
        f"- Schemathesis failures: {failures('test_contract_fuzzing')}.",
        f"- Hostile inputs: {total(hostile, 'inputs')} tried, "
        f"{total(hostile, 'server_errors')} answered 5xx.",
        f"- Forged or cross-client requests accepted: "
        f"{failures('test_auth') + failures('test_tenancy')}.",
        f"- Secrets in logs: {figures.get('log gate', {}).get('problems', '?')}.",
    ]


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text.replace("|", "/")


if __name__ == "__main__":
    sys.exit(run())
