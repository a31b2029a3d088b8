"""``python -m bench.sender [--sends N]``: the CPU one webhook attempt costs the sender.

``HttpSender`` POSTs a ``CASHOUT_COMPLETED``-sized body with the dispatcher's headers to
``bench.receiver``'s loopback receiver (a process of its own), eight attempts in flight
over kept-alive connections, as the dispatcher's loop sends them. Seven runs of
``--sends`` attempts each; the process CPU per attempt of each run, and their median.
Signing and the queue's SQL are not in it: only the HTTP exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.domain.clock import SystemClock

from .receiver import Receiver

__all__ = ["main"]

_BODY = (
    b'{"type":"CASHOUT_COMPLETED","data":{"transactionId":"01a24954-b6e9-7463-beb3-8d2d9122ed1d",'
    b'"internalCode":"HVTETJVGTZ","externalReference":"ref-11b8522dc2c34bfe","status":'
    b'"COMPLETED","amount":"10.00","endToEndId":"E0041696820261206031MKNs58LRsp1"}}'
)
_HEADERS = {
    "content-type": "application/json",
    "user-agent": "ConnectPSP-Webhooks/1.0",
    "webhook-id": "msg_01a24954b6e97463beb38d2d9122ed1d",
    "webhook-timestamp": "1765000000",
    "webhook-signature": "v1," + "A" * 44,
}


async def _runs(url: str, sends: int) -> list[float]:
    sender = HttpSender(AddressGuard(allow_loopback=True), timeout=5, clock=SystemClock())
    in_flight = asyncio.Semaphore(8)

    async def one() -> None:
        async with in_flight:
            result = await sender.send(url, _HEADERS, _BODY)
            if result.status_code != 200:
                raise RuntimeError(f"the receiver answered {result}")

    try:
        await asyncio.gather(*(one() for _ in range(200)))  # connections open, code warm
        found = []
        for _ in range(7):
            cpu = time.process_time()
            await asyncio.gather(*(one() for _ in range(sends)))
            found.append((time.process_time() - cpu) / sends * 1e6)
        return found
    finally:
        sender.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sender", description=__doc__)
    parser.add_argument("--sends", type=int, default=2000, help="attempts per run")
    args = parser.parse_args(argv)
    with Receiver() as receiver:
        found = asyncio.run(_runs(receiver.url, args.sends))
    runs = " ".join(f"{us:.0f}" for us in sorted(found))
    median = statistics.median(found)
    print(f"sender CPU per webhook attempt: median {median:.0f} µs (runs: {runs})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
