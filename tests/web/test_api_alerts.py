"""/api/v1/alerts, /api/v1/silences and /api/v1/maintenance on both store backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from alert_helpers import open_rule_alert
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.alerts import records
from opsbook.alerts.dispatch import dispatch
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.tables import silence
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = {
    "service": "shop",
    "checks": {
        "api": {"http": {"url": "http://127.0.0.1:1/healthz"}},
        "db": {"tcp": {"host": "127.0.0.1", "port": 1}},
    },
    "components": {"backend": {"name": "Backend", "checks": ["db"]}},
    "alerts": {
        "api-down": {"when": "api down", "severity": "SEV1"},
        "db-down": {"when": "db down", "severity": "SEV2"},
    },
    "maintenance": {
        "db-upgrade": {
            "start": "2026-11-22T11:30:00Z",
            "end": "2026-11-22T13:00:00Z",
            "components": ["backend"],
            "description": "Postgres 17",
        },
        "nightly": {"schedule": "0 3 * * *", "duration": "30m"},
    },
}


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


class Api:
    """The API as ana, a responder (``client``); ``as_person`` is another person's client."""

    def __init__(self, app: FastAPI, url: str, clock: FrozenClock, config: Config) -> None:
        self.app, self.url, self.clock, self.config = app, url, clock, config
        self.client = self.as_person("ana")

    def as_person(self, person: str) -> TestClient:
        token = person_token(self.app, person)
        return TestClient(self.app, headers={"Authorization": f"Bearer {token}"})

    def fire(self, rule: str, check: str, *, at: datetime, status: AlertStatus) -> int:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                return open_rule_alert(
                    conn, rule, check=check, status=status, now=at, values={"state": "down"}
                )
        finally:
            engine.dispose()

    def dispatch(self) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                dispatch(conn, config=self.config, now=self.clock.now(), emit=None)
        finally:
            engine.dispose()

    def count_silences(self) -> int:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(silence)).scalar())
        finally:
            engine.dispose()


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    engine = create_engine(store_url)
    upgrade(engine)
    engine.dispose()
    config = Config.model_validate(CONFIG)
    clock = FrozenClock(NOW)
    app = create_app(
        config,
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=clock,
        registry=CollectorRegistry(),
    )
    yield Api(app, store_url, clock, config)
    app.state.services.engine.dispose()


def test_it_lists_alerts_newest_first_with_why_they_are_muted(api: Api) -> None:
    old = api.fire("api-down", "api", at=NOW - timedelta(minutes=5), status=AlertStatus.FIRING)
    held = api.fire("db-down", "db", at=NOW - timedelta(minutes=1), status=AlertStatus.FIRING)
    api.dispatch()
    response = api.client.get("/api/v1/alerts")
    assert response.status_code == 200
    alerts = response.json()["alerts"]
    assert [a["id"] for a in alerts] == [held, old]
    assert alerts[0] == {
        "id": held,
        "fingerprint": records.fingerprint(
            {"alertname": "db-down", "severity": "SEV1", "check": "db"}
        ),
        "status": "firing",
        "source": "rule",
        "rule": "db-down",
        "integration": None,
        "check": "db",
        "severity": "SEV1",
        "labels": {"alertname": "db-down", "severity": "SEV1", "check": "db"},
        "annotations": {},
        "values": {"state": "down"},
        "started_at": "2026-11-22T11:59:00Z",
        "fired_at": "2026-11-22T11:59:00Z",
        "resolved_at": None,
        "muted": {
            "suppressed_by": None,
            "suppressed_reason": None,
            "silenced_by": [],
            "maintenance": "db-upgrade",
            "reason": "maintenance db-upgrade",
        },
        "flapping": False,
        "acknowledged_at": None,
    }


def test_it_filters_by_status_rule_and_limit(api: Api) -> None:
    firing = api.fire("api-down", "api", at=NOW - timedelta(minutes=3), status=AlertStatus.FIRING)
    pending = api.fire("db-down", "db", at=NOW - timedelta(minutes=2), status=AlertStatus.PENDING)

    def ids(**params: Any) -> list[int]:
        return [a["id"] for a in api.client.get("/api/v1/alerts", params=params).json()["alerts"]]

    assert ids(status="firing") == [firing]
    assert ids(status="firing, pending") == [pending, firing]
    assert ids(status="resolved") == []
    assert ids(rule="api-down") == [firing]
    assert ids(limit=1) == [pending]


@pytest.mark.parametrize(
    ("params", "body"),
    [
        (
            {"status": "firing,open"},
            {
                "message": "status: not an alert status "
                "(use pending, firing, resolved, inactive, comma-separated)",
                "field": "status",
                "location": "query",
            },
        ),
        (
            {"limit": "0"},
            {
                "message": "query.limit: Input should be greater than or equal to 1",
                "field": "query.limit",
                "location": "query",
            },
        ),
    ],
)
def test_a_bad_filter_is_400_naming_it(api: Api, params: dict[str, str], body: Any) -> None:
    response = api.client.get("/api/v1/alerts", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": body}


def test_one_alert_comes_with_its_timeline(api: Api) -> None:
    alert_id = api.fire("db-down", "db", at=NOW, status=AlertStatus.FIRING)
    api.dispatch()
    body = api.client.get(f"/api/v1/alerts/{alert_id}").json()
    assert body["id"] == alert_id
    assert [(e["kind"], e["message"]) for e in body["events"]] == [
        ("firing", "db-down firing"),
        ("maintenance", "held by maintenance window 'db-upgrade' until 2026-11-22T13:00:00Z"),
    ]
    assert body["events"][0]["to_status"] == "firing"
    assert body["events"][0]["values"] == {"state": "down"}


def test_an_unknown_alert_is_404(api: Api) -> None:
    response = api.client.get("/api/v1/alerts/999")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no alert with id 999"


def test_wrong_method_is_405(api: Api) -> None:
    assert api.client.post("/api/v1/alerts").status_code == 405
    assert api.client.put("/api/v1/silences").status_code == 405


def test_create_list_and_expire_a_silence(api: Api) -> None:
    response = api.client.post(
        "/api/v1/silences",
        json={
            "matchers": ["alertname=api-down", {"name": "check", "value": "a.*", "isRegex": True}],
            "duration": "2h",
            "comment": "deploying",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == "active"
    assert created["created_by"] == "ana"  # the token's person
    assert created["matchers_text"] == ['alertname="api-down"', 'check=~"a.*"']
    assert created["matchers"][1] == {
        "name": "check",
        "value": "a.*",
        "isRegex": True,
        "isEqual": True,
    }
    assert (created["starts_at"], created["ends_at"]) == (
        "2026-11-22T12:00:00Z",
        "2026-11-22T14:00:00Z",
    )
    listed = api.client.get("/api/v1/silences").json()["silences"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert api.client.get(f"/api/v1/silences/{created['id']}").json() == created

    api.clock.advance(timedelta(minutes=10))
    response = api.as_person("ben").delete(f"/api/v1/silences/{created['id']}")
    assert response.status_code == 200
    assert response.json()["state"] == "expired"
    assert response.json()["ends_at"] == "2026-11-22T12:10:00Z"
    assert api.client.get("/api/v1/silences").json()["silences"] == []
    expired = api.client.get("/api/v1/silences", params={"expired": "true"}).json()["silences"]
    assert [s["id"] for s in expired] == [created["id"]]
    engine = create_engine(api.url)
    try:
        with engine.begin() as conn:
            actions = [(a.action, a.actor, a.origin) for a in list_audit(conn)]
    finally:
        engine.dispose()
    assert actions == [
        ("silence.expire", "user:ben", "api testclient"),
        ("silence.create", "user:ana", "api testclient"),
    ]
    again = api.client.delete(f"/api/v1/silences/{created['id']}")
    assert again.status_code == 409


def test_a_silence_mutes_the_alerts_it_matches(api: Api) -> None:
    alert_id = api.fire("api-down", "api", at=NOW, status=AlertStatus.FIRING)
    created = api.client.post(
        "/api/v1/silences",
        json={
            "matchers": ["api-down"],
            "ends_at": "2026-11-22T14:00:00+01:00",
            "comment": "known",
        },
    ).json()
    assert created["ends_at"] == "2026-11-22T13:00:00Z"
    api.dispatch()
    found = api.client.get(f"/api/v1/alerts/{alert_id}").json()
    assert found["muted"]["silenced_by"] == [created["id"]]


BASE = {"matchers": ["alertname=x"], "duration": "1h", "comment": "why"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"matchers": ["alertname=x", "instance=~api-("]},
            "$.matchers[1]",
            "$.matchers[1]: the value is not a regular expression "
            "(it breaks at character 5; use Python's syntax, e.g. api-.*)",
        ),
        (
            {"matchers": ["alertname=x", {"name": "a", "value": "x"}]},
            "$.matchers[1].isRegex",
            "$.matchers[1].isRegex: is required",
        ),
        (
            {"matchers": [5]},
            "$.matchers[0]",
            '$.matchers[0]: should be a matcher: "alertname=api-down" or {"name", "value", '
            '"isRegex"}',
        ),
        (
            {"matchers": []},
            "$.matchers",
            'matchers: a silence needs at least one matcher (e.g. alertname="api-down")',
        ),
        ({"comment": None}, "$.comment", "$.comment: Input should be a valid string"),
        # Who silences is the token's person: a body still naming one is refused.
        ({"created_by": "bo"}, "$.created_by", "$.created_by: is not a known field"),
        ({"color": "red"}, "$.color", "$.color: is not a known field"),
        (
            {"duration": "2x"},
            "$.duration",
            "$.duration: not a duration (use e.g. 30m, 2h, 1d)",
        ),
        (
            {"ends_at": "2026-11-22T15:00:00Z"},
            "$.ends_at",
            "$.ends_at: set ends_at or duration (one of them)",
        ),
        (
            {"duration": ..., "ends_at": "2026-11-22T15:00:00"},
            "$.ends_at",
            "$.ends_at: Input should have timezone info",
        ),
        (
            {"duration": ..., "ends_at": "2026-11-22T11:00:00Z"},
            "$.ends_at",
            "$.ends_at: the silence would end in the past",
        ),
        ({"comment": " "}, "$.comment", "$.comment: say why the alerts are silenced"),
        ({"id": "nope"}, "$.id", "$.id: no silence with this id"),
    ],
)
def test_a_bad_silence_is_rejected_naming_the_json_path_and_nothing_is_stored(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    body = {**BASE, **change}
    body = {k: v for k, v in body.items() if v is not ...}
    response = api.client.post("/api/v1/silences", json=body)
    assert response.status_code == (404 if field == "$.id" else 400)
    error = response.json()["error"]
    expected = message if message.startswith(("$", "no ")) else f"$.{message}"
    assert (error["field"], error["message"]) == (field, expected)
    assert api.count_silences() == 0


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    response = api.client.post(
        "/api/v1/silences", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert api.count_silences() == 0


def test_expiring_an_unknown_silence_is_404(api: Api) -> None:
    response = api.client.delete("/api/v1/silences/nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "no silence with this id",
        "field": "silence_id",
        "location": None,
    }


def test_maintenance_lists_open_and_upcoming_windows(api: Api) -> None:
    body = api.client.get("/api/v1/maintenance").json()
    assert body["open"] == [
        {
            "name": "db-upgrade",
            "start": "2026-11-22T11:30:00Z",
            "end": "2026-11-22T13:00:00Z",
            "global": False,
            "components": ["backend"],
            "checks": [],
            "description": "Postgres 17",
        }
    ]
    upcoming = body["upcoming"]
    assert [(w["name"], w["start"]) for w in upcoming] == [
        ("nightly", f"2026-11-{day}T03:00:00Z") for day in range(23, 30)
    ]
    assert upcoming[0]["global"] is True
