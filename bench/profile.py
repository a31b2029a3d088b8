"""``python -m bench.profile``: where the server's time goes while one client saturates
it, as ``python -m bench``'s hot-client row loads it (closed loop, server without its
worker, a fresh database).

py-spy (``pip install py-spy``; not a dependency) samples the server with ``--gil``, so
only what holds the interpreter counts, during the measured window only. The report is
the accepted rate, how busy the GIL was, and for each part of the path the share of
samples that ran inside it and its cost per accepted cash-out. ``--rules on`` gives the
client every one of its own fraud rules (``fixtures.every_rule``; none trips).
``--worker`` runs the server with its worker, as the "whole path" row does: every
cash-out carries a ``webhookUrl`` to ``bench.receiver``, and settlement and the webhook
dispatcher get parts of their own. ``--batch N`` sends ``POST /cash-out/batch`` of N
items instead, from ``BENCH_BATCH_CONCURRENCY`` connections, as the bulk-payout row does.
``--size N`` first preloads N cash-outs, as the growth rows do, to see which part grows
with the data. ``--clients N`` sends each request from the next of N funded clients, as
the 1,000 clients' rows do (the first is the one preloaded).

    python -m bench.profile --database postgres --rules on --seconds 10

Knobs as ``python -m bench`` (``BENCH_CONCURRENCY``, ``BENCH_PROCS``, ``BENCH_PG_URL``...).
The raw py-spy output (collapsed stacks) is kept with ``--keep PATH``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from connectpsp.bootstrap import build

from .config import Config
from .fixtures import create_merchants, every_rule, login, scratch_database
from .growth import preload
from .load import Caller, LoadResult, LoadSpec, run_load
from .receiver import Receiver
from .server import Server
from .stats import fmt_rate

__all__ = ["PARTS", "main", "shares"]

# (label, function, file): a sample counts for a part when any of its frames is that
# function (qualified by its class, as py-spy names it) in a file whose path ends so,
# and it counts for the part it is indented under (a commit of settlement's is not the
# writer's). Parts nest as indented, two spaces a level. The first is what is left when
# the other threads' parts (the unindented ones) are taken out: the handful of other
# threads are idle under this load. The worker's parts count only with ``--worker``.
PARTS = (
    ("event loop: HTTP, auth, validation, the answer", "", ""),
    ("  the route handler", "create_cash_out", "api/routes/cash_outs.py"),
    ("  the batch route handler", "create_cash_out_batch", "api/routes/batch.py"),
    ("  DICT screening from memory", "CashOutService.screened", "service/cashouts.py"),
    ("  DICT screening with a look-up", "CashOutService.screen", "service/cashouts.py"),
    ("  the idempotency fingerprint", "fingerprint", "service/fingerprints.py"),
    ("acceptance writer thread", "AcceptanceEngine._write", "service/acceptance.py"),
    ("  a batch, start to commit", "AcceptanceEngine._run", "service/acceptance.py"),
    ("  cash-out batch load (locks, refs, history)", "CashOutFlow.load", "service/cashouts.py"),
    ("    the clients' risk history read", "_histories", "service/cashouts.py"),
    ("  decisions (every request of a batch)", "CashOutFlow.decide", "service/cashouts.py"),
    ("    the fraud checks (domain.risk.screen)", "screen", "domain/risk.py"),
    ("  the batch's writes", "CashOutFlow.write", "service/cashouts.py"),
    ("    the decision record (risk_decisions)", "SqlRisk.record", "storage/risk.py"),
    ("  commit", "SqlUnitOfWork.commit", "adapters/storage/uow.py"),
    ("worker threads: settlement, housekeeping, the dispatcher", "Worker.run", "worker/runner.py"),
    ("  settlement", "SettlementService.run_due", "service/settlement.py"),
    ("    the cash-outs read", "SqlCashOuts.by_ids", "storage/cashouts.py"),
    ("    marked submitted", "SettlementService._mark_submitted", "service/settlement.py"),
    ("    the rail", "OnUsRail.submit_many", "service/on_us.py"),
    ("    the answers applied", "SettlementService._apply_all", "service/settlement.py"),
    ("      the events published", "Publisher.publish", "service/publisher.py"),
    ("      the business log", "BusinessEvents.committed", "adapters/business_events.py"),
    ("  the webhook dispatcher", "WebhookDispatcher.dispatch_due", "worker/dispatcher.py"),
    ("webhook sending loop thread", "WebhookDispatcher._send_forever", "worker/dispatcher.py"),
)
_THREADS = [label for label, function, _ in PARTS[1:] if function and not label.startswith(" ")]


def shares(collapsed: str) -> tuple[int, Counter[str]]:
    """Samples in py-spy's raw output (``frame;frame;... count`` per line), and per part of
    ``PARTS`` how many of them ran inside it."""
    total = 0
    found: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        inside: list[bool] = []  # by depth of indent: whether the sample is in that part
        for label, function, path in PARTS:
            depth = (len(label) - len(label.lstrip(" "))) // 2
            del inside[depth:]
            if not function:  # the event loop: what the threads leave, worked out below
                inside.append(True)
                continue
            inside.append(all(inside) and any(_is(frame, function, path) for frame in frames))
            if inside[-1]:
                found[label] += int(count)
    # What the other busy threads did not take, the event loop did.
    found[PARTS[0][0]] = total - sum(found[label] for label in _THREADS)
    return total, found


def _is(frame: str, function: str, path: str) -> bool:
    # py-spy writes a frame as "function (path/to/file.py:line)".
    name, _, where = frame.partition(" (")
    return name == function and where.rpartition(":")[0].endswith(path)


def _spec(
    config: Config,
    port: int,
    callers: tuple[Caller, ...],
    n: int,
    start: float,
    webhook_url: str | None,
    batch: int,
) -> LoadSpec:
    procs = max(1, min(config.procs, config.concurrency))
    return LoadSpec(
        port=port,
        route="cash_out_batch" if batch else "cash_out",
        items=batch,
        mode="closed",
        concurrency=config.concurrency // procs + (n < config.concurrency % procs),
        start_at=start,
        warmup=config.warmup,
        seconds=config.seconds,
        tag=f"{uuid.uuid4().hex[:8]}{n}",
        callers=callers,
        first_caller=n * len(callers) // procs,
        webhook_url=webhook_url,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rules", choices=("on", "off", "none"), default="off")
    parser.add_argument(
        "--cpu", action="store_true", help="sample every running thread, not the GIL's holder"
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="the server with its worker, every cash-out with a webhookUrl to a receiver",
    )
    parser.add_argument("--batch", type=int, default=0, metavar="N", help="batches of N items")
    parser.add_argument("--size", type=int, default=0, metavar="N", help="cash-outs preloaded")
    parser.add_argument(
        "--clients", type=int, default=1, metavar="N", help="each request from the next of N"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--keep", type=Path, help="where to keep py-spy's raw output")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    config = replace(Config.from_env(), seconds=args.seconds)
    if args.batch:
        config = replace(config, concurrency=config.batch_concurrency)
    procs = max(1, min(config.procs, config.concurrency))
    with (
        tempfile.TemporaryDirectory(prefix="connectpsp-profile-") as tmp,
        ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool,
        scratch_database(args.database, Path(tmp), "profile", config.pg_url) as settings,
    ):
        container = build(settings)
        merchants = create_merchants(container, args.clients, fee=config.fee_centavos)
        merchant = merchants[0]
        if args.rules == "on":
            for one in merchants:
                container.clients.set_risk(one.client_id, every_rule(container.clock.now()))
        container.close()
        if args.size:
            # As the growth rows: the loaded client's own past cash-outs.
            preload(settings, merchant.client_id, 0, args.size, config.fee_centavos, print)
        raw = args.keep or Path(tmp) / "profile.txt"
        command = [sys.executable, "-m", "bench.unchecked"] if args.rules == "none" else None
        with (
            Receiver() if args.worker else contextlib.nullcontext() as receiver,
            Server(
                settings, worker=args.worker, log=Path(tmp) / "server.log", command=command
            ) as server,
        ):
            callers = login(server.base_url, merchants)
            start = time.monotonic() + config.lead
            hook = receiver.url if receiver is not None else None
            loads = [
                pool.submit(
                    run_load, _spec(config, server.port, callers, n, start, hook, args.batch)
                )
                for n in range(procs)
            ]
            time.sleep(max(0.0, start + config.warmup - time.monotonic()))
            record = ["record", "--pid", str(server.pid), "--rate", str(args.rate)]
            record += [] if args.cpu else ["--gil"]
            spy = subprocess.Popen(  # noqa: S603 - py-spy, our own arguments
                [py_spy, *record, "--format", "raw", "--output", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(max(0.0, start + config.warmup + config.seconds - time.monotonic()))
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
            spy.wait(timeout=60)
            total = LoadResult()
            for load in loads:
                total.merge(load.result())
        _report(args, config, total, raw.read_text() if raw.exists() else "")
    return 0


def _report(args: argparse.Namespace, config: Config, load: LoadResult, collapsed: str) -> None:
    rate = load.ok / config.seconds
    samples, found = shares(collapsed)
    # With --cpu a sample is a running thread (the GIL's holder or one in C without it).
    what, held = ("thread", "threads ran") if args.cpu else ("GIL", "the GIL held")
    print(
        f"{args.database}, rules {args.rules}: {fmt_rate(rate)} cash-outs/s accepted "
        f"({sum(load.statuses.values())} failed); {samples} {what} samples at {args.rate}/s "
        f"over {config.seconds:g} s: {held} {samples / args.rate / config.seconds:.0%} "
        f"of the time, {1e3 * samples / args.rate / max(load.ok, 1):.3f} ms per cash-out"
    )
    print(f"| part | share of {what} samples | per cash-out |")
    print("|---|---|---|")
    for label, _, _ in PARTS:
        n = found[label]
        per = 1e6 * n / args.rate / max(load.ok, 1)
        print(f"| {label} | {n / max(samples, 1):.1%} | {per:.0f} µs |")


if __name__ == "__main__":  # spawned load generators import this module: guarded
    sys.exit(main())
