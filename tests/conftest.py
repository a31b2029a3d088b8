from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectpsp.logs import configure_logging
from connectpsp.settings import Settings
from tests import logscan
from tests.support import RunningServer, database, running_server


def pytest_configure(config: pytest.Config) -> None:
    """Before xdist starts its workers: one directory for every process's logs."""
    if not hasattr(config, "workerinput") and not os.environ.get(logscan.DIR_VARIABLE):
        os.environ[logscan.DIR_VARIABLE] = tempfile.mkdtemp(prefix="connectpsp-logs-")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with a slow test first, each file's tests in their order. ``make test``
    (``-n 2 --dist loadfile``) hands whole files out in this order, and a long file handed
    out late ran alone for minutes at the end, the other process idle."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session", autouse=True)
def json_logs() -> None:
    """This process logs JSON to the shared directory; the server processes that tests
    start inherit CONNECTPSP_LOG_FILE and log there too."""
    directory = logscan.log_dir()
    assert directory is not None
    path = directory / f"pytest-{os.getpid()}.jsonl"
    os.environ["CONNECTPSP_LOG_FILE"] = str(directory / f"subprocesses-{os.getpid()}.jsonl")
    configure_logging(file=str(path))


FIGURES_VARIABLE = "CONNECTPSP_RELIABILITY_FIGURES"


def write_figures(name: str, values: dict[str, Any]) -> None:
    """Keep figures for `make reliability`'s report; a no-op in other runs."""
    directory = os.environ.get(FIGURES_VARIABLE)
    if directory:
        path = Path(directory) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".json")
        path.write_text(json.dumps({"test": name, **values}, default=str, indent=1))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``figures(name=value, ...)`` records this test's figures for the report."""

    def record(**values: Any) -> None:
        write_figures(request.node.nodeid, values)

    return record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # the controller scans once every worker is done
    directory = logscan.log_dir()
    if directory is None or session.testscollected == 0:
        return
    found = logscan.problems(directory)
    write_figures(
        "log gate",
        {"log_lines": logscan.line_count(directory), "problems": len(found)},
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter is not None:
            reporter.write_line(f"LOG GATE: {len(found)} problems in the suite's logs:", red=True)
            for problem in found[:50]:
                reporter.write_line("  " + problem, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        lines = logscan.line_count(directory)
        reporter.write_line(f"log gate: {lines} log lines, no secrets, tokens or documents")


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=DATABASES)
def db_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A fresh database per test module, on SQLite and on PostgreSQL."""
    with database(request.param, tmp_path_factory.mktemp("db")) as settings:
        yield settings


@pytest.fixture(scope="module")
def server(db_settings: Settings) -> Iterator[RunningServer]:
    with running_server(db_settings) as running:
        yield running


@pytest.fixture(scope="module")
def settling_server(db_settings: Settings) -> Iterator[RunningServer]:
    """A server whose in-process worker settles cash-outs (rail latency 0)."""
    with running_server(db_settings, worker=True) as running:
        yield running
