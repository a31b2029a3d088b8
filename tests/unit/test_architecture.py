"""The layers, as docs/architecture.md draws them, held against every import in src/.

Dependencies point inwards. Each rule names a layer (a package or module under
``connectpsp``) and what it may not import; every import counts, at module level, inside
functions and under ``TYPE_CHECKING`` alike. Each rule is also shown to catch a
deliberate violation of it, in a throwaway package."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "src" / "connectpsp"


@dataclass(frozen=True)
class Rule:
    layer: str  # a dotted module or package under connectpsp, e.g. "api"
    forbidden: tuple[str, ...]  # dotted prefixes under connectpsp it may not import
    allowed: tuple[str, ...] = ()  # exceptions to ``forbidden``
    stdlib_only: bool = False  # beyond connectpsp itself, nothing but the standard library
    why: str = ""


SERVER = (
    "api",
    "console",
    "adapters",
    "service",
    "domain",
    "worker",
    "bootstrap",
    "cli",
    "settings",
    "logs",
    "metrics",
)
RULES = [
    Rule("domain", ("",), allowed=("domain", "brcode"), stdlib_only=True, why="pure: stdlib only"),
    Rule(
        "brcode", ("",), stdlib_only=True, why="the BR Code codec is shared by the SDK: stdlib only"
    ),
    Rule(
        "service",
        ("api", "adapters", "worker", "bootstrap", "cli", "settings", "logs", "metrics"),
        stdlib_only=True,
        why="use cases speak to ports, not to HTTP or concrete adapters",
    ),
    Rule(
        "api",
        ("adapters", "bootstrap", "cli", "worker"),
        why="HTTP goes through use cases; the wiring injects adapters",
    ),
    Rule(
        "console",
        ("adapters", "bootstrap", "cli", "worker"),
        why="the console is HTTP too: it goes through use cases; the wiring injects adapters",
    ),
    Rule(
        "adapters.storage",
        ("service", "api", "worker", "bootstrap", "cli"),
        allowed=("service.ports",),
        why="storage implements ports and knows no use case",
    ),
    Rule(
        "adapters",
        ("api", "worker", "bootstrap", "cli"),
        why="adapters know no HTTP routes and no loops; wiring builds them",
    ),
    Rule("worker", ("api", "adapters", "bootstrap", "cli"), why="loops know no HTTP"),
    Rule("client", (*SERVER, "webhooks"), why="the SDK carries no server code"),
]


def imports_of(path: Path, module: str) -> set[str]:
    """Every module the file at ``path`` (module ``module``) imports, as absolute names;
    ``from x import y`` counts as both ``x`` and ``x.y``."""
    found: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def modules_of(root: Path, layer: str) -> list[Path]:
    target = root.joinpath(*layer.split("."))
    if target.with_suffix(".py").is_file():
        return [target.with_suffix(".py")]
    return sorted(target.rglob("*.py"))


def violations(root: Path, rule: Rule) -> list[str]:
    """Each import in ``rule.layer`` of the package at ``root`` that breaks ``rule``."""
    package = root.name
    found = []
    for path in modules_of(root, rule.layer):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))
        for name in sorted(imports_of(path, module)):
            if name == package or name.startswith(package + "."):
                inner = name.removeprefix(package).removeprefix(".")
                if _under(inner, rule.allowed) or _under(inner, (rule.layer,)):
                    continue
                if any(_under(inner, (f,)) if f else True for f in rule.forbidden):
                    found.append(f"{module} imports {name} ({rule.why})")
            elif rule.stdlib_only and name.split(".")[0] not in sys.stdlib_module_names:
                found.append(f"{module} imports {name} ({rule.why})")
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes if p)


@pytest.mark.parametrize("rule", RULES, ids=[r.layer for r in RULES])
def test_the_code_keeps_each_layer_rule(rule: Rule) -> None:
    assert modules_of(PACKAGE, rule.layer), f"no modules in {rule.layer}"
    assert violations(PACKAGE, rule) == []


# A deliberate violation of each rule, written into a throwaway package named connectpsp.
BREAKS = {
    "domain": ("domain/money.py", "import msgspec\nfrom connectpsp.service import ports\n"),
    "brcode": ("brcode.py", "from connectpsp.domain.money import to_decimal\n"),
    "service": ("service/cashouts.py", "from connectpsp.adapters.storage import db\n"),
    "api": ("api/app.py", "from connectpsp.bootstrap import Container\n"),
    "console": ("console/pages.py", "from connectpsp.adapters.storage import operators\n"),
    "adapters.storage": (
        "adapters/storage/webhooks.py",
        "from connectpsp.service import endpoints\n",
    ),
    "adapters": ("adapters/rails/simulated.py", "from ...api import jsonio\n"),
    "worker": ("worker/dispatcher.py", "def f():\n    from connectpsp.adapters import crypto\n"),
    "client": ("client/_client.py", "from connectpsp.domain.money import parse_amount\n"),
}


@pytest.mark.parametrize("rule", RULES, ids=[r.layer for r in RULES])
def test_each_rule_catches_a_deliberate_violation(rule: Rule, tmp_path: Path) -> None:
    root = tmp_path / "connectpsp"
    where, source = BREAKS[rule.layer]
    for layer in {r.layer for r in RULES} | {"bootstrap", "service/ports"}:
        target = root.joinpath(*layer.split("."))
        target.mkdir(parents=True, exist_ok=True)
        (target / "__init__.py").write_text("")
    broken = root / where
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text(source)
    assert violations(root, rule), f"{rule.layer}: {where} was not caught"
    # The same package without the break keeps the rule.
    broken.write_text("import json\n")
    assert violations(root, rule) == []


def test_no_module_is_over_400_lines() -> None:
    """Each module has one job, named by its file; past about 400 lines a module usually
    holds two (issue "One core for every money movement")."""
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {name: lines for name, lines in sizes.items() if lines > 400} == {}
