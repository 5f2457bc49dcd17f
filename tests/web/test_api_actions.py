"""/api/v1/actions, /api/v1/incidents/{id}/actions and /api/v1/incidents/{id}/postmortem on
both store backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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
def client(store_url: str) -> Iterator[TestClient]:
    """The API as ana, a responder: who adds and completes an item is her token's person."""
    engine = create_engine(store_url)
    upgrade(engine)
    engine.dispose()
    app = create_app(
        Config.model_validate({"service": "shop", "timezone": "Europe/Berlin"}),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    yield TestClient(app, headers={"Authorization": f"Bearer {person_token(app, 'ana')}"})
    app.state.services.engine.dispose()


def _declare(client: TestClient) -> int:
    body = {"title": "Checkout down", "severity": "SEV1"}
    response = client.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _add(client: TestClient, incident_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/incidents/{incident_id}/actions",
        json={"title": "Add a canary", "owner": "ben", **body},
    )


def test_an_action_item_is_added_listed_and_done(client: TestClient) -> None:
    incident_id = _declare(client)
    added = _add(client, incident_id, due="2026-12-01")
    assert added.status_code == 201, added.text
    item = added.json()
    assert item == {
        "id": item["id"],
        "incident_id": incident_id,
        "title": "Add a canary",
        "owner": "ben",
        "due": "2026-12-01",
        "done_at": None,
        "created_at": "2026-11-22T12:00:00Z",
        "created_by": "user:ana",
    }
    assert client.get("/api/v1/actions").json() == {"actions": [item]}
    done = client.post(f"/api/v1/actions/{item['id']}/done", json={})
    assert done.status_code == 200
    assert done.json()["done_at"] == "2026-11-22T12:00:00Z"
    assert client.get("/api/v1/actions").json() == {"actions": []}
    assert [a["id"] for a in client.get("/api/v1/actions?all=true").json()["actions"]] == [
        item["id"]
    ]
    assert client.get("/api/v1/actions?all=true&owner=cy").json() == {"actions": []}
    again = client.post(f"/api/v1/actions/{item['id']}/done", json={})
    assert again.status_code == 409
    timeline = client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    assert [(e["kind"], e["actor"]) for e in timeline] == [
        ("declared", "user:ana"),
        ("action_added", "user:ana"),
        ("action_done", "user:ana"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"due": "soon"}, "$.due"),
        ({"owner": " "}, "$.owner"),
        ({"title": ""}, "$.title"),
        ({"colour": "red"}, "$.colour"),
        # Who adds it is the token's person: a body still naming an author is refused.
        ({"author": "bo"}, "$.author"),
    ],
)
def test_a_bad_body_names_the_field_and_writes_nothing(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    incident_id = _declare(client)
    response = _add(client, incident_id, **body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert client.get("/api/v1/actions?all=true").json() == {"actions": []}


def test_unknown_ids_are_404_and_reads_refuse_writes(client: TestClient) -> None:
    assert _add(client, 99).status_code == 404
    assert client.post("/api/v1/actions/99/done", json={}).status_code == 404
    assert client.get("/api/v1/incidents/99/postmortem").status_code == 404
    assert client.post("/api/v1/actions", json={}).status_code == 405


def test_the_postmortem_is_markdown(client: TestClient) -> None:
    incident_id = _declare(client)
    _add(client, incident_id, due="2026-11-01")
    response = client.get(f"/api/v1/incidents/{incident_id}/postmortem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.text.startswith("# Incident Postmortem: Checkout down\n")
    assert "## Timeline (Europe/Berlin)\n\n- 13:00 - declared SEV1: Checkout down" in response.text
    assert "- [ ] Add a canary - Owner: ben - Due: 2026-11-01 (overdue)\n" in response.text
