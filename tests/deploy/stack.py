"""The Docker engine and a compose project, as ``make test-deploy`` drives them."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
OVERRIDE = Path(__file__).with_name("compose.test.yaml")


def sh(*command: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run ``command``; its stdout. On failure, raise with what it printed."""
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def start_engine() -> int | None:
    """deploy/engine.sh: the dockerd it started (to stop afterwards), or None."""
    out = sh("bash", "deploy/engine.sh")
    for line in out.splitlines():
        if line.startswith("started "):
            return int(line.split()[1])
    return None


def stop_engine(pid: int) -> None:
    os.kill(pid, 15)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)


def compose_command() -> list[str]:
    """``docker compose`` (v2) when this docker has it, else ``docker-compose`` (v1)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


@dataclass
class Stack:
    """compose.yaml plus tests/deploy/compose.test.yaml, as one project."""

    project: str
    variables: dict[str, str]
    base: list[str] = field(default_factory=compose_command)

    @property
    def command(self) -> list[str]:
        return [
            *self.base,
            "--project-name",
            self.project,
            "--file",
            str(ROOT / "compose.yaml"),
            "--file",
            str(OVERRIDE),
        ]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.variables}

    def run(self, *args: str, check: bool = True) -> str:
        return sh(*self.command, *args, env=self.env, check=check)

    def up(self, workers: int) -> None:
        self.run("up", "--detach", "--no-build", "--scale", f"worker={workers}")

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)

    def cli(self, *args: str) -> str:
        """``connectpsp ARGS`` in the API's container."""
        return self.run("exec", "-T", "api", "connectpsp", *args)

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "--quiet", service).split()

    def inspect(self, container: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(sh("docker", "inspect", container))
        return found[0]

    def state(self, container: str) -> dict[str, Any]:
        state: dict[str, Any] = self.inspect(container)["State"]
        return state

    def logs(self) -> str:
        return self.run("logs", "--no-color", "--timestamps", check=False)
