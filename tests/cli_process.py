"""``connectpsp`` commands for the tests, each in a process of its own, forked from one
that imported the command's modules once (a zygote, as Android starts its apps).

A command's process still has its own environment, arguments, standard streams and exit
status, as ``subprocess.run(["python", "-m", "connectpsp", ...])`` gives it. It starts in
milliseconds rather than after a second of imports, which a few hundred commands in the
suite paid again and again. The tests about the process's start itself (``--version``,
``serve``, the SDK-only install) still run ``python -m connectpsp``.

The zygote is ``python -m tests.cli_process``, one per test process, started at the
first command. It reads one JSON request a line on stdin (arguments, environment, where
the streams go), forks, and writes back the child's pid, then its exit status. It has
one thread, so the fork copies no lock another thread held.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["run_command"]

# What a command imports at its start, or later as it runs (a database's driver, alembic
# to migrate).
_PRELOAD = (
    "connectpsp.cli",
    "connectpsp.bootstrap",
    "pydantic",
    "typer.rich_utils",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "alembic.command",
    "alembic.config",
)
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
_ROOT = Path(__file__).resolve().parents[1]


class _Zygote:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def run(
        self, args: Sequence[str], env: Mapping[str, str], stdin: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        command = ["connectpsp", *args]
        with self._lock, tempfile.TemporaryDirectory(prefix="cli-") as tmp:
            streams = {name: str(Path(tmp, name)) for name in ("stdin", "stdout", "stderr")}
            Path(streams["stdin"]).write_text(stdin)
            proc = self._started()
            assert proc.stdin is not None and proc.stdout is not None
            request = {"args": list(args), "env": dict(env), **streams}
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            pid = _answer(proc.stdout, 60)["pid"]
            try:
                status = _answer(proc.stdout, timeout)["status"]
            except TimeoutError:
                os.kill(pid, 9)
                _answer(proc.stdout, 60)
                raise subprocess.TimeoutExpired(command, timeout) from None
            out, err = (Path(streams[name]).read_text() for name in ("stdout", "stderr"))
            return subprocess.CompletedProcess(command, status, out, err)

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.cli_process"],
                cwd=_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            atexit.register(self._proc.kill)
        return self._proc


def _answer(stream: IO[str], timeout: float) -> dict[str, Any]:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError
    line = stream.readline()
    if not line:
        raise RuntimeError("the CLI's zygote exited")
    answer: dict[str, Any] = json.loads(line)
    return answer


_zygote = _Zygote()


def run_command(
    args: Sequence[str], env: Mapping[str, str], *, stdin: str = "", timeout: float
) -> subprocess.CompletedProcess[str]:
    """``connectpsp ARGS`` in ``env``, reading ``stdin`` (a file, not a terminal); its
    stdout and stderr are captured."""
    return _zygote.run(args, env, stdin, timeout)


def _serve() -> None:
    """The zygote: import what a command imports, then fork a child per request."""
    for module in _PRELOAD:
        importlib.import_module(module)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _command(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, wait_status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(wait_status)}), flush=True)


def _command(request: dict[str, Any]) -> None:
    """The forked child: the command as ``python -m connectpsp ARGS`` runs it, and its
    exit status as the interpreter gives it."""
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, name, flags in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", _WRITE),
        (2, "stderr", _WRITE),
    ):
        opened = os.open(request[name], flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own, never closed
    # As ``python -m connectpsp`` sets them: click names the program from them.
    import connectpsp

    sys.modules["__main__"].__package__ = "connectpsp"
    sys.argv = [str(Path(connectpsp.__file__).with_name("__main__.py")), *request["args"]]
    status = 0
    try:
        from connectpsp.command import main

        main()
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _serve()
