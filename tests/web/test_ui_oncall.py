"""``/oncall``'s override form and remove buttons, on both stores, the clock frozen at
``ui_helpers.NOW`` (Sunday 2026-11-22 12:00 UTC): a responder adds and removes overrides (CSRF,
post/redirect/get, audited as the person from ``ui <address>``), who is on call changes, a
viewer sees no form and is refused; refused input names the field, repeats nothing and stores
nothing. The page is live (``/ui/events`` markers, ``data-live`` parts, live.js)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from ui_helpers import NOW, csrf_of

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import overrides
from opsbook.incidents.overrides import oncall_override
from opsbook.store import create_engine, list_audit, upgrade
from opsbook.web import create_app
from opsbook.web.auth import SESSION_COOKIE
from opsbook.web.ui.overview_data import read_version

PEOPLE = {"vic": Role.VIEWER, "rea": Role.RESPONDER}
CONFIG: dict[str, Any] = {
    "service": "shop",
    "timezone": "UTC",
    "oncall": {
        "people": {"vic": {"name": "Vic Viewer"}, "rea": {"name": "Rea Responder"}},
        "schedules": {
            # rea's week from Monday 2026-11-16 09:00 to 2026-11-23 09:00.
            "primary": {"rotation": "weekly", "people": ["rea", "vic"], "start": "2026-11-02"},
            "nights": {"timezone": "Europe/Berlin", "rotation": "daily", "people": ["vic"]},
        },
    },
}


@dataclass
class Site:
    engine: Engine
    clients: dict[str, TestClient]

    def form(self, who: str, action: str, data: dict[str, str]) -> Any:
        client = self.clients[who]
        token = csrf_of(client.get("/oncall").text)
        return client.post(action, data={"csrf_token": token, **data})

    def stored(self) -> list[overrides.StoredOverride]:
        with self.engine.connect() as conn:
            return overrides.list_overrides(conn, schedules=["primary", "nights"], after=NOW)

    def count(self) -> int:
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(oncall_override)
            return int(conn.execute(query).scalar() or 0)


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    engine = create_engine(store_url)
    upgrade(engine)
    cookies = {}
    with engine.begin() as conn:
        for person, role in PEOPLE.items():
            accounts.add_account(conn, person=person, role=role, people=list(PEOPLE), now=NOW)
            cookies[person], _ = accounts.open_session(
                conn, person=person, address="testclient", now=NOW
            )
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    clients = {}
    for person in PEOPLE:
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        client.cookies.set(SESSION_COOKIE, cookies[person])
        clients[person] = client
    try:
        yield Site(engine, clients)
    finally:
        app.state.services.engine.dispose()
        engine.dispose()


def now_line(page: str, schedule: str) -> str:
    section = page.split(f'id="schedule-{schedule}"', 1)[1]
    found = re.search(r'<p class="now-oncall">(.*?)</p>', section, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_a_responder_sees_a_labelled_form_per_schedule(site: Site) -> None:
    page = site.clients["rea"].get("/oncall").text
    assert page.count('action="/oncall/overrides"') == 2
    for schedule in ("primary", "nights"):
        for field in ("person", "start", "end", "duration", "reason"):
            assert f'<label for="ov-{schedule}-{field}">' in page
            assert f'id="ov-{schedule}-{field}"' in page
    assert '<option value="vic">Vic Viewer</option>' in page
    assert "From (Europe/Berlin)" in page  # each form reads times in its schedule's zone


def test_a_viewer_sees_the_overrides_but_no_form_and_no_remove_button(site: Site) -> None:
    with site.engine.begin() as conn:
        overrides.add_override(
            conn,
            Config.model_validate(CONFIG),
            schedule="primary",
            person="vic",
            start=NOW,
            end=NOW + (NOW - NOW.replace(hour=8)),
            reason="swap",
            actor="user:rea",
            origin="test",
            now=NOW,
        )
    page = site.clients["vic"].get("/oncall").text
    assert "Vic Viewer</span> 2026-11-22 12:00 to 2026-11-22 16:00" in page
    assert "added by user:rea: swap" in page
    assert "/oncall/overrides" not in page
    assert "Vic Viewer is on call now (override)" in now_line(page, "primary")


def test_a_responder_adds_an_override_and_who_is_on_call_changes(site: Site) -> None:
    before = site.clients["rea"].get("/oncall").text
    assert now_line(before, "primary").startswith("Rea Responder is on call now,")
    answer = site.form(
        "rea",
        "/oncall/overrides",
        {"schedule": "primary", "person": "vic", "duration": "8h", "reason": "dentist"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/oncall#schedule-primary"
    [stored] = site.stored()
    assert (stored.person, stored.start, stored.end, stored.reason) == (
        "vic",
        NOW,
        NOW.replace(hour=20),
        "dentist",
    )
    assert stored.created_by == "user:rea"
    page = site.clients["rea"].get("/oncall").text
    assert now_line(page, "primary").startswith("Vic Viewer is on call now (override),")
    assert now_line(page, "nights").startswith("Vic Viewer is on call now,")  # untouched
    assert f'id="override-{stored.id}"' in page
    assert f'action="/oncall/overrides/{stored.id}/remove"' in page
    with site.engine.connect() as conn:
        event = list_audit(conn)[0]
    assert (event.actor, event.action, event.origin) == (
        "user:rea",
        "oncall_override.add",
        "ui testclient",
    )


def test_start_and_end_are_read_in_the_schedules_timezone(site: Site) -> None:
    answer = site.form(
        "rea",
        "/oncall/overrides",
        {
            "schedule": "nights",
            "person": "rea",
            "start": "2026-11-28T10:00",
            "end": "2026-11-28T18:00",
        },
    )
    assert answer.status_code == 303, answer.text
    [stored] = site.stored()
    assert (stored.start.isoformat(), stored.end.isoformat()) == (
        "2026-11-28T09:00:00+00:00",
        "2026-11-28T17:00:00+00:00",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"person": "nobody-SECRET9"}, "person: not one of oncall.people"),
        ({"duration": "SECRET9"}, "duration: not a duration (use e.g. 8h, 1d), or set an end"),
        ({"duration": "", "end": "SECRET9"}, "end: not a date and time"),
        ({"start": "2026-11-21T10:00", "end": "2026-11-21T12:00"}, "end: must be in the future"),
        ({"duration": "91d"}, "end: an override lasts at most 90 days"),
        ({"schedule": "SECRET9"}, "schedule: not a configured schedule (known: primary, nights)"),
    ],
)
def test_refused_input_names_the_field_repeats_nothing_and_stores_nothing(
    site: Site, data: dict[str, str], message: str
) -> None:
    body = {"schedule": "primary", "person": "vic", "duration": "8h", **data}
    answer = site.form("rea", "/oncall/overrides", body)
    assert answer.status_code == 400
    assert message in html.unescape(answer.text)
    assert "SECRET9" not in answer.text
    assert 'id="live-version"' not in answer.text
    assert site.count() == 0


def test_a_viewer_cannot_add_or_remove(site: Site) -> None:
    answer = site.form("vic", "/oncall/overrides", {"schedule": "primary", "person": "vic"})
    assert answer.status_code == 403
    assert site.count() == 0
    site.form(
        "rea", "/oncall/overrides", {"schedule": "primary", "person": "vic", "duration": "1h"}
    )
    [stored] = site.stored()
    refused = site.form("vic", f"/oncall/overrides/{stored.id}/remove", {})
    assert refused.status_code == 403
    assert site.count() == 1


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    answer = site.clients["rea"].post(
        "/oncall/overrides", data={"schedule": "primary", "person": "vic", "duration": "1h"}
    )
    assert answer.status_code == 403
    assert site.count() == 0


def test_a_responder_removes_a_stored_override(site: Site) -> None:
    site.form(
        "rea", "/oncall/overrides", {"schedule": "primary", "person": "vic", "duration": "1h"}
    )
    [stored] = site.stored()
    answer = site.form("rea", f"/oncall/overrides/{stored.id}/remove", {})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/oncall#schedule-primary"
    assert site.count() == 0
    page = site.clients["rea"].get("/oncall").text
    assert now_line(page, "primary").startswith("Rea Responder is on call now,")
    with site.engine.connect() as conn:
        assert list_audit(conn)[0].action == "oncall_override.remove"
    missing = site.form("rea", f"/oncall/overrides/{stored.id}/remove", {})
    assert missing.status_code == 404


def test_the_overview_shows_a_stored_override_on_call(site: Site) -> None:
    site.form(
        "rea", "/oncall/overrides", {"schedule": "primary", "person": "vic", "duration": "1h"}
    )
    overview = site.clients["vic"].get("/").text
    assert "Vic Viewer" in overview


def test_the_page_is_live(site: Site) -> None:
    page = site.clients["vic"].get("/oncall").text
    with site.engine.connect() as conn:
        version, results = read_version(conn)
    found = re.search(
        r'<div id="live-version" data-live data-version="([^"]*)" data-results="([^"]*)" hidden>',
        page,
    )
    assert found is not None
    assert (html.unescape(found.group(1)), found.group(2)) == (version, str(results))
    assert '<script src="/static/ui/live.js?v=' in page
    parts = re.findall(r'<div id="([^"]+)" data-live', page)
    assert parts == ["live-version", "live-schedule-primary", "live-schedule-nights"]
    # The form sits outside the swapped parts, so what is being typed survives a refresh.
    live = page.split('id="live-schedule-primary"', 1)[1].split('<form method="post"', 1)[0]
    assert "now-oncall" in live and "Overrides" in live
