"""A private PostgreSQL server for tests that stop the database: the shared one on
5432 serves the rest of the suite and must stay up. Built with the machine's own
``initdb`` and ``pg_ctl``, run as the ``postgres`` user when we are root (PostgreSQL
refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not versions:
        raise RuntimeError("initdb not found: install the PostgreSQL server")
    return Path(versions[-1])


@dataclass
class PrivatePostgres:
    directory: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=on"
        )
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-l", str(self.directory / "log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as clients can tell: no goodbyes, and the
        server recovers from its WAL on the next start."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # Its own directory under the system temp dir: pytest's are private to root, and the
    # server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="connectpsp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    cluster = PrivatePostgres(directory, free_port(), _bindir())
    cluster._run("initdb", "-D", str(directory / "data"), "-A", "trust", "-U", "postgres")
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop("fast")
        shutil.rmtree(directory, ignore_errors=True)
