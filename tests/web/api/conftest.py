"""An app with configured checks and a seeded store; the lifespan is not run, so no probe fires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import authorize
from opsbook.accounts import Role
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SECRET = "S3cretPw-9z"  # the same as tests/web/conftest.py's ``secret`` fixture
CONFIG = {
    "service": "shop",
    "checks": {
        "api": {
            "http": {"url": "http://127.0.0.1:1/healthz"},
            "every": "30s",
            "slo": {"p95": "50ms", "availability": "99.9%"},
        },
        "db": {"postgres": {"dsn": f"postgresql://app:{SECRET}@127.0.0.1:1/app"}, "every": "1m"},
    },
}


def seed(url: str) -> None:
    """api: 24 h every 30 s, 20 ms, down for 10 minutes 2 h ago. db: no results."""
    engine = create_engine(url)
    try:
        upgrade(engine)
        start = NOW - timedelta(hours=24)
        results = []
        for i in range(24 * 120):
            at = start + i * timedelta(seconds=30)
            down = NOW - timedelta(hours=2) <= at < NOW - timedelta(hours=2) + timedelta(minutes=10)
            results.append(
                ProbeResult(
                    check_id="api",
                    started_at=at,
                    state=State.DOWN if down else State.UP,
                    latency_ms=2000.0 if down else 20.0,
                    error="connect to 127.0.0.1:1 timed out after 1s" if down else None,
                    status=None if down else 200,
                )
            )
        with engine.begin() as conn:
            service.record_results(conn, results=results, intervals={"api": timedelta(seconds=30)})
    finally:
        engine.dispose()


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:
    seed(store_url)
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    yield authorize(TestClient(app), Role.VIEWER)
    app.state.services.engine.dispose()
