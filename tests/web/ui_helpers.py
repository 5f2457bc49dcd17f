"""An app with accounts, for the UI tests: its store is migrated and seeded before the app is
built, and the lifespan is not run (no probe fires; the frozen clock rules)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
CONFIG: dict[str, Any] = {
    "service": "shop",
    "checks": {
        "api": {
            "http": {"url": "http://127.0.0.1:1/healthz"},
            "every": "30s",
            "slo": {"p95": "50ms", "availability": "99.9%"},
        },
        "db": {"tcp": {"host": "127.0.0.1", "port": 1}, "every": "1m"},
    },
    "oncall": {
        "people": {"ana": {"name": "Ana Silva"}, "ben": {"name": "Ben Okafor"}},
        "schedules": {"primary": {"layers": [{"rotation": "weekly", "people": ["ana", "ben"]}]}},
    },
}


def migrate(url: str, *, people: dict[str, Role] | None = None) -> dict[str, str]:
    """Migrate the store at ``url`` and give each of ``people`` an account with ``PASSWORD``
    (ana: admin by default). Returns a setup secret for ben when he is not among them."""
    people = {"ana": Role.ADMIN} if people is None else people
    engine = create_engine(url)
    setups: dict[str, str] = {}
    try:
        upgrade(engine)
        with engine.begin() as conn:
            for person, role in people.items():
                accounts.add_account(
                    conn,
                    person=person,
                    role=role,
                    people=CONFIG["oncall"]["people"],
                    now=NOW,
                    password=PASSWORD,
                )
            if "ben" not in people:
                setup = accounts.add_account(
                    conn, person="ben", role=Role.VIEWER, people=["ben"], now=NOW
                )
                assert setup is not None
                setups["ben"] = setup
    finally:
        engine.dispose()
    return setups


def ui_client(url: str, *, config: dict[str, Any] | None = None) -> Iterator[TestClient]:
    app = create_app(
        Config.model_validate(config or CONFIG),
        environ={"OPSBOOK_DATABASE_URL": url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    try:
        yield TestClient(app, base_url="http://testserver", follow_redirects=False)
    finally:
        app.state.services.engine.dispose()


ORIGIN = {"Origin": "http://testserver"}


def log_in(client: TestClient, person: str = "ana", password: str = PASSWORD) -> None:
    """Log in through the form (no page is rendered: the overview keeps its figures a while)."""
    response = client.post(
        "/login", data={"person": person, "password": password, "next": "/"}, headers=ORIGIN
    )
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)
