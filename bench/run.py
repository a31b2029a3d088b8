"""The phases of a run, for one database.

1. The raw-SQL ceiling, on a scratch copy of the schema, while nothing else runs.
2. The server alone (``serve --no-worker``): the HTTP ceiling, cash-outs at saturation
   (closed loop), then latency at fixed fractions of that saturation (open loop). The
   settlement worker is left out here so that the figures are the API's, not the API's
   minus whatever CPU settlement happened to take; it is measured next.
3. The server with its worker (``serve``): the whole path's saturation (webhooks arriving
   per second under a closed loop), end-to-end latency to a webhook receiver at a
   fraction of it, then the dispatcher's rate, on deliveries re-armed in one statement
   so that settlement is not part of that figure.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.bootstrap import build

from .config import Config
from .fixtures import create_merchants, every_rule, login, scratch_database
from .load import Caller, LoadResult, LoadSpec, run_load
from .rawsql import RawSpec, prepare, run_raw_spread
from .receiver import Receiver
from .report import Row
from .server import Server, cpu_seconds
from .stats import fmt_rate, percentiles_ms

__all__ = ["bench_database"]


@dataclass
class _Context:
    kind: str
    config: Config
    pool: ProcessPoolExecutor
    tmp: Path
    rows: list[Row]
    say: Callable[[str], None]

    def add(self, measurement: str, result: str, notes: str = "") -> None:
        self.rows.append(Row(self.kind, measurement, result, notes))
        self.say(f"  {measurement}: {result}  {notes}")


def _spread(total: int, parts: int, n: int) -> int:
    return total // parts + (n < total % parts)


def _load(
    ctx: _Context,
    port: int,
    route: str,
    callers: tuple[Caller, ...] = (),
    *,
    rate: float = 0.0,
    webhook_url: str | None = None,
) -> LoadResult:
    """One phase from every generator process: closed loop, or open loop at ``rate``."""
    cfg = ctx.config
    procs = max(1, min(cfg.procs, cfg.concurrency))
    start = time.monotonic() + cfg.lead
    run = uuid.uuid4().hex[:8]
    specs = [
        LoadSpec(
            port=port,
            route=route,
            mode="open" if rate else "closed",
            concurrency=_spread(cfg.concurrency, procs, n),
            start_at=start,
            warmup=cfg.warmup,
            seconds=cfg.seconds,
            tag=f"{run}{n}",
            callers=callers,
            rate=rate / procs,
            webhook_url=webhook_url,
            first_caller=n * len(callers) // procs,
        )
        for n in range(procs)
    ]
    total = LoadResult(window=specs[0].window)
    for part in ctx.pool.map(run_load, specs):
        total.merge(part)
    return total


def _errors(result: LoadResult) -> str:
    failed = sum(result.statuses.values())
    if not failed and not result.late:
        return ""
    by_status = ", ".join(f"{s or 'conn'}: {n}" for s, n in sorted(result.statuses.items()))
    late = f"; {result.late} connection(s) still waiting at the cut-off" if result.late else ""
    return f"errors {by_status}{late}; first: {result.sample_error[:120]}"


def _rate(result: LoadResult, seconds: float) -> float:
    return result.ok / seconds


def _raw_phase(ctx: _Context) -> tuple[float, float]:
    """Raw-SQL transactions/s on one hot account and across all accounts."""
    cfg = ctx.config
    rates = []
    with scratch_database(ctx.kind, ctx.tmp, "raw", cfg.pg_url) as settings:
        accounts, settlement_id, fees_id = prepare(
            settings.database_url, settings.database_schema, cfg.clients
        )
        # SQLite has one writer: more processes would only fight in its busy handler.
        procs = 1 if ctx.kind == "sqlite" else max(1, min(cfg.procs, cfg.concurrency))
        for label, chosen in (("hot account", accounts[:1]), ("1,000 accounts", accounts)):
            start = time.monotonic() + cfg.lead
            specs = [
                RawSpec(
                    url=settings.database_url,
                    schema=settings.database_schema,
                    accounts=tuple(chosen[n:] + chosen[:n]),
                    settlement_id=settlement_id,
                    fees_id=fees_id,
                    fee=cfg.fee_centavos,
                    threads=_spread(cfg.concurrency, procs, n),
                    start_at=start,
                    warmup=cfg.warmup,
                    seconds=cfg.seconds,
                    tag=f"{uuid.uuid4().hex[:8]}{n}",
                )
                for n in range(procs)
            ]
            result = run_raw_spread(ctx.pool, specs)
            rate = result.commits / cfg.seconds
            rates.append(rate)
            notes = f"p50 / p99 / p99.9 {percentiles_ms(result.latencies_us)}"
            if result.errors:
                notes += f"; {result.errors} errors, first: {result.sample_error[:120]}"
            ctx.add(f"raw SQL, {label}: transactions/s", fmt_rate(rate), notes)
    return rates[0], rates[1]


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def bench_database(
    kind: str,
    config: Config,
    pool: ProcessPoolExecutor,
    tmp: Path,
    say: Callable[[str], None],
) -> list[Row]:
    """Every measurement on one database (``"sqlite"`` or ``"postgres"``)."""
    ctx = _Context(kind, config, pool, tmp, [], say)
    say(f"[{kind}] raw SQL ceiling")
    raw_hot, raw_many = _raw_phase(ctx)
    api_rss, saturation = _api_phases(ctx, raw_hot, raw_many)
    _metrics_phase(ctx)
    full_rss = _pipeline_phases(ctx, saturation)
    ctx.add("peak RSS, server without worker", f"{api_rss:.0f} MiB", "VmHWM")
    ctx.add("peak RSS, server with worker", f"{full_rss:.0f} MiB", "VmHWM")
    return ctx.rows


def _api_phases(ctx: _Context, raw_hot: float, raw_many: float) -> tuple[float, float]:
    """The server without its worker: ceiling, saturation and latency rows. Returns the
    server's peak RSS and the hot client's saturation rate."""
    kind, cfg = ctx.kind, ctx.config
    with scratch_database(kind, ctx.tmp, "api", cfg.pg_url) as settings:
        ctx.say(f"[{kind}] creating {cfg.clients + 1} merchants")
        container = build(settings)
        hot, rules_off, rules_on, *many = create_merchants(
            container, cfg.clients + 3, fee=cfg.fee_centavos
        )
        container.clients.set_risk(rules_on.client_id, every_rule(container.clock.now()))
        container.close()
        with Server(settings, worker=False, log=ctx.tmp / "api.log") as api:
            hot_callers = login(api.base_url, [hot])
            many_callers = login(api.base_url, many)
            checks_callers = (login(api.base_url, [rules_off]), login(api.base_url, [rules_on]))
            ctx.say(f"[{kind}] server without worker on port {api.port}")
            ceiling = _load(ctx, api.port, "healthz")
            ceiling_rate = _rate(ceiling, cfg.seconds)
            ctx.add(
                "HTTP ceiling: GET /healthz, closed loop",
                f"{fmt_rate(ceiling_rate)} req/s",
                f"includes SELECT 1; p50 / p99 / p99.9 {percentiles_ms(ceiling.latencies_us)} "
                + _errors(ceiling),
            )
            scenarios = (
                ("hot client", hot_callers, raw_hot),
                ("1,000 clients", many_callers, raw_many),
            )
            saturation = {}
            for label, callers, raw in scenarios:
                found = _load(ctx, api.port, "cash_out", callers)
                saturation[label] = rate = _rate(found, cfg.seconds)
                ctx.add(
                    f"cash-outs/s at saturation, {label}",
                    fmt_rate(rate),
                    f"{_ratio(rate, raw)} raw SQL, {_ratio(rate, ceiling_rate)} HTTP ceiling; "
                    f"closed-loop p50 / p99 / p99.9 {percentiles_ms(found.latencies_us)} "
                    + _errors(found),
                )
            _checks_phase(ctx, api.port, *checks_callers)
            for label, callers, _ in scenarios:
                for level in cfg.latency_levels:
                    offered = max(1.0, level * saturation[label])
                    found = _load(ctx, api.port, "cash_out", callers, rate=offered)
                    ctx.add(
                        f"latency at {level:.0%} of saturation, {label}",
                        percentiles_ms(found.latencies_us),
                        f"p50 / p99 / p99.9 at {fmt_rate(offered)}/s offered, "
                        f"{fmt_rate(_rate(found, cfg.seconds))}/s accepted " + _errors(found),
                    )
    return api.peak_rss_mib, saturation["hot client"]


def _checks_phase(
    ctx: _Context, port: int, rules_off: tuple[Caller, ...], rules_on: tuple[Caller, ...]
) -> None:
    """What the fraud checks cost: the hot-client saturation on a client with every one of
    its own rules set (none trips: ``every_rule``) beside the same on a client with them
    off, back to back on one server. Each is a client with no history yet, as the hot
    client was at its own saturation phase. DICT's screening and the decision's record
    run in both: they always do."""
    off = _load(ctx, port, "cash_out", rules_off)
    on = _load(ctx, port, "cash_out", rules_on)
    off_rate, on_rate = _rate(off, ctx.config.seconds), _rate(on, ctx.config.seconds)
    ctx.add(
        "cash-outs/s at saturation, hot client, every fraud check on",
        fmt_rate(on_rate),
        f"{_ratio(on_rate, off_rate)} the same with the client's rules off "
        f"({fmt_rate(off_rate)}/s, measured just before); closed-loop p50 / p99 / p99.9 "
        f"{percentiles_ms(on.latencies_us)} against {percentiles_ms(off.latencies_us)} "
        + "; ".join(
            f"rules {name}: {e}" for name, e in (("on", _errors(on)), ("off", _errors(off))) if e
        ),
    )


def _pipeline_phases(ctx: _Context, saturation: float) -> float:
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
            closed = _load(ctx, full.port, "cash_out", hot_callers, webhook_url=receiver.url)
            since, until = closed.window
            backlog = receiver.wait_for(closed.accepted, cfg.drain_seconds * 4)
            arrived = sum(1 for due, us in backlog.e2e if since <= due + us / 1e6 < until)
            pipeline = arrived / (until - since)
            ctx.add(
                "whole path at saturation, hot client: webhooks/s",
                fmt_rate(pipeline),
                f"closed loop, server with worker; {fmt_rate(_rate(closed, cfg.seconds))}/s "
                f"accepted meanwhile ({pipeline / max(saturation, 1):.2f}x the API's "
                f"saturation); {backlog.count} of {closed.accepted} webhooks arrived "
                + _errors(closed),
            )
            receiver.reset()
            offered = max(1.0, cfg.e2e_level * pipeline)
            found = _load(
                ctx, full.port, "cash_out", hot_callers, rate=offered, webhook_url=receiver.url
            )
            stats = receiver.wait_for(found.accepted, cfg.drain_seconds)
            ctx.add(
                f"end-to-end POST to webhook at {cfg.e2e_level:.0%} of the whole path's "
                "saturation, hot client",
                percentiles_ms(stats.latencies_us(*found.window)),
                f"p50 / p99 / p99.9 at {fmt_rate(offered)}/s offered, "
                f"{fmt_rate(_rate(found, cfg.seconds))}/s accepted; "
                f"{stats.count} of {found.accepted} webhooks arrived " + _errors(found),
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


def _metrics_phase(ctx: _Context) -> None:
    """What /metrics costs a cash-out: two servers on one database, one with
    CONNECTPSP_METRICS off and one with it on, each with a fresh client, loaded in turn
    (off then on, on then off, ...) in short closed-loop windows; the result is the median
    of each round's on/off ratio, so that what else the machine does at a moment counts
    against both alike. Then one scrape of the "on" server, whose settlement backlog is
    every cash-out it accepted (no worker): what the backlog's SQL costs."""
    kind, cfg = ctx.kind, ctx.config
    short = replace(ctx, config=replace(cfg, seconds=cfg.seconds / 3, warmup=cfg.warmup / 2))
    rounds = 3 if cfg.smoke else 8
    with scratch_database(kind, ctx.tmp, "metrics", cfg.pg_url) as settings:
        container = build(settings)
        merchants = create_merchants(container, 2, fee=cfg.fee_centavos)
        container.close()
        logs = {mode: ctx.tmp / f"metrics-{mode}.log" for mode in ("off", "on")}
        with (
            Server(settings, worker=False, log=logs["off"], env=_METRICS["off"]) as off,
            Server(settings, worker=False, log=logs["on"], env=_METRICS["on"]) as on,
        ):
            servers = {"off": off, "on": on}
            callers = {
                mode: login(api.base_url, [merchant])
                for (mode, api), merchant in zip(servers.items(), merchants, strict=True)
            }
            rates: dict[str, list[float]] = {"off": [], "on": []}
            cpu: dict[str, list[float]] = {"off": [], "on": []}  # server CPU s per cash-out
            errors: list[str] = []
            for n in range(rounds):
                for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                    used = cpu_seconds(servers[mode].pid)
                    found = _load(short, servers[mode].port, "cash_out", callers[mode])
                    used = cpu_seconds(servers[mode].pid) - used
                    rates[mode].append(_rate(found, short.config.seconds))
                    cpu[mode].append(used / max(found.accepted, 1))
                    if _errors(found):
                        errors.append(f"metrics {mode}: {_errors(found)}")
            scrape = _scrape(on.base_url)
    ratios = sorted(a / b for a, b in zip(rates["on"], rates["off"], strict=True) if b)
    ratio = statistics.median(ratios) if ratios else 0.0
    span = f"from {ratios[0]:.2f}x to {ratios[-1]:.2f}x" if ratios else "errors: no rate"
    mean_on, mean_off = statistics.fmean(rates["on"]), statistics.fmean(rates["off"])
    cpu_on, cpu_off = (statistics.median(cpu[mode]) * 1e6 for mode in ("on", "off"))
    ctx.add(
        "cash-outs/s at saturation, hot client, metrics on",
        fmt_rate(mean_on),
        f"{ratio:.2f}x the same with CONNECTPSP_METRICS off ({fmt_rate(mean_off)}/s): the "
        f"median of {rounds} rounds' ratios ({span}), two servers loaded in turn, "
        f"{short.config.seconds:.3g} s each; server CPU per cash-out {cpu_on:.0f} us on, "
        f"{cpu_off:.0f} us off (medians); {scrape}" + "; ".join(errors),
    )


_METRICS = {"off": {"CONNECTPSP_METRICS": "false"}, "on": {"CONNECTPSP_METRICS": "true"}}


def _scrape(base_url: str) -> str:
    """How long GET /metrics takes (the second of two: the first pays one-time costs), and
    the settlement backlog it read."""
    took = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.get("/livez")  # the connection, opened before the clock starts
        for _ in range(2):
            started = time.perf_counter()
            reply = http.get("/metrics")
            took.append((time.perf_counter() - started) * 1000)
            if reply.status_code != 200:
                return f"errors: GET /metrics answered {reply.status_code}"
    backlog = next(
        (
            float(line.split()[-1])
            for line in reply.text.splitlines()
            if line.startswith("connectpsp_settlement_backlog ")
        ),
        float("nan"),
    )
    return (
        f"a scrape took {took[1]:.1f} ms (the first {took[0]:.0f} ms) with a settlement "
        f"backlog of {backlog:,.0f}"
    )


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
