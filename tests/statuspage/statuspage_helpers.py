"""A shop with three public components (one in a group), an internal one, and a maintenance
window on the database (``shop_config``), and ``Shop``, which writes its history to a store.

Imported by name (``from statuspage_helpers import ...``), not from ``conftest``: with several
test folders in one run, ``conftest`` is whichever folder's was imported first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from opsbook.checks import ProbeResult, State
from opsbook.checks.service import record_results
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import IncidentStatus, service
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.snapshot import Snapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW_START = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def not_probed(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with every check a heartbeat not due for an hour: an app serving it never
    judges a check by itself (its probes of these hosts, which do not resolve here, would
    change the page between two renderings a test compares)."""
    quiet = {name: {"heartbeat": {"period": "1h", "grace": "1h"}} for name in raw["checks"]}
    return {**raw, "checks": quiet}


def shop_config(**status_page: Any) -> dict[str, Any]:
    return {
        "service": "shop",
        "components": {
            "web": {"name": "Website", "group": "Storefront", "checks": ["web-http"]},
            "api": {
                "name": "API",
                "description": "Orders and payments",
                "checks": ["api-http", "api-tcp"],
            },
            "db": {"name": "Database", "checks": ["pg"]},
            "internal": {"name": "Internal tools", "checks": ["tools"]},
        },
        "checks": {
            "web-http": {"http": {"url": "https://shop.example/"}, "every": "30s"},
            "api-http": {"http": {"url": "https://shop.example/api/health"}, "every": "30s"},
            "api-tcp": {"tcp": {"host": "shop.example", "port": 443}, "every": "30s"},
            "pg": {"tcp": {"host": "db.shop.example", "port": 5432}, "every": "30s"},
            "tools": {"tcp": {"host": "tools.shop.example", "port": 22}, "every": "30s"},
        },
        "maintenance": {
            "db-upgrade": {
                "start": WINDOW_START.isoformat(),
                "end": WINDOW_END.isoformat(),
                "components": ["db"],
                "description": "Database upgrade to PostgreSQL 17",
            }
        },
        "status_page": {
            "title": "Shop status",
            "components": ["web", "api", "db"],
            "base_url": "https://status.shop.example/",
            **status_page,
        },
    }


class Shop:
    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.config = config
        self.clock = FrozenClock(NOW)

    def snapshot(self) -> Snapshot:
        return build_snapshot(self.engine, self.config, self.clock)

    def results(
        self, check_id: str, states: Sequence[str], *, start: datetime, every_s: int = 30
    ) -> None:
        results = [
            ProbeResult(
                check_id=check_id,
                started_at=start + timedelta(seconds=every_s * i),
                state=State(s),
                latency_ms=12.0,
            )
            for i, s in enumerate(states)
        ]
        with self.engine.begin() as conn:
            record_results(conn, results=results, intervals={check_id: timedelta(seconds=every_s)})

    def declare(
        self, *, component: str | None = "api", severity: str = "SEV2", summary: str = ""
    ) -> int:
        with self.engine.begin() as conn:
            return service.declare(
                conn,
                title="Checkout errors",
                severity=severity,
                actor="user:ana",
                now=self.clock.now(),
                summary=summary,
                component=component,
            ).id

    def update(self, incident_id: int, status: IncidentStatus, message: str, **fields: str) -> None:
        with self.engine.begin() as conn:
            service.update(
                conn,
                incident_id,
                status=status,
                message=message,
                actor="user:ana",
                now=self.clock.now(),
                fields=fields,
            )

    def note(self, incident_id: int, message: str) -> None:
        with self.engine.begin() as conn:
            service.add_note(
                conn, incident_id, message=message, actor="user:ben", now=self.clock.now()
            )
