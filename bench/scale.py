"""One API process against two (``serve --workers 2``), issue 19's point 4: the two
servers on one database, loaded in turn (``bench.turns``), on the hot client and on the
1,000 clients, so that both see the same machine at the same moments."""

from __future__ import annotations

from collections.abc import Callable

from connectpsp.bootstrap import build

from .fixtures import create_merchants, login, scratch_database
from .phase import Context
from .server import Server
from .stats import fmt_rate, percentiles_ms
from .turns import Arm, ratios, short, take_turns

__all__ = ["processes_phase"]


def processes_phase(ctx: Context, against_raw: Callable[[float, str], str]) -> None:
    """Rows "cash-outs/s at saturation, CASE, 2 API processes". ``against_raw``: a rate
    as ratios to the raw-SQL baselines of a case ("hot account", "1,000 accounts")."""
    kind, cfg = ctx.kind, ctx.config
    rounds = 1 if cfg.smoke else 6
    with scratch_database(kind, ctx.tmp, "processes", cfg.pg_url) as settings:
        container = build(settings)
        hot, *many = create_merchants(container, cfg.clients + 1, fee=cfg.fee_centavos)
        container.close()
        with (
            Server(settings, worker=False, log=ctx.tmp / "one-process.log") as one,
            Server(settings, worker=False, log=ctx.tmp / "two-processes.log", processes=2) as two,
        ):
            cases = (
                ("hot client", [hot], "hot account"),
                ("1,000 clients", many, "1,000 accounts"),
            )
            for label, merchants, case in cases:
                callers = login(one.base_url, merchants)  # tokens serve either server
                arms = {"1 process": Arm(one, callers), "2 processes": Arm(two, callers)}
                met = take_turns(ctx, arms, rounds)
                single, double = arms.values()
                median, span = ratios(double, single)
                ctx.add(
                    f"cash-outs/s at saturation, {label}, 2 API processes",
                    fmt_rate(double.mean),
                    f"{median:.2f}x one process ({fmt_rate(single.mean)}/s): the median of "
                    f"{rounds} rounds' ratios ({span}), two servers loaded in turn, "
                    f"{short(ctx).config.seconds:.3g} s each; {against_raw(double.mean, case)}; "
                    "server CPU per "
                    f"cash-out {double.cpu} with two, {single.cpu} with one (medians); "
                    f"closed-loop p50 / p99 / p99.9 {percentiles_ms(double.latencies_us)} "
                    + "; ".join(met),
                )
