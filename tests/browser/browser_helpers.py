"""Helpers the browser tests import by name (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ADMIN = "ana"
PASSWORD = "browser-test-password"


def screenshots(page: Any, name: str) -> None:
    """``name``-1280.png and ``name``-360.png (full page) into tests/browser/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def assert_accessible(page: Any, axe_source: str) -> None:
    """axe-core finds no serious or critical violation on the page as it is now.

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so
    the policy under test stays on.
    """
    page.evaluate(axe_source)
    result = page.evaluate("async () => await axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, "\n".join(bad)
