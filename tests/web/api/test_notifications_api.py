"""GET /api/v1/notifications/dead-letters and POST /api/v1/notifications/{id}/retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.notify import outbox
from opsbook.store.audit import list_audit

T0 = datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)
REASON = "POST https://oncall.example.com/*** answered 404 Not Found: no such hook"


def _seed(client: TestClient, states: list[str]) -> list[int]:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    ids = []
    with engine.begin() as conn:
        for n, state in enumerate(states):
            row = outbox.enqueue(
                conn,
                channel="oncall",
                kind="alert",
                payload={"version": "4"},
                idempotency_key=f"k{n}",
                now=T0,
            )
            assert row is not None
            ids.append(row)
            if state == "dead":
                outbox.mark_dead(conn, row, reason=REASON, now=T0 + timedelta(minutes=n))
            elif state == "delivered":
                outbox.mark_delivered(conn, row, now=T0)
    return ids


def _state(client: TestClient, notification_id: int) -> str:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return outbox.get_notification(conn, notification_id).state


def _as(client: TestClient, role: Role | None) -> dict[str, str]:
    if role is None:
        return {"Authorization": ""}
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {grant(engine, role, name=role.value)}"}


def test_dead_letters_lists_them_newest_first_without_the_payload(client: TestClient) -> None:
    first, _, third = _seed(client, ["dead", "pending", "dead"])
    response = client.get("/api/v1/notifications/dead-letters")
    assert response.status_code == 200
    body = response.json()["dead_letters"]
    assert [n["id"] for n in body] == [third, first]
    assert body[0] == {
        "id": third,
        "channel": "oncall",
        "kind": "alert",
        "state": "dead",
        "attempts": 0,
        "created_at": "2026-11-22T13:09:10Z",
        "due_at": "2026-11-22T13:09:10Z",
        "dead_at": "2026-11-22T13:11:10Z",
        "delivered_at": None,
        "last_error": REASON,
    }
    limited = client.get("/api/v1/notifications/dead-letters", params={"limit": 1}).json()
    assert [n["id"] for n in limited["dead_letters"]] == [third]


@pytest.mark.parametrize("limit", ["0", "10001", "x"])
def test_a_bad_limit_is_a_400_naming_it(client: TestClient, limit: str) -> None:
    response = client.get("/api/v1/notifications/dead-letters", params={"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["message"]


def test_retry_queues_a_dead_one_again_and_audits_who(client: TestClient) -> None:
    (dead,) = _seed(client, ["dead"])
    response = client.post(
        f"/api/v1/notifications/{dead}/retry", headers=_as(client, Role.RESPONDER)
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["attempts"]) == ("pending", 0)
    assert _state(client, dead) == "pending"
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        event = list_audit(conn)[0]
    assert (event.action, event.actor, event.subject) == (
        "notification.retry",
        "token:responder",
        f"notification:{dead}",
    )


@pytest.mark.parametrize(
    ("state", "status", "message"),
    [
        ("delivered", 409, "notification 1 is delivered; only dead notifications can be retried"),
        ("pending", 409, "notification 1 is pending; only dead notifications can be retried"),
    ],
)
def test_retry_refuses_what_is_not_dead_and_changes_nothing(
    client: TestClient, state: str, status: int, message: str
) -> None:
    _seed(client, [state])
    response = client.post("/api/v1/notifications/1/retry")
    assert (response.status_code, response.json()["error"]["message"]) == (status, message)
    assert _state(client, 1) == state


def test_retry_of_an_unknown_id_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/notifications/9/retry")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), (Role.VIEWER, 403), (Role.RESPONDER, 200)]
)
def test_retry_needs_the_responder_role(client: TestClient, role: Role | None, status: int) -> None:
    (dead,) = _seed(client, ["dead"])
    response = client.post(f"/api/v1/notifications/{dead}/retry", headers=_as(client, role))
    assert response.status_code == status
    assert _state(client, dead) == ("pending" if status == 200 else "dead")


@pytest.mark.parametrize(("role", "status"), [(None, 401), (Role.VIEWER, 200)])
def test_dead_letters_need_the_viewer_role(
    client: TestClient, role: Role | None, status: int
) -> None:
    response = client.get("/api/v1/notifications/dead-letters", headers=_as(client, role))
    assert response.status_code == status


def test_wrong_methods_are_405(client: TestClient) -> None:
    assert client.delete("/api/v1/notifications/dead-letters").status_code == 405
    assert client.get("/api/v1/notifications/1/retry").status_code == 405
