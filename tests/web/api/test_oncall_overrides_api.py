"""POST/GET /api/v1/oncall/overrides and DELETE /api/v1/oncall/overrides/{id}, on both stores:
who is on call changes at the override's start (the app's frozen clock moved), the audit trail,
field-named 400s that write nothing, 404, 401 and 403."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents.overrides import oncall_override
from opsbook.store import list_audit
from opsbook.web import create_app

NOW = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # 12:00 in Berlin; ana is on primary
SAT_10 = "2026-04-04T10:00:00+02:00"
SAT_18 = "2026-04-04T18:00:00+02:00"
CONFIG = {
    "service": "shop",
    "timezone": "Europe/Berlin",
    "oncall": {
        "people": {"ana": {"name": "Ana Silva"}, "ben": {"name": "Ben Okafor"}},
        "schedules": {
            "primary": {"rotation": "weekly", "handoff": "mon 09:00", "people": ["ana", "ben"]},
            "utc": {"timezone": "UTC", "rotation": "daily", "people": ["ben"]},
        },
    },
}
URL = "/api/v1/oncall/overrides"


class Served:
    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client, self.clock = client, clock
        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        self.engine = engine
        self.tokens = {role: grant(engine, role, name=role.value) for role in Role}

    def as_(self, role: Role | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def post(self, body: Any, role: Role | None = Role.RESPONDER) -> Any:
        return self.client.post(URL, json=body, headers=self.as_(role))

    def get(self, path: str, role: Role | None = Role.VIEWER, **params: str) -> Any:
        return self.client.get(path, params=params, headers=self.as_(role))

    def delete(self, override_id: int | str, role: Role | None = Role.RESPONDER) -> Any:
        return self.client.delete(f"{URL}/{override_id}", headers=self.as_(role))

    def stored(self) -> int:
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(oncall_override)
            return int(conn.execute(query).scalar() or 0)

    def audit(self) -> list[tuple[str, str, str]]:
        with self.engine.connect() as conn:
            return [
                (e.actor, e.action, e.subject)
                for e in list_audit(conn)
                if e.action.startswith("oncall_override")
            ]


@pytest.fixture
def api(store_url: str) -> Iterator[Served]:
    clock = FrozenClock(NOW)
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=clock,
        registry=CollectorRegistry(),
    )
    with TestClient(app) as client:
        yield Served(client, clock)
    app.state.services.engine.dispose()


def move_to(api: Served, at: datetime) -> None:
    api.clock.advance(at - api.clock.now())


def on_call(api: Served, schedule: str = "primary") -> str:
    found = api.get("/api/v1/oncall").json()["oncall"]
    return str(next(s for s in found if s["schedule"] == schedule)["person"])


def test_an_override_changes_who_is_on_call_at_its_start(api: Served) -> None:
    response = api.post(
        {"schedule": "primary", "person": "ben", "start": SAT_10, "end": SAT_18, "reason": "swap"}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        "id": created["id"],
        "schedule": "primary",
        "person": "ben",
        "name": "Ben Okafor",
        "start": "2026-04-04T08:00:00Z",
        "end": "2026-04-04T16:00:00Z",
        "reason": "swap",
        "created_by": "token:responder",
        "created_at": "2026-03-31T10:00:00Z",
        "is_on": False,
    }
    assert on_call(api) == "ana"
    move_to(api, datetime(2026, 4, 4, 7, 59, 59, tzinfo=UTC))
    assert on_call(api) == "ana"
    move_to(api, datetime(2026, 4, 4, 8, 0, tzinfo=UTC))
    now = api.get("/api/v1/oncall").json()["oncall"][0]
    assert (now["person"], now["layer"], now["override"]) == ("ben", "override", True)
    assert (now["start"], now["end"]) == ("2026-04-04T08:00:00Z", "2026-04-04T16:00:00Z")
    move_to(api, datetime(2026, 4, 4, 16, 0, tzinfo=UTC))
    assert on_call(api) == "ana"
    assert on_call(api, "utc") == "ben"  # another schedule is untouched
    assert api.audit() == [
        ("token:responder", "oncall_override.add", f"oncall_override:{created['id']}")
    ]


def test_at_and_the_schedules_shifts_show_the_override(api: Served) -> None:
    api.post({"schedule": "primary", "person": "ben", "start": SAT_10, "end": SAT_18})
    at = api.get("/api/v1/oncall", at="2026-04-04T12:00").json()["oncall"][0]
    assert at["person"] == "ben"
    shifts = api.get(
        "/api/v1/oncall/primary", **{"from": "2026-04-04T00:00", "to": "2026-04-05T00:00"}
    )
    assert [(s["person"], s["override"]) for s in shifts.json()["shifts"]] == [
        ("ana", False),
        ("ben", True),
        ("ana", False),
    ]


def test_a_duration_starts_now_and_a_later_override_wins(api: Served) -> None:
    first = api.post({"schedule": "primary", "person": "ben", "duration": "8h"})
    assert first.status_code == 201, first.text
    assert (first.json()["start"], first.json()["end"]) == (
        "2026-03-31T10:00:00Z",
        "2026-03-31T18:00:00Z",
    )
    assert first.json()["is_on"] is True
    assert on_call(api) == "ben"
    move_to(api, NOW + timedelta(minutes=1))
    later = api.post({"schedule": "primary", "person": "ana", "duration": "1h"})
    assert later.status_code == 201
    assert on_call(api) == "ana"


def test_it_lists_current_and_future_overrides_by_schedule(api: Served) -> None:
    past = api.post({"schedule": "primary", "person": "ben", "duration": "1h"}).json()
    sat = api.post({"schedule": "primary", "person": "ben", "start": SAT_10, "end": SAT_18}).json()
    utc = api.post({"schedule": "utc", "person": "ana", "duration": "2h"}).json()
    move_to(api, NOW + timedelta(hours=1, seconds=1))
    every = api.get(URL)
    assert every.status_code == 200
    assert [o["id"] for o in every.json()["overrides"]] == [sat["id"], utc["id"]]
    assert past["id"] not in [o["id"] for o in every.json()["overrides"]]
    one = api.get(URL, schedule="utc").json()["overrides"]
    assert [(o["id"], o["is_on"]) for o in one] == [(utc["id"], True)]


def test_the_list_refuses_an_unknown_schedule_naming_it(api: Served) -> None:
    response = api.get(URL, schedule="nope-secret")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["field"], error["location"]) == ("schedule", "query")
    assert "nope-secret" not in response.text


def test_deleting_puts_the_schedule_back_and_is_audited(api: Served) -> None:
    created = api.post({"schedule": "primary", "person": "ben", "duration": "8h"}).json()
    assert on_call(api) == "ben"
    response = api.delete(created["id"])
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert on_call(api) == "ana"
    assert api.get(URL).json() == {"overrides": []}
    assert api.audit()[0] == (
        "token:responder",
        "oncall_override.remove",
        f"oncall_override:{created['id']}",
    )


def test_deleting_an_unknown_override_is_404(api: Served) -> None:
    response = api.delete(4242)
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "override_id"
    assert api.audit() == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"person": "ben", "duration": "1h"}, "$.schedule", "$.schedule: is required"),
        (
            {"schedule": "nope", "person": "ben", "duration": "1h"},
            "$.schedule",
            "$.schedule: not a configured schedule (known: primary, utc)",
        ),
        (
            {"schedule": "primary", "person": "zed", "duration": "1h"},
            "$.person",
            "$.person: not one of oncall.people; add the person to opsbook.yaml first",
        ),
        (
            {"schedule": "primary", "person": "ben", "start": SAT_18, "end": SAT_10},
            "$.end",
            "$.end: must be after start",
        ),
        (
            {
                "schedule": "primary",
                "person": "ben",
                "start": "2026-03-30T10:00:00Z",
                "end": "2026-03-31T09:00:00Z",
            },
            "$.end",
            "$.end: must be in the future",
        ),
        (
            {"schedule": "primary", "person": "ben", "duration": "91d"},
            "$.end",
            "$.end: an override lasts at most 90 days (add several for longer)",
        ),
        (
            {"schedule": "primary", "person": "ben"},
            "$.end",
            "$.end: set end or duration (one of them)",
        ),
        (
            {"schedule": "primary", "person": "ben", "end": SAT_18, "duration": "1h"},
            "$.end",
            "$.end: set end or duration (one of them)",
        ),
        (
            {"schedule": "primary", "person": "ben", "duration": "soonish"},
            "$.duration",
            "$.duration: not a duration (use e.g. 8h, 2d)",
        ),
        (
            {"schedule": "primary", "person": "ben", "end": "2026-04-04T18:00"},
            "$.end",
            "$.end: needs an offset (e.g. 2026-11-28T10:00:00+01:00 or ...Z)",
        ),
        (
            {"schedule": "primary", "person": "ben", "duration": "1h", "created_by": "x"},
            "$.created_by",
            "$.created_by: is not a known field",
        ),
    ],
)
def test_it_refuses_bad_bodies_naming_the_field_and_writes_nothing(
    api: Served, body: dict[str, Any], field: str, message: str
) -> None:
    response = api.post(body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["field"], error["message"], error["location"]) == (field, message, "body")
    assert api.stored() == 0
    assert api.audit() == []


def test_errors_never_repeat_what_was_sent(api: Served) -> None:
    response = api.post({"schedule": "hunter2-schedule", "person": "ben", "duration": "1h"})
    assert response.status_code == 400
    assert "hunter2" not in response.text


def test_a_viewer_may_list_but_not_add_or_remove(api: Served) -> None:
    created = api.post({"schedule": "primary", "person": "ben", "duration": "1h"}).json()
    assert api.get(URL, Role.VIEWER).status_code == 200
    body = {"schedule": "primary", "person": "ana", "duration": "1h"}
    assert api.post(body, Role.VIEWER).status_code == 403
    assert api.delete(created["id"], Role.VIEWER).status_code == 403
    assert api.stored() == 1
    assert api.post(body, None).status_code == 401
    assert api.get(URL, None).status_code == 401
    assert api.post(body, Role.ADMIN).status_code == 201


def test_wrong_method_is_405(api: Served) -> None:
    assert api.client.put(URL, json={}, headers=api.as_(Role.ADMIN)).status_code == 405


def test_the_openapi_document_describes_the_body(api: Served) -> None:
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["schedule", "person"]
    assert set(body["properties"]) == {"schedule", "person", "start", "end", "duration", "reason"}
