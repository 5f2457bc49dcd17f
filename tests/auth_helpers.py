"""API tokens for tests: every /api/v1 route needs one since issue 12 (docs/permissions.md).

``grant`` makes an automation token with ``role`` straight in the store (as `opsbook token
create` does), ``authorize`` puts it on a TestClient's default headers. The store must be migrated
first (a TestClient that has started the app has migrated it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from opsbook.accounts import Role
from opsbook.accounts import service as accounts

MADE_AT = datetime(2020, 1, 1, tzinfo=UTC)
"""Tokens are made long before any test's clock, and never expire."""


def grant(engine: Engine, role: Role = Role.ADMIN, *, name: str = "test") -> str:
    """A new automation token with ``role`` (its actor is ``token:<name>``)."""
    with engine.begin() as conn:
        _, secret = accounts.create_token(
            conn,
            name=name,
            role=role,
            person=None,
            expires_at=None,
            created_by="tests",
            now=MADE_AT,
        )
    return secret


def authorize(client: TestClient, role: Role = Role.ADMIN, *, name: str = "test") -> TestClient:
    """``client`` sending a new ``role`` token with every request; returns ``client``."""
    engine: Engine = client.app.state.services.engine  # type: ignore[attr-defined]
    client.headers["Authorization"] = f"Bearer {grant(engine, role, name=name)}"
    return client
