"""Browser tests: Debian's chromium driven by Playwright against a real ``opsbook serve``.

One browser per session and one server per module keep the suite cheap. The server's store is
migrated and given an admin with a known password before it starts (through the accounts
service, as ``opsbook user add`` does). Its one HTTP check probes a ``Target`` the test can make
fail. axe-core comes from the npm registry (``npm pack``) into a cache outside the repo.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(scripts/ensure-system.sh installs it). Without chromium or Playwright the tests skip, except
under CI, where a missing install step must fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import admin_server

from paging_servers import Target
from serving import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
AXE_SPEC = "axe-core@4"

pytestmark = pytest.mark.slow


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (make system / pip install -e '.[dev]')")
    pytest.skip(f"{what} is not installed")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium, launched for each test. Not longer: Playwright's sync API keeps an event loop
    running in the thread while it lives, and on an xdist worker the next test may be any other
    test, whose asyncio runner then fails ("Runner.run() cannot be called from a running event
    loop")."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright")
    if not Path(CHROMIUM).exists():
        _missing(CHROMIUM)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js of the newest axe-core 4.x, fetched once into the user's cache folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "opsbook-tests"
    script = cache / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            # npm pack checks the tarball against the registry's integrity before writing it.
            name = (
                subprocess.run(
                    [str(npm), "pack", "--silent", AXE_SPEC],
                    cwd=work,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            with tarfile.open(Path(work) / name) as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                partial = cache / "axe.min.js.part"
                partial.write_bytes(member.read())
                partial.replace(script)
    return script.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    found = Target()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, target: Target) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    with admin_server(
        folder,
        f"""
service: shop
checks:
  web:
    http: {{url: "{target.url}"}}
    every: 1s
    timeout: 500ms
    slo: {{p95: 200ms, availability: 99.9%}}
  payments:
    tcp: {{host: 127.0.0.1, port: 9}}
    every: 1h
oncall:
  people:
    ana: {{name: Ana Admin}}
  schedules:
    primary: {{layers: [{{rotation: weekly, people: [ana]}}]}}
""",
    ) as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    # A CSP violation or a script error; a 4xx the test asked for (a wrong password's 401) is
    # logged as "Failed to load resource" and is not a problem.
    problems: list[str] = []
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()
