"""GET /api/v1/oncall and GET /api/v1/oncall/{schedule}?from=&to="""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import authorize
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web import create_app

NOW = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # 12:00 in Berlin
CONFIG = {
    "service": "shop",
    "timezone": "Europe/Berlin",
    "oncall": {
        "people": {"ana": {"name": "Ana Silva"}, "ben": {"name": "Ben Okafor"}},
        "schedules": {
            "primary": {
                "rotation": "weekly",
                "handoff": "mon 09:00",
                "people": ["ana", "ben"],
                "overrides": [
                    {"person": "ben", "start": "2026-04-01T09:00", "end": "2026-04-02T09:00"}
                ],
            },
            "utc": {"timezone": "UTC", "rotation": "daily", "people": ["ben"]},
        },
    },
}


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    with TestClient(app) as client:  # started: it migrates the store the token goes in
        yield authorize(client, Role.VIEWER)
    app.state.services.engine.dispose()


def test_it_lists_who_is_on_call_now_for_each_schedule(api: TestClient) -> None:
    response = api.get("/api/v1/oncall")
    assert response.status_code == 200
    assert response.json() == {
        "oncall": [
            {
                "schedule": "primary",
                "timezone": "Europe/Berlin",
                "person": "ana",
                "name": "Ana Silva",
                "start": "2026-03-30T07:00:00Z",
                "end": "2026-04-01T07:00:00Z",
                "layer": "layer 1",
                "override": False,
            },
            {
                "schedule": "utc",
                "timezone": "UTC",
                "person": "ben",
                "name": "Ben Okafor",
                "start": "2026-03-31T09:00:00Z",
                "end": "2026-04-01T09:00:00Z",
                "layer": "layer 1",
                "override": False,
            },
        ]
    }


def test_it_gives_a_schedules_shifts_in_a_range(api: TestClient) -> None:
    response = api.get(
        "/api/v1/oncall/primary", params={"from": "2026-03-30T09:00", "to": "2026-04-06T09:00"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["schedule"], body["timezone"]) == ("primary", "Europe/Berlin")
    assert (body["start"], body["end"]) == (
        "2026-03-30T09:00:00+02:00",
        "2026-04-06T09:00:00+02:00",
    )
    assert [(s["person"], s["start"], s["end"], s["override"]) for s in body["shifts"]] == [
        ("ana", "2026-03-30T07:00:00Z", "2026-04-01T07:00:00Z", False),
        ("ben", "2026-04-01T07:00:00Z", "2026-04-02T07:00:00Z", True),
        ("ana", "2026-04-02T07:00:00Z", "2026-04-06T07:00:00Z", False),
    ]


def test_the_default_range_is_four_weeks_from_now(api: TestClient) -> None:
    body = api.get("/api/v1/oncall/utc").json()
    assert (body["start"], body["end"]) == ("2026-03-31T10:00:00Z", "2026-04-28T10:00:00Z")
    assert len(body["shifts"]) == 29


def test_an_unknown_schedule_is_404_naming_it(api: TestClient) -> None:
    response = api.get("/api/v1/oncall/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "no schedule with this name (known: primary, utc)",
            "field": "schedule",
            "location": None,
        }
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"from": "yesterday"},
            "from",
            "from: not a date and time (use ISO 8601, e.g. 2026-11-22T18:00Z)",
        ),
        ({"to": "2026-13-01"}, "to", "to: not a date and time"),
        ({"from": "2026-04-02", "to": "2026-04-01"}, "to", "to: must be after from"),
        ({"from": "2026-01-01", "to": "2027-06-01"}, "to", "to: at most 366 days after from"),
    ],
)
def test_a_bad_range_is_400_naming_the_parameter(
    api: TestClient, params: dict[str, str], field: str, message: str
) -> None:
    response = api.get("/api/v1/oncall/primary", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["field"], error["location"]) == (field, "query")
    assert error["message"].startswith(message)


def test_it_refuses_other_methods(api: TestClient) -> None:
    assert api.post("/api/v1/oncall").status_code == 405
    assert api.delete("/api/v1/oncall/primary").status_code == 405
