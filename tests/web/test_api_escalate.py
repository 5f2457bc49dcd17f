"""``POST /api/v1/incidents/{id}/escalate`` on both store backends: a responder's request is
on the timeline and in the audit trail; a viewer's is refused and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = {
    "service": "shop",
    "channels": {"pager": {"webhook": {"url": "http://127.0.0.1:9/pager"}}},
    "severities": {
        "SEV1": {"respond_within": "15m", "page": True, "escalation": "default"},
        "SEV3": {"respond_within": "4h"},
    },
    "oncall": {
        "people": {"ana": {"name": "Ana", "notify": ["pager"]}},
        "escalation": {"default": [{"notify": ["person:ana"]}]},
    },
}


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    """The API as a responder token; ``client.viewer`` is a viewer token's secret."""
    engine = create_engine(store_url)
    upgrade(engine)
    tokens = {role: grant(engine, role, name=role.value) for role in (Role.RESPONDER, Role.VIEWER)}
    engine.dispose()
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {tokens[Role.RESPONDER]}"
    client.viewer = tokens[Role.VIEWER]  # type: ignore[attr-defined]
    yield client
    app.state.services.engine.dispose()


def declare(client: TestClient, severity: str) -> int:
    response = client.post("/api/v1/incidents", json={"title": "Breach?", "severity": severity})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_responder_escalates_and_it_is_audited(client: TestClient, store_url: str) -> None:
    first = declare(client, "SEV1")
    response = client.post(f"/api/v1/incidents/{first}/escalate", json={"reason": "data leak"})
    assert response.status_code == 200, response.text
    timeline = response.json()["timeline"]
    assert [(e["kind"], e["message"]) for e in timeline if e["kind"] == "escalate"] == [
        ("escalate", "escalation asked for: data leak")
    ]
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            assert ("incident.escalate", "token:responder") in [
                (a.action, a.actor) for a in list_audit(conn)
            ]
    finally:
        engine.dispose()


def test_a_viewer_a_bad_body_and_a_severity_without_a_policy_are_refused(
    client: TestClient,
) -> None:
    first, third = declare(client, "SEV1"), declare(client, "SEV3")
    viewer = {"Authorization": f"Bearer {client.viewer}"}  # type: ignore[attr-defined]
    path = f"/api/v1/incidents/{first}/escalate"
    assert client.post(path, json={"reason": "x"}, headers=viewer).status_code == 403
    unknown = client.post(path, json={"reason": "x", "level": 3})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "$.level")
    blank = client.post(path, json={"reason": " "})
    assert (blank.status_code, blank.json()["error"]["field"]) == (400, "$.reason")
    no_policy = client.post(f"/api/v1/incidents/{third}/escalate", json={"reason": "x"})
    assert no_policy.status_code == 409
    assert "SEV3, which has no escalation policy" in no_policy.json()["error"]["message"]
    for incident_id in (first, third):
        shown = client.get(f"/api/v1/incidents/{incident_id}").json()
        assert "escalate" not in [e["kind"] for e in shown["timeline"]]
