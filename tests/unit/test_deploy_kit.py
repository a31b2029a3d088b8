"""The deploy kit (Dockerfile, compose.yaml) against the code it runs: the commands and
options it starts exist, the variables it sets are settings, its health check asks a
real probe. Cheap and static; `make test-deploy` (tests/deploy/run.py) runs it for real."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
import yaml  # type: ignore[import-untyped]

from connectpsp.api.routes.health import router as health
from connectpsp.cli.entry import app
from connectpsp.settings import Settings

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SETTINGS_SOURCE = (ROOT / "src/connectpsp/settings.py").read_text()


def assert_runs(argv: list[str]) -> None:
    """``connectpsp ARGV`` names a command and only options it has."""
    group = typer.main.get_command(app)
    command = group.commands.get(argv[0])  # type: ignore[attr-defined]
    assert command is not None, f"no command {argv[0]}"
    options = {name for p in command.params for name in p.opts}
    used = {arg for arg in argv[1:] if arg.startswith("--")}
    assert used <= options, used - options


def instruction(name: str) -> str:
    [line] = re.findall(rf"^{name} (.+)$", DOCKERFILE, re.M)
    return str(line)


def test_the_image_runs_real_commands() -> None:
    assert instruction("ENTRYPOINT") == '["connectpsp"]'
    assert_runs(json.loads(instruction("CMD")))
    for service in ("migrate", "api", "worker"):
        assert_runs(COMPOSE["services"][service]["command"])


def test_the_health_check_asks_the_liveness_probe() -> None:
    check = re.search(r"HEALTHCHECK .*\n\s+CMD (.+)", DOCKERFILE)
    assert check, "no HEALTHCHECK"
    [url] = re.findall(r"http://127\.0\.0\.1:8000(/\w+)", check.group(1))
    assert url == "/livez"
    assert url in {route.path for route in health.routes}  # type: ignore[attr-defined]


def test_every_variable_the_kit_sets_is_a_setting() -> None:
    environment: dict[str, str] = COMPOSE["x-connectpsp"]["environment"]
    env_lines = re.findall(r"(CONNECTPSP_\w+)=", DOCKERFILE)
    names = {n for n in [*environment, *env_lines] if n.startswith("CONNECTPSP_")}
    assert names, "no CONNECTPSP_ variable found"
    for name in names:
        assert f'"{name.removeprefix("CONNECTPSP_")}"' in SETTINGS_SOURCE, name


def test_the_images_defaults_are_valid_settings() -> None:
    url = re.search(r"CONNECTPSP_DATABASE_URL=(\S+)", DOCKERFILE)
    var = re.search(r"CONNECTPSP_VAR_DIR=(\S+)", DOCKERFILE)
    assert url and var
    settings = Settings.from_env(
        {
            "CONNECTPSP_DATABASE_URL": url.group(1),
            "CONNECTPSP_VAR_DIR": var.group(1),
            "CONNECTPSP_MASTER_KEY": "A" * 43,
        }
    )
    assert settings.database_url.startswith(f"sqlite:///{var.group(1)}/")
    assert f'VOLUME ["{var.group(1)}"]' in DOCKERFILE


def test_compose_runs_workers_apart_after_one_migration() -> None:
    services = COMPOSE["services"]
    assert "--no-worker" in services["api"]["command"]  # settlement is the workers' job
    for service in ("api", "worker"):
        condition = services[service]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP port
    assert "${CONNECTPSP_MASTER_KEY:?" in (ROOT / "compose.yaml").read_text()


def test_the_deploy_guide_shows_a_real_run() -> None:
    guide = (ROOT / "docs/deploy.md").read_text()
    assert "PLACEHOLDER" not in guide
    assert re.search(r"^\[\s*[\d.]+s\] test-deploy: passed$", guide, re.M)
