"""The ``connectpsp`` console script. The SDK installs alone (``pip install connectpsp``)
and puts the script on PATH too; without the server extra it says so in one line,
rather than a traceback about a missing module."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        from connectpsp.cli import main as run
    except ModuleNotFoundError as missing:
        if (missing.name or "").startswith("connectpsp"):
            raise  # our own code is broken: not a missing extra
        print(
            "error: the connectpsp command is the server's; install it with "
            f"pip install 'connectpsp[server]' ({missing.name} is missing)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    run()
