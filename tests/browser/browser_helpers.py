"""Helpers the browser tests import by name (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.store import create_engine, upgrade
from serving import Server, serve_env

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ADMIN = "ana"
PASSWORD = "browser-test-password"


@contextlib.contextmanager
def admin_server(folder: Path, config: str, *, store_url: str | None = None) -> Iterator[Server]:
    """``opsbook serve`` of ``config`` (written to ``folder/opsbook.yaml``) on ``store_url``
    (default: a SQLite file in ``folder``), migrated first with an admin account for ``ADMIN``;
    stopped at the end, which must be clean (exit 0)."""
    url = store_url or f"sqlite:///{folder / 'opsbook.db'}"
    path = folder / "opsbook.yaml"
    path.write_text(config, encoding="utf-8")
    engine = create_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            accounts.add_account(
                conn,
                person=ADMIN,
                role=Role.ADMIN,
                people=[ADMIN],
                now=datetime.now(UTC),
                password=PASSWORD,
            )
    finally:
        engine.dispose()
    running = Server(path, env=serve_env(url), log_path=folder / "serve.log")
    try:
        yield running
    finally:
        # Pages may still listen to /ui/events: their streams end by themselves.
        code = running.stop()
        running.close()
        assert code == 0, "".join(running.lines[-30:])


# The page and every table's wrapper, at the width shown: what would scroll sideways.
_SIDEWAYS = """() => [document.documentElement, ...document.querySelectorAll('.table-wrap')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.id || e.getAttribute('aria-label') || e.tagName}:`
    + ` ${e.scrollWidth} > ${e.clientWidth} px`)"""


def screenshots(page: Any, name: str) -> None:
    """``name``-1280.png and ``name``-360.png (full page) into tests/browser/artifacts/, and
    at each width neither the page nor a table scrolls sideways (a phone shows it all)."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    sideways = {}
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        if found := page.evaluate(_SIDEWAYS):
            sideways[width] = found
    page.set_viewport_size(size)
    assert not sideways, f"{name} scrolls sideways: {sideways}"


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
