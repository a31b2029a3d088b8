"""Bounded runs of the crash loop and the database outage (``make reliability`` runs them
long: ``CONNECTPSP_CRASH_ITERATIONS``, ``CONNECTPSP_OUTAGES``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from connectpsp.settings import Settings
from tests.reliability.crashloop import OPERATOR, crash_loop, database_outage
from tests.reliability.pgcluster import private_postgres

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

ITERATIONS = int(os.environ.get("CONNECTPSP_CRASH_ITERATIONS", "3"))
OUTAGES = int(os.environ.get("CONNECTPSP_OUTAGES", "1"))
SEED = int(os.environ.get("CONNECTPSP_RELIABILITY_SEED", "20261124"))


def test_kill_9_of_api_and_worker_under_load(
    db_settings: Settings, tmp_path: Path, figures: Callable[..., None]
) -> None:
    # The default the worker applies at a MED report's deadline: each database runs one
    # (the CLI's accept and reject run on both).
    med_default = "reject" if db_settings.database_url.startswith("sqlite") else "accept"
    result = crash_loop(
        db_settings, tmp_path, iterations=ITERATIONS, seed=SEED, med_default=med_default
    )
    figures(
        iterations=result.iterations,
        kills=dict(result.kills),
        acknowledged=result.acknowledged,
        resent_after_crash=result.resent_after_crash,
        terminal_events=result.terminal_events,
        pix_acknowledged=result.pix_acknowledged,
        pix_answers_lost=result.pix_answers_lost,
        pix_held=result.pix_held,
        on_us_acknowledged=result.on_us_acknowledged,
        refunds_acknowledged=result.refunds_acknowledged,
        refunds=dict(result.refunds),
        returns_acknowledged=result.returns_acknowledged,
        return_answers_lost=result.return_answers_lost,
        med_default=result.med_default,
        infractions_reported=result.infractions_reported,
        infractions_overdue=result.infractions_overdue,
        report_answers_lost=result.report_answers_lost,
        infractions=dict(result.infractions),
        infractions_accepted=result.infractions["ACCEPTED"],
        infractions_rejected=result.infractions["REJECTED"],
        decided_by=dict(result.decided_by),
        operator_decisions=dict(result.operator_decisions),
        operator_beat_deadline=result.operator_beat_deadline,
        med_blocked_centavos=result.med_blocked,
        med_refunds=dict(result.med_refunds),
        med_refunds_sent=sum(result.med_refunds.values()),
        refused=dict(result.refused),
        violations=len(result.violations),
        seconds=round(result.seconds),
    )
    assert result.violations == []
    assert result.iterations == ITERATIONS
    assert result.acknowledged > 0
    assert result.terminal_events >= result.acknowledged
    # The load paid the merchants too, and sent on-us cash-outs, through the kills.
    assert result.pix_acknowledged > 0 and result.on_us_acknowledged > 0
    # Refunds were acknowledged (each ended as its payer says: checked with the
    # violations), and payees' banks sent cash-outs back. A bounded run may meet no
    # rejected refund: the figures show how many ended each way.
    assert result.refunds_acknowledged > 0 and result.refunds["COMPLETED"] > 0, result.refunds
    assert result.returns_acknowledged > 0
    # MED: reports were acknowledged and blocked money; the deadline decided the overdue
    # ones by the default, and the operator's CLI decided others (each decided once, with
    # its one FR01 refund when accepted: checked with the violations).
    assert result.infractions_reported > 0 and result.med_blocked > 0
    assert result.infractions_overdue > 0 and result.decided_by["deadline"] > 0
    assert result.decided_by[OPERATOR] > 0, result.operator_decisions


def test_database_outage_under_load(tmp_path: Path, figures: Callable[..., None]) -> None:
    with private_postgres() as cluster:
        result = database_outage(cluster, tmp_path, outages=OUTAGES, seed=SEED)
    figures(
        outages=result.outages,
        acknowledged=result.acknowledged,
        answers_while_down=dict(result.probes),
        retried_503s=dict(result.unavailable),
        violations=len(result.violations),
        seconds=round(result.seconds),
    )
    assert result.violations == []
    assert result.outages == OUTAGES
    assert result.acknowledged > 0
    # While the database is down, every answer is a 503 with the documented code.
    assert result.probes and {a.split(" ", 1)[1] for a in result.probes} == {
        "503 SERVICE_UNAVAILABLE"
    }
    assert set(result.unavailable) <= {"SERVICE_UNAVAILABLE"}
