"""A real page carries a working acknowledge link (issue 12): an escalation pages Ana by email,
the outbox row's body holds ``{public_url}/ack/<token>``, and POSTing that link to the app
acknowledges the incident as Ana and stops the escalation. A page to a channel named directly
(no person) carries none: the link must act as someone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import list_escalations, service
from opsbook.incidents.loop import run_pass
from opsbook.notify import IncidentEmitter
from opsbook.notify.tables import notification
from opsbook.web import create_app

PUBLIC_URL = "https://ops.example.com"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LINK = re.compile(r"^or in one click: (\S+)$", re.M)
CONFIG = Config.model_validate(
    {
        "service": "shop",
        "server": {"public_url": PUBLIC_URL},
        "channels": {"email": {"smtp": {"to": "oncall@shop.example"}}},
        "severities": {"SEV1": {"respond_within": "15m", "page": True, "escalation": "default"}},
        "oncall": {
            "people": {"ana": {"name": "Ana", "email": "ana@shop.example", "notify": ["email"]}},
            "escalation": {
                "default": {
                    "levels": [{"notify": ["person:ana", "channel:email"], "wait": "5m"}],
                    "repeat": 1,
                }
            },
        },
    }
)


def _states(engine: Engine, incident_id: int) -> list[str]:
    with engine.begin() as conn:
        return [e.state for e in list_escalations(conn, incident_id)]


def _email_pages(engine: Engine) -> dict[str | None, str]:
    """The body of each email page in the outbox, by the paged person's id (None: the channel)."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(notification.c.payload).where(
                notification.c.kind == "page", notification.c.channel == "email"
            )
        ).all()
    return {(row.payload["person"] or {}).get("id"): row.payload["body"] for row in rows}


def test_a_page_carries_a_link_that_acknowledges_as_the_person_paged(engine: Engine) -> None:
    config = CONFIG
    clock = FrozenClock(NOW)
    with engine.begin() as conn:
        incident_id = service.declare(
            conn, title="Checkout down", severity="SEV1", actor="user:ben", now=NOW
        ).id
    for _ in range(2):  # the first pass starts the escalation; a page may take one more
        run_pass(engine, config=config, emit=IncidentEmitter(config, clock=clock), now=NOW)
    pages = _email_pages(engine)
    assert set(pages) == {"ana", None}
    assert LINK.search(pages[None]) is None and "/ack/" not in pages[None]
    [url] = LINK.findall(pages["ana"])
    assert url.startswith(f"{PUBLIC_URL}/ack/")
    assert _states(engine, incident_id) == ["active"]

    clock.advance(timedelta(minutes=2))
    app = create_app(config, engine=engine, clock=clock, registry=CollectorRegistry())
    client = TestClient(app)  # no lifespan: the store is migrated, the test runs the passes
    answer = client.post(url.removeprefix(PUBLIC_URL))
    assert answer.status_code == 200, answer.text
    with engine.begin() as conn:
        found = service.get_incident(conn, incident_id)
    assert found.acknowledged_at == clock.now()

    run_pass(engine, config=config, emit=IncidentEmitter(config, clock=clock), now=clock.now())
    assert _states(engine, incident_id) == ["acknowledged"]
    assert client.post(url.removeprefix(PUBLIC_URL)).status_code == 410
