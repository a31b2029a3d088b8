"""The benchmark's knobs, from ``BENCH_*`` environment variables.

The defaults give a full run of about 20 minutes on a 2-core machine, plus the growth
phase's preloads (75 seconds to 4 minutes per million cash-outs by machine, to 5 million:
``BENCH_GROWTH_SIZES``); ``--smoke`` (or ``BENCH_SMOKE=1``) shrinks everything so the
harness itself can be tested in seconds.
``BENCH_COMMAND`` names the command that started the run in the report (``make bench``
sets it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = ["PG_ADMIN_URL", "Config"]

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Config:
    seconds: float = 10.0  # each measured phase
    warmup: float = 2.0  # run before each phase's window opens; its requests are not counted
    lead: float = 0.5  # generators start this long after being told: time to connect
    concurrency: int = 32  # in-flight requests (closed loop) = raw-SQL connections
    procs: int = 2  # load-generator processes
    clients: int = 1000  # the "many clients" scenario
    webhooks: int = 3000  # deliveries queued for the dispatcher-rate phase
    fee_centavos: int = 1  # a fee makes each cash-out reserve two transfers, as in production
    latency_levels: tuple[float, ...] = (0.25, 0.50, 0.80)
    e2e_level: float = 0.50
    drain_seconds: float = 30.0  # how long the e2e phase waits for late webhooks
    batch_items: int = 1000  # cash-outs per POST /cash-out/batch (and per raw transaction)
    batch_concurrency: int = 4  # batches in flight = raw-SQL connections of the batch job
    batch_drain: int = 8  # batches sent to the server with its worker, then drained
    # Cash-outs preloaded before each growth measurement (``bench.growth``), one database
    # grown from each size to the next.
    growth_sizes: tuple[int, ...] = (0, 1_000_000, 5_000_000)
    growth_plot: str = ""  # where the growth curve's PNG goes; "": docs/img/growth.png
    databases: tuple[str, ...] = ("sqlite", "postgres")
    pg_url: str = PG_ADMIN_URL
    smoke: bool = False
    command: str = "python -m bench"  # how the run was started, for the report

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, smoke: bool = False) -> Config:
        env = os.environ if env is None else env
        smoke = smoke or env.get("BENCH_SMOKE", "") not in ("", "0")
        base = cls.smoke_defaults() if smoke else cls()

        def num(name: str, default: float) -> float:
            raw = env.get(f"BENCH_{name}")
            return default if raw in (None, "") else float(raw)

        databases = env.get("BENCH_DATABASES")
        sizes = env.get("BENCH_GROWTH_SIZES")
        return replace(
            base,
            seconds=num("SECONDS", base.seconds),
            warmup=num("WARMUP", base.warmup),
            concurrency=int(num("CONCURRENCY", base.concurrency)),
            procs=int(num("PROCS", base.procs)),
            clients=int(num("CLIENTS", base.clients)),
            webhooks=int(num("WEBHOOKS", base.webhooks)),
            fee_centavos=int(num("FEE_CENTAVOS", base.fee_centavos)),
            drain_seconds=num("DRAIN_SECONDS", base.drain_seconds),
            batch_items=int(num("BATCH_ITEMS", base.batch_items)),
            batch_concurrency=int(num("BATCH_CONCURRENCY", base.batch_concurrency)),
            batch_drain=int(num("BATCH_DRAIN", base.batch_drain)),
            growth_sizes=(
                tuple(int(float(s)) for s in sizes.split(",") if s.strip())
                if sizes
                else base.growth_sizes
            ),
            growth_plot=env.get("BENCH_GROWTH_PLOT") or base.growth_plot,
            databases=(
                tuple(d.strip() for d in databases.split(",") if d.strip())
                if databases
                else base.databases
            ),
            pg_url=env.get("BENCH_PG_URL") or env.get("CONNECTPSP_TEST_PG_URL") or base.pg_url,
            command=env.get("BENCH_COMMAND") or base.command,
        )

    @classmethod
    def smoke_defaults(cls) -> Config:
        # Every phase still runs end to end; only the sizes shrink. No timing is asserted.
        return cls(
            seconds=0.35,
            warmup=0.1,
            lead=0.3,
            concurrency=4,
            procs=1,
            clients=10,
            webhooks=30,
            drain_seconds=10.0,
            batch_items=20,
            batch_concurrency=2,
            batch_drain=4,
            growth_sizes=(0, 200, 1000),
            databases=("sqlite",),
            smoke=True,
        )
