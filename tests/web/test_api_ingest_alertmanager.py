"""The Alertmanager API v2 reads and silences (what amtool and Grafana call), in process."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import list_audit

TOKEN = "prom-token-0123456789abc"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = Config.model_validate(
    {
        "service": "t",
        "alerting": {"group_by": ["alertname", "service"]},
        "integrations": {
            "prom": {"alertmanager": {"token": TOKEN}},
            "hook": {"webhook": {"token": "hook-token-0123456789abc"}},
        },
    }
)
BATCH = [
    {
        "labels": {"alertname": "HighLatency", "service": "api"},
        "annotations": {"summary": "p95 is 2.4s"},
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
    },
    {"labels": {"alertname": "HighLatency", "service": "web"}},
    {"labels": {"alertname": "DiskFull", "service": "db"}},
]
SILENCE = {
    "matchers": [{"name": "service", "value": "web", "isRegex": False, "isEqual": True}],
    "startsAt": "2026-01-01T00:00:00.000Z",
    "endsAt": "2026-01-01T02:00:00.000Z",
    "createdBy": "ana",
    "comment": "deploying web",
}


class Waker:
    def __init__(self) -> None:
        self.count = 0

    def wake(self) -> None:
        self.count += 1


@pytest.fixture
def app(make_app: Callable[..., FastAPI], store_url: str) -> FastAPI:
    return make_app(store_url, config=CONFIG)


@pytest.fixture
def waker(app: FastAPI) -> Waker:
    waker = Waker()
    app.state.services = dataclasses.replace(app.state.services, alerts=waker)
    return waker


@pytest.fixture
def client(app: FastAPI, waker: Waker) -> Iterator[TestClient]:
    with TestClient(app) as client:
        assert client.post("/api/v2/alerts", json=BATCH, headers=AUTH).status_code == 200
        yield client


def names(alerts: list[dict[str, Any]]) -> list[str]:
    return [f"{a['labels']['alertname']}/{a['labels']['service']}" for a in alerts]


def test_get_alerts_answers_gettable_alerts(client: TestClient) -> None:
    response = client.get("/api/v2/alerts", headers=AUTH)
    assert response.status_code == 200
    first = response.json()[0]
    assert first == {
        "labels": {
            "alertname": "HighLatency",
            "service": "api",
            "integration": "prom",
            "severity": "SEV4",
        },
        "annotations": {"summary": "p95 is 2.4s"},
        "startsAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "2026-01-01T00:05:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "fingerprint": first["fingerprint"],
        "receivers": [{"name": "opsbook"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []},
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
    }
    assert len(first["fingerprint"]) == 16
    assert names(response.json()) == ["HighLatency/api", "HighLatency/web", "DiskFull/db"]


def test_alerts_filter_by_matchers(client: TestClient) -> None:
    response = client.get(
        "/api/v2/alerts",
        params=[("filter", 'alertname="HighLatency"'), ("filter", "service=~w.*")],
        headers=AUTH,
    )
    assert names(response.json()) == ["HighLatency/web"]


def test_a_bad_filter_is_400_naming_it(client: TestClient) -> None:
    response = client.get("/api/v2/alerts", params={"filter": 'service=~"("'}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "filter[0]"


def test_a_new_silence_shows_on_the_alerts_at_once(client: TestClient, waker: Waker) -> None:
    response = client.post("/api/v2/silences", json=SILENCE, headers=AUTH)
    assert response.status_code == 200
    silence_id = response.json()["silenceID"]
    assert waker.count == 2  # the post of BATCH, then the silence: dispatch re-mutes now
    shown = {
        a["labels"]["service"]: a["status"]
        for a in client.get("/api/v2/alerts", headers=AUTH).json()
    }
    assert shown["web"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    assert shown["api"]["state"] == "active"
    # amtool's default query: active, not silenced, not inhibited.
    unsilenced = client.get(
        "/api/v2/alerts",
        params={"active": "true", "silenced": "false", "inhibited": "false"},
        headers=AUTH,
    )
    assert names(unsilenced.json()) == ["HighLatency/api", "DiskFull/db"]
    only_muted = client.get("/api/v2/alerts", params={"active": "false"}, headers=AUTH)
    assert names(only_muted.json()) == ["HighLatency/web"]


def test_silences_round_trip_in_alertmanagers_shape(
    client: TestClient, app: FastAPI, clock: FrozenClock
) -> None:
    silence_id = client.post("/api/v2/silences", json=SILENCE, headers=AUTH).json()["silenceID"]
    expected = {
        "id": silence_id,
        "status": {"state": "active"},
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "matchers": SILENCE["matchers"],
        "startsAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "2026-01-01T02:00:00.000Z",
        "createdBy": "ana",
        "comment": "deploying web",
    }
    assert client.get(f"/api/v2/silence/{silence_id}", headers=AUTH).json() == expected
    assert client.get("/api/v2/silences", headers=AUTH).json() == [expected]
    filtered = client.get("/api/v2/silences", params={"filter": "service=api"}, headers=AUTH)
    assert filtered.json() == []
    clock.advance(timedelta(minutes=5))
    response = client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH)
    assert (response.status_code, response.content) == (200, b"")
    [expired] = client.get("/api/v2/silences", headers=AUTH).json()
    assert (expired["status"], expired["endsAt"]) == (
        {"state": "expired"},
        "2026-01-01T00:05:00.000Z",
    )
    with app.state.services.engine.connect() as conn:
        trail = [(e.action, e.actor, e.origin) for e in list_audit(conn)]
    assert trail == [
        ("silence.expire", "integration:prom", "api testclient (integration prom)"),
        ("silence.create", "user:ana", "api testclient (integration prom)"),
    ]


def test_posting_a_silence_with_its_id_updates_it(client: TestClient) -> None:
    silence_id = client.post(
        "/api/v2/silences",
        json=SILENCE | {"startsAt": "2026-01-01T01:00:00Z"},
        headers=AUTH,
    ).json()["silenceID"]
    updated = SILENCE | {"id": silence_id, "comment": "longer", "startsAt": "2026-01-01T01:00:00Z"}
    response = client.post("/api/v2/silences", json=updated, headers=AUTH)
    assert response.json() == {"silenceID": silence_id}  # still pending: changed in place
    assert client.get(f"/api/v2/silence/{silence_id}", headers=AUTH).json()["comment"] == "longer"


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        (
            {"startsAt": "2026-01-01T03:00:00Z"},
            "$.endsAt: the silence must end after it starts",
            "$.endsAt",
        ),
        (
            {"matchers": [{"name": "service", "value": "", "isRegex": False}]},
            "$.matchers: at least one matcher must not match the empty string, "
            "or the silence would mute every alert",
            "$.matchers",
        ),
        (
            {"matchers": [{"name": "service", "value": "(", "isRegex": True}]},
            "$.matchers[0]: the value is not a regular expression "
            "(it breaks at character 1; use Python's syntax, e.g. api-.*)",
            "$.matchers[0]",
        ),
        ({"comment": ""}, "$.comment: is missing or blank", "$.comment"),
    ],
)
def test_a_bad_silence_is_400_with_alertmanagers_field_names(
    client: TestClient, changes: dict[str, Any], message: str, field: str
) -> None:
    response = client.post("/api/v2/silences", json=SILENCE | changes, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {"error": {"message": message, "field": field, "location": "body"}}
    assert client.get("/api/v2/silences", headers=AUTH).json() == []


def test_an_unknown_silence_is_404(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, "/api/v2/silence/no-such-id", headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "no silence with this id"


def test_expiring_an_expired_silence_is_409(client: TestClient) -> None:
    silence_id = client.post("/api/v2/silences", json=SILENCE, headers=AUTH).json()["silenceID"]
    assert client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH).status_code == 200
    assert client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH).status_code == 409


def test_status_says_what_amtool_config_show_prints(client: TestClient) -> None:
    body = client.get("/api/v2/status", headers=AUTH).json()
    assert body["cluster"] == {"name": "", "status": "disabled", "peers": []}
    assert body["versionInfo"]["version"].startswith("opsbook-")
    assert body["uptime"] == "2026-01-01T00:00:00.000Z"
    assert yaml.safe_load(body["config"]["original"]) == {
        "route": {
            "receiver": "opsbook",
            "group_by": ["alertname", "service"],
            "group_wait": "0s",
            "group_interval": "10s",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "opsbook"}],
    }


def test_groups_follow_the_configured_group_by(client: TestClient) -> None:
    groups = client.get("/api/v2/alerts/groups", headers=AUTH).json()
    assert [(g["labels"], g["receiver"], len(g["alerts"])) for g in groups] == [
        ({"alertname": "HighLatency", "service": "api"}, {"name": "opsbook"}, 1),
        ({"alertname": "HighLatency", "service": "web"}, {"name": "opsbook"}, 1),
        ({"alertname": "DiskFull", "service": "db"}, {"name": "opsbook"}, 1),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/alerts"),
        ("GET", "/api/v2/alerts/groups"),
        ("GET", "/api/v2/status"),
        ("GET", "/api/v2/silences"),
        ("POST", "/api/v2/silences"),
        ("GET", "/api/v2/silence/x"),
        ("DELETE", "/api/v2/silence/x"),
    ],
)
def test_every_read_needs_an_alertmanager_token(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer hook-token-0123456789abc"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert "WWW-Authenticate" in response.headers


def test_groups_and_receivers_follow_the_routes(
    make_app: Callable[..., FastAPI], store_url: str
) -> None:
    config = Config.model_validate(
        {
            "service": "t",
            "channels": {
                name: {"webhook": {"url": f"http://127.0.0.1:1/{name}"}}
                for name in ("chat", "pager")
            },
            "alerting": {
                "group_by": ["alertname", "service"],
                "notify": ["chat"],
                "routes": [
                    {"match": {"service": "~api|web"}, "notify": ["pager"], "group_by": ["service"]}
                ],
            },
            "integrations": {"prom": {"alertmanager": {"token": TOKEN}}},
        }
    )
    with TestClient(make_app(store_url, config=config)) as client:
        assert client.post("/api/v2/alerts", json=BATCH, headers=AUTH).status_code == 200
        alerts = client.get("/api/v2/alerts", headers=AUTH).json()
        groups = client.get("/api/v2/alerts/groups", headers=AUTH).json()
    assert sorted((names([a])[0], a["receivers"]) for a in alerts) == [
        ("DiskFull/db", [{"name": "chat"}]),
        ("HighLatency/api", [{"name": "pager"}]),
        ("HighLatency/web", [{"name": "pager"}]),
    ]
    assert [(g["labels"], g["receiver"], len(g["alerts"])) for g in groups] == [
        ({"service": "api"}, {"name": "pager"}, 1),
        ({"service": "web"}, {"name": "pager"}, 1),
        ({"alertname": "DiskFull", "service": "db"}, {"name": "chat"}, 1),
    ]
