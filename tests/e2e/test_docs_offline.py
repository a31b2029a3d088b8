"""The API reference works on a machine that reaches nothing: /docs (Swagger UI) and
/redoc (ReDoc), rendered by headless Chromium whose every connection but to the loopback
server goes to a dead proxy, show the operations; Swagger UI offers "Authorize".

Chromium is Debian's, installed by scripts/ensure-chromium.sh (`make test` runs it)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import RunningServer, database, running_server

ENSURE = "scripts/ensure-chromium.sh"


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The pages read no storage: one database is enough.
    with (
        database("sqlite", tmp_path_factory.mktemp("db")) as settings,
        running_server(settings) as running,
    ):
        yield running


def rendered(url: str, profile: Path) -> str:
    """The DOM of ``url`` once its scripts have run, offline but for the loopback."""
    chromium = shutil.which("chromium")
    assert chromium, f"Chromium is not installed: run {ENSURE} (make test does)"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # Nothing listens on port 9: any request for a CDN fails, as on an offline machine.
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        # Virtual time runs until the page is idle (scripts loaded, the spec fetched and
        # rendered), up to this many milliseconds, before the DOM is dumped.
        "--virtual-time-budget=20000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_swagger_ui_renders_the_operations_offline(
    docs_server: RunningServer, tmp_path: Path
) -> None:
    dom = rendered(f"{docs_server.base_url}/docs", tmp_path / "profile")
    assert 'class="opblock-summary-path" data-path="/cash-out"' in dom, dom[-3000:]
    assert 'data-path="/auth/token"' in dom
    assert "btn authorize" in dom  # the security schemes are declared


def test_redoc_renders_the_operations_offline(docs_server: RunningServer, tmp_path: Path) -> None:
    dom = rendered(f"{docs_server.base_url}/redoc", tmp_path / "profile")
    assert 'data-item-id="tag/cash-out/operation/create_cash_out_cash_out_post"' in dom, dom[-3000:]
    assert "Send a Pix payment to a key or a bank account" in dom  # POST /cash-out's summary


def test_the_pages_load_nothing_from_another_host(docs_server: RunningServer) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(docs_server.base_url + page).text
        assert "http://" not in html and "https://" not in html, (page, html)


def test_the_root_points_to_the_reference_and_the_console(docs_server: RunningServer) -> None:
    reply = httpx.get(docs_server.base_url + "/")
    assert reply.status_code == 200
    assert 'href="/docs"' in reply.text and 'href="/console/"' in reply.text
    assert "http://" not in reply.text and "https://" not in reply.text


def test_the_security_schemes_are_declared_where_they_are_needed(
    docs_server: RunningServer,
) -> None:
    spec = httpx.get(docs_server.base_url + "/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["Bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["Bearer"]["description"],
    }
    for header in ("ApplicationToken", "DigitalSignature"):
        assert (schemes[header]["type"], schemes[header]["in"]) == ("apiKey", "header")
        assert schemes[header]["name"] == header
    paths = spec["paths"]
    signed: list[dict[str, list[str]]] = [
        {"Bearer": [], "ApplicationToken": [], "DigitalSignature": []}
    ]
    assert paths["/cash-out"]["post"]["security"] == signed
    assert paths["/brcode/decode"]["post"]["security"] == signed
    unsigned: list[dict[str, list[str]]] = [{"Bearer": [], "ApplicationToken": []}]
    assert paths["/cash-out/{internalCode}"]["get"]["security"] == unsigned
    assert paths["/balance"]["get"]["security"] == unsigned
    assert paths["/webhooks"]["post"]["security"] == unsigned
    for path in ("/auth/token", "/healthz", "/livez", "/readyz"):
        for operation in paths[path].values():
            assert "security" not in operation, path
    for path, operations in paths.items():  # on every route that authenticates, only there
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert ("security" in operation) == ("ApplicationToken" in names), (method, path)
