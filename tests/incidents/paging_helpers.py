"""A config with a paging policy, a recording emitter and pass helpers for the escalation and
reaction tests (the EmitIncident protocol is the incidents domain's own, so recording what it is
given is the contract)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.config import Config
from opsbook.incidents import records, service
from opsbook.incidents.escalation import list_escalations
from opsbook.incidents.loop import PassReport, run_pass
from opsbook.incidents.models import Escalation, IncidentNotice
from opsbook.incidents.tables import incident_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return NOW + timedelta(minutes=n)


def hook(path: str) -> dict[str, Any]:
    return {"webhook": {"url": f"http://127.0.0.1:1/{path}"}}


def make_config(**overrides: Any) -> Config:
    return Config.model_validate(config_body(**overrides))


def config_body(**overrides: Any) -> dict[str, Any]:
    """The raw config (``make_config``'s input), e.g. to write as YAML for the CLI."""
    body: dict[str, Any] = {
        "service": "shop",
        "timezone": "UTC",
        "channels": {
            "pager": hook("pager"),
            "email": {"smtp": {"to": "oncall@shop.example"}},
            "ops-room": hook("ops"),
            "status": hook("status"),
        },
        "severities": {
            "SEV1": {
                "respond_within": "15m",
                "page": True,
                "escalation": "default",
                "notify": ["status"],
            },
            "SEV2": {"respond_within": "1h", "page": True, "escalation": "short"},
            "SEV3": {"respond_within": "4h", "notify": ["status"]},
            "SEV4": {"respond_within": "1d"},
        },
        "oncall": {
            "people": {
                "ana": {"name": "Ana", "email": "ana@shop.example", "notify": ["pager", "email"]},
                "ben": {"name": "Ben", "notify": ["pager"]},
                "cto": {"name": "CTO", "notify": ["pager"]},
            },
            "schedules": {
                "l1": {
                    "rotation": "weekly",
                    "handoff": "mon 09:00",
                    "people": ["ana"],
                    # Ben takes over at 12:10: level 1's second round (12:15) pages him.
                    "overrides": [
                        {"person": "ben", "start": "2026-11-23T12:10", "end": "2026-11-23T13:00"}
                    ],
                }
            },
            "escalation": {
                "default": {
                    "levels": [
                        {"notify": ["schedule:l1"], "wait": "5m"},
                        {"notify": ["person:cto", "channel:ops-room"], "wait": "10m"},
                    ],
                    "repeat": 1,
                },
                "short": [{"notify": ["person:ana"]}],
            },
        },
    }
    body.update(overrides)
    return body


class Recorder:
    """An ``EmitIncident`` that keeps what it is given, pass by pass."""

    def __init__(self) -> None:
        self.calls: list[list[IncidentNotice]] = []

    def __call__(self, conn: Connection, notices: Sequence[IncidentNotice]) -> None:
        self.calls.append(list(notices))

    @property
    def notices(self) -> list[IncidentNotice]:
        return [n for call in self.calls for n in call]

    def take(self) -> list[IncidentNotice]:
        found = self.notices
        self.calls.clear()
        return found

    def pages(self) -> list[tuple[int, int, str, str]]:
        """(level, round, person or "-", channel) of the pages, taking them."""
        return [
            (
                n.page.level if n.page else 0,
                n.page.round if n.page else 0,
                n.person.id if n.person else "-",
                n.channel,
            )
            for n in self.take()
            if n.kind == "page"
        ]


def passes(engine: Engine, config: Config, emit: Recorder, at: datetime) -> PassReport:
    return run_pass(engine, config=config, emit=emit, now=at)


def declare(engine: Engine, severity: str = "SEV1", at: datetime = NOW) -> int:
    with engine.begin() as conn:
        return service.declare(
            conn, title="Checkout down", severity=severity, actor="user:ana", now=at
        ).id


def escalations(engine: Engine, incident_id: int) -> list[Escalation]:
    with engine.begin() as conn:
        return list_escalations(conn, incident_id)


def kinds(engine: Engine, incident_id: int, *only: str) -> list[str]:
    with engine.begin() as conn:
        events = records.timeline(conn, incident_id)
    return [e.kind for e in events if not only or e.kind in only]


def messages(engine: Engine, incident_id: int, kind: str) -> list[str]:
    with engine.begin() as conn:
        return [e.message for e in records.timeline(conn, incident_id) if e.kind == kind]


def unhandled(engine: Engine) -> int:
    with engine.begin() as conn:
        query = sa.select(sa.func.count()).where(incident_event.c.handled_at.is_(None))
        return int(conn.execute(query).scalar() or 0)
