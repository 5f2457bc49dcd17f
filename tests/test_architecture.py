"""The import rules of STYLE.md R1/R5, checked on the source tree (DESIGN.md's one-way flow)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "opsbook"
ROOT_HELPERS = {
    "opsbook",
    "opsbook.errors",
    "opsbook.clock",
    "opsbook.redaction",
    "opsbook.types",
    "opsbook.tasks",
    "opsbook.textsafe",
}
EDGE = ("fastapi", "starlette", "typer", "click", "uvicorn", "opsbook.web", "opsbook.cli")
# What each domain may import from opsbook besides the root helpers (its earlier stages).
ALLOWED: dict[str, tuple[str, ...]] = {
    "config": (),
    "store": ("opsbook.config",),
    "checks": ("opsbook.config", "opsbook.store"),
    "demo": (),
    "alerts": ("opsbook.config", "opsbook.store", "opsbook.checks"),
    "incidents": ("opsbook.config", "opsbook.store", "opsbook.alerts", "opsbook.oncall"),
    "notify": (
        "opsbook.config",
        "opsbook.store",
        "opsbook.alerts",
        "opsbook.incidents",
        "opsbook.accounts",
    ),
    "oncall": ("opsbook.config",),
    "accounts": ("opsbook.config", "opsbook.store"),
    "statuspage": (
        "opsbook.config",
        "opsbook.store",
        "opsbook.checks",
        "opsbook.alerts",
        "opsbook.incidents",
        # Subscribers: updates go out through notify's outbox, unsubscribe links are signed
        # with accounts' server key (notify never imports statuspage, so the flow stays one-way).
        "opsbook.notify",
        "opsbook.accounts",
    ),
    "runbooks": (
        "opsbook.config",
        "opsbook.store",
        "opsbook.alerts",
        "opsbook.incidents",
        "opsbook.notify",
        "opsbook.accounts",
    ),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _domain_files() -> list[tuple[str, Path]]:
    return [
        (domain, path)
        for domain in sorted(ALLOWED)
        for path in sorted((SRC / domain).rglob("*.py"))
        if "migrations" not in path.parts or path.name == "env.py"
    ]


@pytest.mark.parametrize(("domain", "path"), _domain_files(), ids=lambda v: str(v))
def test_domains_import_only_earlier_stages_and_never_the_edges(domain: str, path: Path) -> None:
    own = f"opsbook.{domain}"
    allowed = (own, *ALLOWED[domain])
    for name in _imports(path):
        assert not name.startswith(EDGE), f"{path.relative_to(SRC)} imports {name} (an edge)"
        if name.startswith("opsbook"):
            ok = name in ROOT_HELPERS or any(name == a or name.startswith(a + ".") for a in allowed)
            assert ok, f"{path.relative_to(SRC)} imports {name}; {domain} may import {allowed}"


def test_every_domain_in_the_tree_has_import_rules() -> None:
    domains = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert domains - {"web", "cli"} == set(ALLOWED)


def _packages_with_all() -> list[str]:
    found = []
    for init in sorted(SRC.rglob("__init__.py")):
        tree = ast.parse(init.read_text())
        if any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
            for n in tree.body
        ):
            found.append(".".join(init.relative_to(SRC.parent).parent.parts))
    return found


@pytest.mark.parametrize("package", _packages_with_all())
def test_public_surface_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names), f"{package}.__all__ is not sorted"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ lists names it does not define: {missing}"


def test_no_two_test_files_share_a_name() -> None:
    # Without __init__.py files pytest imports tests by basename; a second test_engine.py in
    # another folder stops collection with "import file mismatch".
    tests = Path(__file__).resolve().parent
    seen: dict[str, Path] = {}
    for path in sorted(tests.rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a name"
        seen[path.name] = path


# Where the wall clock may be read: the clock itself, and the edges that build the one clock
# the rest receives (``opsbook serve``'s runner and the CLI's ``main``). Everything else takes
# "now" from an injected Clock, so what it shows ("due 12:15 (in 9m)") is testable on any day.
WALL_CLOCK_READERS = {"clock.py", "cli/app.py", "cli/context.py"}


def _reads_wall_clock(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            base = node.value
            if isinstance(base, ast.Name) and base.id in {"datetime", "date", "SYSTEM_CLOCK"}:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {base.id}.{node.attr}")
    return found


def test_only_the_edges_read_the_wall_clock() -> None:
    readers = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if str(path.relative_to(SRC)) not in WALL_CLOCK_READERS
        for hit in _reads_wall_clock(path)
    ]
    assert readers == [], "take now from an injected Clock instead:\n" + "\n".join(readers)
