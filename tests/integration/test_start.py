"""What a process does at start on a database that is ready: no migration, no demo
key registered again. Every server, worker and CLI command starts so, the suite's
hundreds of them included."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine

from connectpsp.bootstrap import Container, build
from connectpsp.settings import Settings
from tests.statements import WatchStatements
from tests.support import FakeClock, process_env


class KeyWrites(WatchStatements):
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(Engine, monkeypatch)
        self.found: list[str] = []

    def seen(self, sql: str) -> None:
        if sql.startswith("INSERT INTO SANDBOX_DICT_KEYS"):
            self.found.append(sql)


def test_a_start_reads_the_demo_keys_there_and_registers_none_again(
    container: Container, db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each demo key (and marked key) was a write transaction of its own at every start,
    an insert the key's uniqueness refused; now one read finds them all there."""
    with KeyWrites(monkeypatch) as writes:
        build(db_settings, clock=FakeClock()).close()
    assert writes.found == []


def test_a_start_on_a_migrated_database_does_not_load_alembic(
    container: Container, db_settings: Settings
) -> None:
    """Alembic (and Mako, its templates) is loaded only to migrate."""
    probe = (
        "import sys\n"
        "from connectpsp.bootstrap import build\n"
        "from connectpsp.settings import Settings\n"
        "build(Settings.from_env()).close()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=process_env(db_settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
