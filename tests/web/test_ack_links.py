"""``/ack/{token}``, the signed acknowledge link a page carries (issue 12): it acknowledges as
the person paged once, only its own incident, not after ``LINK_TTL``, and never on GET.

In-process app on both stores; the links are signed exactly as the emitter signs them
(``IncidentEmitter.ack_link``), and tests/notify/test_page_ack_link.py follows a real page's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from opsbook.accounts.links import LINK_TTL, signing_key
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import Incident, service
from opsbook.incidents.records import timeline
from opsbook.notify import IncidentEmitter
from opsbook.store.audit import audit_event

PUBLIC_URL = "https://ops.example.com"
CONFIG = Config.model_validate(
    {
        "service": "t",
        "server": {"public_url": PUBLIC_URL},
        "severities": {"SEV1": {"respond_within": "15m"}},
        "oncall": {"people": {"ana": {"name": "Ana Lima"}, "ben": {"name": "Ben"}}},
    }
)


@pytest.fixture
def client(
    make_app: Callable[..., FastAPI], store_url: str, engine: Engine
) -> Iterator[TestClient]:
    # No lifespan: the store is migrated already, and no background task runs beside the test.
    yield TestClient(make_app(store_url, config=CONFIG, engine=engine))


def declare(engine: Engine, clock: FrozenClock, title: str = "Checkout down") -> Incident:
    with engine.begin() as conn:
        return service.declare(
            conn, title=title, severity="SEV1", actor="user:system", now=clock.now()
        )


def ack_path(engine: Engine, clock: FrozenClock, incident_id: int, person: str = "ana") -> str:
    """The path of the link a page to ``person`` about ``incident_id`` carries."""
    emitter = IncidentEmitter(CONFIG, clock=clock)
    with engine.begin() as conn:
        key = signing_key(conn, now=clock.now())
    url = emitter.ack_link(key, incident_id=incident_id, person=person)
    assert url.startswith(f"{PUBLIC_URL}/ack/")
    return url.removeprefix(PUBLIC_URL)


def current(engine: Engine, incident_id: int) -> Incident:
    with engine.begin() as conn:
        return service.get_incident(conn, incident_id)


def acknowledged_events(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    """(actor, origin) of each acknowledgement: the timeline's actor, the audit's origin."""
    with engine.begin() as conn:
        actors = [e.actor for e in timeline(conn, incident_id) if e.kind == "acknowledged"]
        audited = conn.execute(
            sa.select(audit_event.c.actor, audit_event.c.origin)
            .where(
                audit_event.c.action == "incident.acknowledged",
                audit_event.c.subject == f"incident:{incident_id}",
            )
            .order_by(audit_event.c.id)
        ).all()
    assert actors == [row.actor for row in audited]
    return [(row.actor, row.origin) for row in audited]


def test_get_shows_the_incident_and_a_button_and_acknowledges_nothing(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    incident = declare(engine, clock, title="Checkout <down>")
    path = ack_path(engine, clock, incident.id)
    for _ in range(3):  # a mail scanner, a chat preview, the person
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Checkout &lt;down&gt;" in page.text
        assert "SEV1" in page.text and "Investigating" in page.text
        assert '<form method="post">' in page.text
        assert ">Acknowledge</button>" in page.text
        assert "Ana Lima" in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        # No script at all; the one inline style is allowed by its hash.
        [style] = re.findall(r"<style>(.*?)</style>", page.text, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        policy = page.headers["Content-Security-Policy"]
        assert f"style-src 'sha256-{digest}'" in policy and "script-src" not in policy
        assert "<script" not in page.text
        token = path.removeprefix("/ack/")
        assert token not in page.text and token.split(".")[1] not in page.text
    assert current(engine, incident.id).acknowledged_at is None
    assert acknowledged_events(engine, incident.id) == []


def test_the_link_acknowledges_once_as_the_person_paged(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    incident = declare(engine, clock)
    path = ack_path(engine, clock, incident.id)
    clock.advance(timedelta(minutes=3))
    done = client.post(path)
    assert done.status_code == 200, done.text
    assert "<h1>Acknowledged</h1>" in done.text
    assert current(engine, incident.id).acknowledged_at == clock.now()
    # Ana has no account: pages go to whoever is on call, and the link acts as her anyway.
    assert acknowledged_events(engine, incident.id) == [("user:ana", "link testclient")]

    clock.advance(timedelta(minutes=1))
    again = client.post(path)
    assert again.status_code == 410
    assert "was already used" in again.text and 'href="/login"' in again.text
    assert "Traceback" not in again.text
    assert path.removeprefix("/ack/") not in again.text
    assert current(engine, incident.id).acknowledged_at == clock.now() - timedelta(minutes=1)
    assert len(acknowledged_events(engine, incident.id)) == 1


def test_a_link_cannot_act_on_another_incident(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    a = declare(engine, clock, title="A")
    b = declare(engine, clock, title="B")
    body, signature = ack_path(engine, clock, a.id).removeprefix("/ack/").split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert payload["i"] == a.id
    payload["i"] = b.id
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    for method in ("GET", "POST"):
        answer = client.request(method, f"/ack/{forged}.{signature}")
        assert answer.status_code == 410
        assert "not valid" in answer.text
        assert forged not in answer.text and signature not in answer.text
    assert current(engine, b.id).acknowledged_at is None
    assert current(engine, a.id).acknowledged_at is None


def test_a_link_does_not_work_after_it_expires(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    incident = declare(engine, clock)
    path = ack_path(engine, clock, incident.id)
    clock.advance(LINK_TTL)
    for method in ("GET", "POST"):
        answer = client.request(method, path)
        assert answer.status_code == 410
        assert "expired" in answer.text
    assert current(engine, incident.id).acknowledged_at is None


@pytest.mark.parametrize(
    "token",
    ["not-a-link", "e30.AAAA", "%00", "a" * 2000, "eyJhIjoiYWNrIn0.x"],
    ids=["words", "empty-payload", "nul", "long", "bad-signature"],
)
def test_a_mistyped_or_forged_link_is_a_clear_page_not_a_traceback(
    client: TestClient, token: str
) -> None:
    for method in ("GET", "POST"):
        answer = client.request(method, f"/ack/{token}")
        assert answer.status_code == 410
        assert answer.headers["content-type"].startswith("text/html")
        assert "this link is not valid" in answer.text
        assert token not in answer.text


def test_an_already_acknowledged_incident_is_said_and_the_link_stays_unused(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    incident = declare(engine, clock)
    path = ack_path(engine, clock, incident.id)
    with engine.begin() as conn:
        service.acknowledge(conn, incident.id, actor="user:ben", now=clock.now())
    page = client.get(path)
    assert page.status_code == 200
    assert "already acknowledged" in page.text and "<form" not in page.text
    refused = client.post(path)
    assert refused.status_code == 409
    assert "already acknowledged" in refused.text
    assert acknowledged_events(engine, incident.id) == [("user:ben", "system")]


def test_a_link_for_an_incident_that_no_longer_exists_is_a_404_page(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    path = ack_path(engine, clock, 987654)
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
