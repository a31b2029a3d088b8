"""Dependencies point inwards: the domain imports only the standard library, and the
service layer never imports the API or the adapters."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "src" / "connectpsp"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules_in(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_domain_imports_only_the_standard_library() -> None:
    for path in modules_in("domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("connectpsp.domain"), (
                f"{path.name} imports {name}"
            )


def test_service_does_not_import_api_or_adapters() -> None:
    for path in modules_in("service"):
        for name in imports_of(path):
            top = name.split(".")[0]
            inside = name.startswith(("connectpsp.domain", "connectpsp.service"))
            assert inside or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_the_layers_exist() -> None:
    assert modules_in("domain")
    assert modules_in("service")
