"""The CLI talks to the server's API (issue 12); here the server is the real app, in-process.

``cli_api(config_path)`` builds the app ``opsbook serve --config config_path`` would build (same
config, same store rule, a frozen clock at ``CLI_NOW``), starts it, makes a token with ``role``
(``$OPSBOOK_TOKEN``), and returns a ``ServedApi`` whose ``run(*args)`` runs the real CLI entry
point with its requests sent to that app. Only the socket is skipped; tests/e2e drive the CLI
against a real ``opsbook serve``.

The served app's own alert engine is held (``hold_alert_engine``): these tests write alerts
straight into the store to see what the CLI shows, and a pass of the engine would judge them
(resolve those of a rule not in the config, or with no episode behind them) before the CLI
reads them, in full runs only. What the engine decides is tests/alerts' subject.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from alert_helpers import hold_alert_engine
from auth_helpers import grant
from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.cli.client import Answer
from opsbook.cli.stores import store_target
from opsbook.clock import FrozenClock
from opsbook.config import load
from opsbook.web import create_app


@dataclass
class ServedApi:
    client: TestClient
    clock: FrozenClock
    token: str
    _run: Callable[..., Any]
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.client.app.state.services.engine  # type: ignore[attr-defined,no-any-return]

    def transport(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.requests.append((method, target))
        answer = self.client.request(method, target, headers=dict(headers), content=body)
        return Answer(answer.status_code, dict(answer.headers), answer.content)

    def run(self, *args: str) -> Any:
        """``opsbook ARGS`` against this server, with the CLI's clock at the server's now."""
        return self._run(*args, clock=self.clock, transport=self.transport)


@pytest.fixture
def cli_api(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ServedApi]]:
    started: list[TestClient] = []
    # The server's log lines would land in the CLI's captured stdout: keep them aside.
    logs = capture_logs()
    logs.__enter__()

    def start(
        config: Path, *, role: Role = Role.ADMIN, environ: Mapping[str, str] | None = None
    ) -> ServedApi:
        env = dict(environ or {})
        loaded = load(config, environ=env)
        url = store_target(loaded, config=config, environ=env).url.reveal()
        clock = FrozenClock(CLI_NOW)
        app = create_app(loaded, environ={"OPSBOOK_DATABASE_URL": url}, clock=clock)
        # Held before the start: the start's first pass, begun in a thread, could otherwise
        # take the lock after the hold's wait and judge the alerts a test writes next.
        hold_alert_engine(app, monkeypatch)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        started.append(client)
        token = grant(app.state.services.engine, role, name="cli-test")
        monkeypatch.setenv("OPSBOOK_TOKEN", token)
        return ServedApi(client=client, clock=clock, token=token, _run=run_cli)

    yield start
    for client in started:
        client.__exit__(None, None, None)
        client.app.state.services.engine.dispose()  # type: ignore[attr-defined]
    logs.__exit__(None, None, None)
