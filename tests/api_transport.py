"""The CLI's requests sent to an app in-process, for tests outside tests/cli that build their
own app and then run a command against it (tests/cli/conftest.py's ``cli_api`` builds one for
you). ``serve_cli(client, monkeypatch)`` gives the app a responder token in ``$OPSBOOK_TOKEN``
and returns the transport to pass to ``run_cli(..., transport=...)``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.cli.client import Answer, Transport


def serve_cli(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, *, role: Role = Role.RESPONDER
) -> Transport:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    monkeypatch.setenv("OPSBOOK_TOKEN", grant(engine, role, name="cli-test"))

    def transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Answer:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        # The server's log lines would land in the CLI's captured stdout: keep them aside.
        with capture_logs():
            answer = client.request(method, target, headers=dict(headers), content=body)
        return Answer(answer.status_code, dict(answer.headers), answer.content)

    return transport
