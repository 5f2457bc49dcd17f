"""The incident routes the CLI needed (issue 12): ``GET /api/v1/incidents/stats``,
``GET /api/v1/incidents/{id}/message`` (a draft) and ``GET .../postmortem/values``, on both
store backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from auth_helpers import authorize
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import IncidentStatus, service
from opsbook.web import create_app

DECLARED = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
NOW = DECLARED + timedelta(hours=1)
CANARY = "SECRETVALUE123"
CONFIG = {
    "service": "shop",
    "timezone": "Europe/Berlin",
    "severities": {"SEV1": {"respond_within": "15m", "page": True}},
    "channels": {"ops-room": {"webhook": {"url": "http://127.0.0.1:1/hook"}}},
}


@pytest.fixture
def client(engine: Engine, store_url: str) -> Iterator[TestClient]:
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    yield authorize(TestClient(app), Role.VIEWER)
    app.state.services.engine.dispose()


@pytest.fixture
def incident_id(engine: Engine) -> int:
    with engine.begin() as conn:
        found = service.declare(
            conn, title="Checkout down", severity="SEV1", actor="user:ana", now=DECLARED
        )
        service.acknowledge(conn, found.id, actor="user:ana", now=DECLARED + timedelta(seconds=90))
        service.update(
            conn,
            found.id,
            status=IncidentStatus.RESOLVED,
            message="rolled back",
            actor="user:ana",
            now=DECLARED + timedelta(minutes=30, milliseconds=500),
        )
    return found.id


def test_stats_answer_each_severity_over_the_period(client: TestClient, incident_id: int) -> None:
    answer = client.get("/api/v1/incidents/stats", params={"since": "1d"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "since": "2026-11-21T12:00:00Z",
        "until": "2026-11-22T12:00:00Z",
        "severities": [
            {
                "severity": "SEV1",
                "declared": 1,
                "acknowledged": 1,
                "resolved": 1,
                "met_target": 1,
                "missed_target": 0,
                "mtta_s": 90.0,
                "mttm_s": 1800.5,
                "mttr_s": 1800.5,
            }
        ],
    }
    empty = client.get("/api/v1/incidents/stats", params={"since": "30m"})
    assert empty.json()["severities"] == []


@pytest.mark.parametrize("since", [CANARY, "0s", "4000d"])
def test_stats_refuse_a_bad_period_naming_since_without_echoing_it(
    client: TestClient, since: str
) -> None:
    answer = client.get("/api/v1/incidents/stats", params={"since": since})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "message": "since: a duration longer than 0s and at most 3660d (e.g. 30d, 12h)",
        "field": "since",
        "location": "query",
    }


def test_a_draft_is_the_subject_and_body_and_sends_nothing(
    client: TestClient, incident_id: int
) -> None:
    url = f"/api/v1/incidents/{incident_id}/message"
    drafted = client.get(url, params={"template": "resolution"})
    assert drafted.status_code == 200, drafted.text
    assert set(drafted.json()) == {"subject", "body"}
    assert "Checkout down" in drafted.json()["subject"] + drafted.json()["body"]
    assert client.get(url, params={"channel": "ops-room"}).status_code == 200
    for name, accepted in (("template", "use page, "), ("channel", "known: ops-room")):
        bad = client.get(url, params={name: CANARY})
        assert bad.status_code == 400
        assert (bad.json()["error"]["field"], CANARY in bad.text) == (name, False)
        assert accepted in bad.json()["error"]["message"]
    assert client.get("/api/v1/incidents/999/message").status_code == 404


def test_postmortem_values_are_what_a_template_gets(client: TestClient, incident_id: int) -> None:
    answer = client.get(f"/api/v1/incidents/{incident_id}/postmortem/values")
    assert answer.status_code == 200, answer.text
    values = answer.json()
    assert values["incident"]["title"] == "Checkout down"
    assert (values["timezone"], values["duration"], values["resolution"]) == (
        "Europe/Berlin",
        "30 minutes",
        "rolled back",
    )
    assert [row["time"] for row in values["timeline"]][:2] == ["12:00", "12:01"]
    assert client.get("/api/v1/incidents/999/postmortem/values").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents/stats",
        "/api/v1/incidents/1/message",
        "/api/v1/incidents/1/postmortem/values",
    ],
)
def test_they_need_a_login_and_only_read(client: TestClient, incident_id: int, path: str) -> None:
    assert client.post(path, json={}).status_code == 405
    del client.headers["Authorization"]
    assert client.get(path).status_code == 401
