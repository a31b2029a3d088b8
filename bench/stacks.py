"""The server under other stacks, for ``bench.choices``: ``python -m bench.stacks STACK
PORT`` serves the same app (``connectpsp serve --no-worker``'s) with one of:

- ``uvicorn-httptools-uvloop``: what ``connectpsp serve`` runs (uvicorn[standard]);
- ``uvicorn-h11-asyncio``: uvicorn with its pure-Python parser and asyncio's loop;
- ``granian``: Granian's Rust HTTP server, ASGI interface, one worker.

The settings come from the environment, as for ``connectpsp serve``.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from connectpsp.api.app import create_app
from connectpsp.bootstrap import build
from connectpsp.logs import configure_logging
from connectpsp.settings import Settings

__all__ = ["STACKS", "app"]

STACKS = ("uvicorn-httptools-uvloop", "uvicorn-h11-asyncio", "granian")


def app() -> FastAPI:
    """The API with its container (a factory: Granian imports it in its worker)."""
    configure_logging(file=Settings.from_env().log_file)
    return create_app(build(Settings.from_env()))


def main(stack: str, port: int) -> None:
    if stack == "granian":
        from granian.constants import Interfaces
        from granian.server import Server

        Server(
            "bench.stacks:app",
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=1,
            log_access=False,
        ).serve()
        return
    import uvicorn

    http, loop = (
        ("httptools", "uvloop") if stack == "uvicorn-httptools-uvloop" else ("h11", "asyncio")
    )
    uvicorn.run(app(), host="127.0.0.1", port=port, http=http, loop=loop, log_config=None)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
