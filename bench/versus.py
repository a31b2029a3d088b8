"""``python -m bench.versus PYTHON [--size N] [--clients N] [--batch N] [--worker]
[--rounds R] [--output PATH]``: this checkout's server against another's, on
``BENCH_DATABASES``.

``PYTHON`` is the interpreter of the other checkout's environment (its ``.venv/bin/python``,
the package installed editable from it, e.g. a ``git worktree`` of an older commit). Each
server gets a database of its own, grown to ``--size`` cash-outs by the growth phase's
preload, and a hot client; the two are loaded in turn (``bench.turns``), so that what else
the machine does counts against both alike."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from connectpsp.bootstrap import build

from .alone import run_alone
from .config import Config
from .fixtures import create_merchants, login, scratch_database
from .growth import preload
from .phase import Context
from .receiver import Receiver
from .server import Server
from .stats import fmt_rate
from .turns import Arm, ratios, short, take_turns

__all__ = ["main"]


def versus(
    ctx: Context,
    other: str,
    size: int,
    rounds: int,
    clients: int = 1,
    batch: int = 0,
    worker: bool = False,
) -> None:
    """``clients``: 1, the hot client; more, that many funded clients, each request from
    the next (the 1,000 clients' case). ``batch``: bulk payouts of that many cash-outs.
    ``worker``: each server with its worker, every cash-out with a ``webhookUrl`` to a
    receiver of its own, and each turn until its webhooks arrived (issue 19, point 2)."""
    kind, cfg = ctx.kind, ctx.config
    with (
        scratch_database(kind, ctx.tmp, "this", cfg.pg_url) as mine,
        scratch_database(kind, ctx.tmp, "other", cfg.pg_url) as theirs,
    ):
        loaded = []
        for settings in (mine, theirs):
            container = build(settings)
            merchants = create_merchants(container, max(11, clients), fee=cfg.fee_centavos)
            container.close()
            if size:
                ctx.say(f"[{kind}] preloading {size:,} cash-outs")
                preload(settings, merchants[0].client_id, 0, size, cfg.fee_centavos, ctx.say)
            loaded.append(merchants[:clients])
        command = [other, "-m", "connectpsp", "serve", *([] if worker else ["--no-worker"])]
        with (
            Server(mine, worker=worker, log=ctx.tmp / "this.log") as this,
            Server(
                theirs, worker=worker, log=ctx.tmp / "other.log", command=[*command, "--port"]
            ) as that,
            Receiver() if worker else contextlib.nullcontext() as here,
            Receiver() if worker else contextlib.nullcontext() as there,
        ):
            arms = {
                "this checkout": Arm(this, login(this.base_url, loaded[0]), here),
                "the other": Arm(that, login(that.base_url, loaded[1]), there),
            }
            met = take_turns(ctx, arms, rounds, items=batch)
    new, old = arms.values()
    median, span = ratios(new, old)
    who = "hot client" if clients == 1 else f"{clients:,} clients"
    who += f", batches of {batch:,}" if batch else ""
    who += ", server with its worker (CPU per cash-out settled and delivered)" if worker else ""
    whole = (
        f"; whole path {new.whole_path} its accept rate here, {old.whole_path} there"
        if worker
        else ""
    )
    ctx.add(
        f"cash-outs/s at saturation, {who}, {size:,} preloaded, this checkout",
        fmt_rate(new.mean),
        f"{median:.3f}x the other's ({fmt_rate(old.mean)}/s, {other}): the median of "
        f"{rounds} rounds' ratios ({span}), {short(ctx).config.seconds:.3g} s each; server "
        f"CPU per cash-out {new.cpu} here, {old.cpu} there (medians)"
        + whole
        + " "
        + "; ".join(met),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("python", help="the other checkout's interpreter")
    parser.add_argument("--size", type=int, default=0, help="cash-outs preloaded in each")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=1, help="1: the hot client; or more")
    parser.add_argument("--batch", type=int, default=0, help="cash-outs per bulk payout")
    parser.add_argument("--worker", action="store_true", help="each server with its worker")
    parser.add_argument("--output", type=Path, help="markdown file to append the rows to")
    args = parser.parse_args(argv)
    config = Config.from_env()
    return run_alone(
        config,
        args.output,
        "connectpsp-versus-",
        lambda ctx: versus(
            ctx, args.python, args.size, args.rounds, args.clients, args.batch, args.worker
        ),
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
