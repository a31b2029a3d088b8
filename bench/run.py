"""The phases of a run, for one database.

1. The raw-SQL baselines, on a scratch copy of the schema, while nothing else runs: the
   server's writes, and issue 19's minimal ones (``bench.rawjobs``).
2. The server alone (``serve --no-worker``): the HTTP ceiling, cash-outs at saturation
   (closed loop), then latency at fixed fractions of that saturation (open loop). The
   settlement worker is left out here so that the figures are the API's, not the API's
   minus whatever CPU settlement happened to take; it is measured next.
   Then the rows that load servers or clients in turn (``bench.turns``): the fraud checks
   on, the client's rules off and every check off (``bench.unchecked``); metrics off and on;
   bulk payouts (``bench.batches``: their raw-SQL baseline, the accept rate of
   ``POST /cash-out/batch``, and a batch's whole path with a worker of its own).
3. The server with its worker (``serve``): the whole path's saturation (webhooks arriving
   per second under a closed loop), end-to-end latency to a webhook receiver at a
   fraction of it, then the dispatcher's rate, on deliveries re-armed in one statement
   so that settlement is not part of that figure.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.bootstrap import build

from .batches import batch_phase
from .config import Config
from .fixtures import create_merchants, login, scratch_database
from .growth import growth_phase
from .latency import latency_row
from .phase import Context, errors, load, rate, ratio, raw_errors, raw_load
from .rawjobs import ISSUE_19_THREADS, MINIMAL, SERVER
from .rawsql import prepare
from .receiver import Receiver
from .report import Row
from .scale import processes_phase
from .server import Server
from .stats import fmt_rate, percentiles_ms
from .turns import checks_phase, metrics_phase

__all__ = ["bench_database"]


_RAW_CASES = ("hot account", "1,000 accounts")


def _raw_phase(ctx: Context) -> dict[tuple[str, str], float]:
    """Raw-SQL transactions/s of each job, on one hot account and across all accounts:
    the server's writes from ``BENCH_CONCURRENCY`` connections, issue 19's minimal ones
    from 16 (its "16 Python threads"). Keyed by (job name, case)."""
    cfg = ctx.config
    rates = {}
    with scratch_database(ctx.kind, ctx.tmp, "raw", cfg.pg_url) as settings:
        accounts, settlement_id, fees_id = prepare(
            settings.database_url, settings.database_schema, cfg.clients
        )
        for job, threads in ((SERVER, cfg.concurrency), (MINIMAL, ISSUE_19_THREADS)):
            for label, chosen in zip(_RAW_CASES, (accounts[:1], accounts), strict=True):
                result, procs = raw_load(
                    ctx, settings, chosen, (settlement_id, fees_id), job=job.name, threads=threads
                )
                rates[(job.name, label)] = found = result.commits / cfg.seconds
                notes = (
                    f"{threads} threads in {procs} process(es); "
                    f"p50 / p99 / p99.9 {percentiles_ms(result.latencies_us)}" + raw_errors(result)
                )
                ctx.add(f"{_RAW_NAMES[job.name]}, {label}: transactions/s", fmt_rate(found), notes)
    return rates


# The rows' names: "raw SQL" alone is the server's job, as it always was.
_RAW_NAMES = {SERVER.name: "raw SQL", MINIMAL.name: "raw SQL, issue 19's minimal statements"}


def _against_raw(found: float, raw: dict[tuple[str, str], float], case: str) -> str:
    """``found`` as a ratio to each raw-SQL job of the same case."""
    return (
        f"{ratio(found, raw[(SERVER.name, case)])} raw SQL (the same writes), "
        f"{ratio(found, raw[(MINIMAL.name, case)])} raw SQL (issue 19's minimal)"
    )


def bench_database(
    kind: str,
    config: Config,
    pool: ProcessPoolExecutor,
    tmp: Path,
    say: Callable[[str], None],
) -> list[Row]:
    """Every measurement on one database (``"sqlite"`` or ``"postgres"``)."""
    ctx = Context(kind, config, pool, tmp, [], say)
    say(f"[{kind}] raw SQL baselines")
    raw = _raw_phase(ctx)
    api_rss, saturation = _api_phases(ctx, raw)
    say(f"[{kind}] fraud checks: every check on, the client's rules off, every check off")
    checks_phase(ctx)
    say(f"[{kind}] metrics off and on")
    metrics_phase(ctx)
    say(f"[{kind}] one API process and two")
    processes_phase(ctx, lambda found, case: _against_raw(found, raw, case))
    batch_phase(ctx)
    full_rss = _pipeline_phases(ctx, saturation, raw)
    ctx.add("peak RSS, server without worker", f"{api_rss:.0f} MiB", "VmHWM")
    ctx.add("peak RSS, server with worker", f"{full_rss:.0f} MiB", "VmHWM")
    growth_phase(ctx)
    return ctx.rows


def _api_phases(ctx: Context, raw: dict[tuple[str, str], float]) -> tuple[float, float]:
    """The server without its worker: ceiling, saturation and latency rows. Returns the
    server's peak RSS and the hot client's saturation rate."""
    kind, cfg = ctx.kind, ctx.config
    with scratch_database(kind, ctx.tmp, "api", cfg.pg_url) as settings:
        ctx.say(f"[{kind}] creating {cfg.clients + 1} merchants")
        container = build(settings)
        hot, *many = create_merchants(container, cfg.clients + 1, fee=cfg.fee_centavos)
        container.close()
        with Server(settings, worker=False, log=ctx.tmp / "api.log") as api:
            hot_callers = login(api.base_url, [hot])
            many_callers = login(api.base_url, many)
            ctx.say(f"[{kind}] server without worker on port {api.port}")
            ceiling = load(ctx, api.port, "healthz")
            ceiling_rate = rate(ceiling, cfg.seconds)
            ctx.add(
                "HTTP ceiling: GET /healthz, closed loop",
                f"{fmt_rate(ceiling_rate)} req/s",
                f"includes SELECT 1; p50 / p99 / p99.9 {percentiles_ms(ceiling.latencies_us)} "
                + errors(ceiling),
            )
            scenarios = (
                ("hot client", hot_callers, "hot account"),
                ("1,000 clients", many_callers, "1,000 accounts"),
            )
            saturation = {}
            for label, callers, case in scenarios:
                found = load(ctx, api.port, "cash_out", callers)
                saturation[label] = accepted = rate(found, cfg.seconds)
                ctx.add(
                    f"cash-outs/s at saturation, {label}",
                    fmt_rate(accepted),
                    f"{_against_raw(accepted, raw, case)}, "
                    f"{ratio(accepted, ceiling_rate)} HTTP ceiling; "
                    f"closed-loop p50 / p99 / p99.9 {percentiles_ms(found.latencies_us)} "
                    + errors(found),
                )
            for label, callers, _ in scenarios:
                for level in cfg.latency_levels:
                    latency_row(ctx, api.port, label, callers, saturation[label], level)
    return api.peak_rss_mib, saturation["hot client"]


def _pipeline_phases(ctx: Context, saturation: float, raw: dict[tuple[str, str], float]) -> float:
    """The server with its worker, on a fresh database (the API phases left thousands of
    unsettled cash-outs that would sit in front of ours): the whole path's saturation,
    end-to-end latency at a fraction of it, then the dispatcher's rate. Returns the
    server's peak RSS.

    The end-to-end rate is a fraction of what the whole path (accept, settle, deliver)
    sustains, not of the API's saturation: the worker shares the server's process, so
    offering the API's rate would measure a backlog growing, not a latency."""
    kind, cfg = ctx.kind, ctx.config
    with scratch_database(kind, ctx.tmp, "pipeline", cfg.pg_url) as settings:
        container = build(settings)
        [hot] = create_merchants(container, 1, fee=cfg.fee_centavos)
        container.close()
        with (
            Receiver() as receiver,
            Server(settings, worker=True, log=ctx.tmp / "full.log") as full,
        ):
            ctx.say(f"[{kind}] server with worker on port {full.port}")
            hot_callers = login(full.base_url, [hot])
            closed = load(ctx, full.port, "cash_out", hot_callers, webhook_url=receiver.url)
            since, until = closed.window
            backlog = receiver.wait_for(closed.accepted, cfg.drain_seconds * 4)
            arrived = sum(1 for due, us in backlog.e2e if since <= due + us / 1e6 < until)
            pipeline = arrived / (until - since)
            accepted = rate(closed, cfg.seconds)
            # Issue 19: the accept rate with the worker against the raw SQL (point 1) and
            # against the API alone (point 2: the worker may cost it at most 20%), and the
            # whole path against that accept rate (at least 0.9x).
            ctx.add(
                "whole path at saturation, hot client: webhooks/s",
                fmt_rate(pipeline),
                f"closed loop, server with worker; {ratio(pipeline, accepted)} the accept "
                f"rate meanwhile, {fmt_rate(accepted)}/s, which is "
                f"{ratio(accepted, saturation)} the API's saturation without worker and "
                f"{_against_raw(accepted, raw, 'hot account')}; "
                f"{backlog.count} of {closed.accepted} webhooks arrived " + errors(closed),
            )
            receiver.reset()
            offered = max(1.0, cfg.e2e_level * pipeline)
            found = load(
                ctx, full.port, "cash_out", hot_callers, rate=offered, webhook_url=receiver.url
            )
            stats = receiver.wait_for(found.accepted, cfg.drain_seconds)
            ctx.add(
                f"end-to-end POST to webhook at {cfg.e2e_level:.0%} of the whole path's "
                "saturation, hot client",
                percentiles_ms(stats.latencies_us(*found.window)),
                f"p50 / p99 / p99.9 at {fmt_rate(offered)}/s offered, "
                f"{fmt_rate(rate(found, cfg.seconds))}/s accepted; "
                f"{stats.count} of {found.accepted} webhooks arrived " + errors(found),
            )
            receiver.reset()  # before the re-arm: the dispatcher starts within a poll
            rearmed = _rearm_deliveries(
                settings.database_url, settings.database_schema, cfg.webhooks
            )
            stats = receiver.wait_for(rearmed, max(cfg.drain_seconds, rearmed / 100))
            ctx.add(
                "webhook deliveries/s to a fast receiver",
                fmt_rate(stats.rate),
                f"{stats.count} of {rearmed} re-armed deliveries, first to last arrival",
            )
    return full.peak_rss_mib


def _rearm_deliveries(url: str, schema: str | None, limit: int) -> int:
    """Make up to ``limit`` delivered webhooks due again, in one statement: the dispatcher
    then has a backlog to drain that no settlement work is mixed into."""
    db = Database(url, schema=schema)
    d = t.webhook_deliveries.c
    with db.transaction(write=True) as tx:
        chosen = select(d.id).where(d.status == "succeeded").limit(limit)
        ids = list(tx.conn.execute(chosen).scalars())
        tx.conn.execute(
            update(t.webhook_deliveries)
            .where(d.id.in_(ids))
            .values(status="pending", next_attempt_at=datetime.now(UTC), locked_until=None)
        )
        tx.commit()
    db.dispose()
    return len(ids)
