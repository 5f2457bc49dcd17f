"""/api/v1/incidents on both store backends: list, show, declare and each lifecycle action."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from alert_helpers import open_rule_alert
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = {"service": "shop"}


class Api:
    def __init__(self, client: TestClient, url: str, clock: FrozenClock) -> None:
        self.client, self.url, self.clock = client, url, clock

    def declare(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Checkout down", "severity": "SEV1", **fields}
        response = self.client.post("/api/v1/incidents", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def act(self, incident_id: int, action: str, **body: Any) -> Any:
        return self.client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body)

    def fire(self, rule: str) -> int:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                return open_rule_alert(conn, rule, check="api", now=NOW - timedelta(minutes=1))
        finally:
            engine.dispose()

    def audit(self) -> list[tuple[str, str]]:
        """(action, actor) of every audit entry, oldest first."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                return [(a.action, a.actor) for a in reversed(list_audit(conn))]
        finally:
            engine.dispose()


def person_token(app: FastAPI, person: str) -> str:
    """A responder token of ``person``'s (who gets a responder account): it acts as
    ``user:<person>``."""
    with app.state.services.engine.begin() as conn:
        accounts.add_account(conn, person=person, role=Role.RESPONDER, people=[person], now=NOW)
        _, secret = accounts.create_token(
            conn,
            name=person,
            role=Role.RESPONDER,
            person=person,
            expires_at=None,
            created_by="tests",
            now=NOW,
        )
    return secret


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    """The API as ana, a responder: who declares and acts is her token's person."""
    engine = create_engine(store_url)
    upgrade(engine)
    engine.dispose()
    clock = FrozenClock(NOW)
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=clock,
        registry=CollectorRegistry(),
    )
    client = TestClient(app, headers={"Authorization": f"Bearer {person_token(app, 'ana')}"})
    yield Api(client, store_url, clock)
    app.state.services.engine.dispose()


def test_it_declares_an_incident_with_alerts_and_shows_its_timeline(api: Api) -> None:
    fired = api.fire("site-down")
    created = api.declare(summary="500s", alert_ids=[fired])
    assert created == {
        "id": created["id"],
        "title": "Checkout down",
        "severity": "SEV1",
        "status": "investigating",
        "summary": "500s",
        "declared_at": "2026-11-22T12:00:00Z",
        "declared_by": "user:ana",
        "acknowledged_at": None,
        "mitigated_at": None,
        "resolved_at": None,
        "commander": None,
        "comms": None,
        "component": None,
        "merged_into": None,
        "alert_ids": [fired],
        "time_to_acknowledge_s": None,
        "time_to_mitigate_s": None,
        "time_to_resolve_s": None,
        # SEV1's default respond_within is 15m, and the test clock stands at the declaration.
        "response": {"target_s": 900, "due_at": "2026-11-22T12:15:00Z", "state": "due"},
        "escalations": [],
        "timeline": created["timeline"],
    }
    assert [(e["kind"], e["message"], e["at"]) for e in created["timeline"]] == [
        ("alert_firing", "alert site-down firing", "2026-11-22T11:59:00Z"),
        ("declared", "declared SEV1: Checkout down", "2026-11-22T12:00:00Z"),
    ]
    shown = api.client.get(f"/api/v1/incidents/{created['id']}")
    assert shown.status_code == 200
    assert shown.json() == created
    listed = api.client.get("/api/v1/incidents").json()["incidents"]
    assert [i["id"] for i in listed] == [created["id"]]


def test_each_action_changes_the_incident_and_is_audited(api: Api) -> None:
    first = api.declare()["id"]
    other = api.declare(title="DB slow")["id"]
    api.clock.advance(timedelta(minutes=3))
    steps: list[tuple[str, dict[str, Any]]] = [
        ("ack", {}),
        ("roles", {"role": "commander", "person": "ben"}),
        ("severity", {"severity": "SEV2"}),
        ("updates", {"status": "monitoring", "message": "rolled back"}),
        ("notes", {"message": "watching errors"}),
        ("updates", {"status": "investigating", "message": "errors are back"}),
    ]
    for action, body in steps:
        response = api.act(first, action, **body)
        assert response.status_code == 200, (action, response.text)
    merged = api.act(other, "merge", into=first)
    assert merged.status_code == 200 and merged.json()["id"] == first
    done = api.act(first, "updates", status="resolved", message="fixed").json()
    assert (done["status"], done["severity"], done["commander"]) == ("resolved", "SEV2", "ben")
    assert done["time_to_acknowledge_s"] == 180
    reopened = api.act(first, "reopen", message="again")
    assert reopened.json()["status"] == "investigating"
    audit = api.audit()
    # Every step was ana's: the token's person, not a name in the body.
    assert {actor for _, actor in audit} == {"user:ana"}
    assert [action for action, _ in audit] == [
        "incident.declared",
        "incident.declared",
        "incident.acknowledged",
        "incident.role",
        "incident.severity",
        "incident.status",
        "incident.note",
        "incident.status",
        "incident.merged",
        "incident.merged_from",
        "incident.status",
        "incident.reopened",
    ]
    assert api.client.get("/api/v1/incidents").json()["incidents"][0]["id"] == first
    everything = api.client.get("/api/v1/incidents", params={"all": "true"}).json()
    assert [i["id"] for i in everything["incidents"]] == [other, first]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"severity": "SEV1"}, "$.title", "$.title: is required"),
        ({"title": "x", "severity": "SEV7"}, "$.severity", "not a configured"),
        ({"title": " ", "severity": "SEV1"}, "$.title", "$.title: say what"),
        # Who declares is the token's person: a body still naming an author is refused, not
        # quietly declared as someone else.
        ({"title": "x", "severity": "SEV1", "author": "bo"}, "$.author", "is not a known field"),
        ({"title": "x", "severity": "SEV1", "x": 1}, "$.x", "$.x: is not a known field"),
        (
            {"title": "x", "severity": "SEV1", "alert_ids": [99]},
            "$.alert_ids[0]",
            "$.alert_ids[0]: no alert with id 99",
        ),
    ],
)
def test_a_bad_declare_names_the_json_path_and_writes_nothing(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    response = api.client.post("/api/v1/incidents", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert message in error["message"]
    assert api.client.get("/api/v1/incidents", params={"all": "true"}).json()["incidents"] == []


def test_a_declare_without_a_token_is_401_and_writes_nothing(api: Api) -> None:
    body = {"title": "Checkout down", "severity": "SEV1"}
    anonymous = TestClient(api.client.app).post("/api/v1/incidents", json=body)
    assert anonymous.status_code == 401
    assert api.client.get("/api/v1/incidents", params={"all": "true"}).json()["incidents"] == []


def test_an_illegal_transition_is_409_naming_both_statuses(api: Api) -> None:
    first = api.declare()["id"]
    assert api.act(first, "updates", status="identified", message="found").status_code == 200
    response = api.act(first, "updates", status="investigating", message="hm")
    assert response.status_code == 409
    assert response.json()["error"]["message"].startswith(
        f"incident {first} cannot go back from identified to investigating"
    )
    shown = api.client.get(f"/api/v1/incidents/{first}").json()
    assert shown["status"] == "identified" and len(shown["timeline"]) == 2


def test_action_bodies_are_validated(api: Api) -> None:
    first = api.declare()["id"]
    bad_status = api.act(first, "updates", status="fixed", message="x")
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["field"] == "$.status"
    bad_role = api.act(first, "roles", role="scribe", person="x")
    assert bad_role.json()["error"]["field"] == "$.role"
    blank = api.act(first, "notes", message=" ")
    assert (blank.status_code, blank.json()["error"]["field"]) == (400, "$.message")


def test_unknown_ids_are_404_and_wrong_methods_405(api: Api) -> None:
    assert api.client.get("/api/v1/incidents/999").status_code == 404
    assert api.act(999, "ack").status_code == 404
    first = api.declare()["id"]
    into = api.act(first, "merge", into=999)
    assert (into.status_code, into.json()["error"]["message"]) == (
        400,
        "$.into: no incident with id 999",
    )
    assert api.client.get("/api/v1/incidents/1/ack").status_code == 405
    assert api.client.delete("/api/v1/incidents").status_code == 405
