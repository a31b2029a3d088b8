"""The ``connectpsp`` command: serve, worker, migrate, clients, sandbox, demo.

Every failure ends in one line on stderr (``error: ...``) and a non-zero exit: 2 for a
bad setting or argument, 1 for anything else. No error prints a traceback, and none
prints a database error's text, which may hold the statement's parameters (hashes,
ciphertexts). Only ``serve``, ``worker``, ``migrate`` and ``demo`` change the schema;
the other commands refuse a database that is not migrated, and create nothing.

The package, by job: ``entry`` (the command tree, and ``main``, the boundary), ``errors``
(how a failure is worded), ``database`` (the settings, the database and the wired
services a command opens), ``server`` (serve, worker, migrate), ``clients`` (clients and
sandbox fund), ``client_update`` (clients update), ``webhooks`` (failed deliveries),
``sandbox_pay`` (sandbox pay), ``demo`` (the demo client and the README tour's commands).
"""

from __future__ import annotations

from connectpsp.cli.database import database_location, database_problem
from connectpsp.cli.demo import TOUR_END, TOUR_START, demo_instructions
from connectpsp.cli.entry import app, main
from connectpsp.cli.errors import USAGE, CliError, explain

__all__ = [
    "TOUR_END",
    "TOUR_START",
    "USAGE",
    "CliError",
    "app",
    "database_location",
    "database_problem",
    "demo_instructions",
    "explain",
    "main",
]
