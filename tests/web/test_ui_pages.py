"""The alerts, silences, on-call, notifications, audit and check pages (issue 12): each renders
for a viewer; each form works for a responder, is 403 for a viewer and needs its CSRF token;
``/audit`` is for admins only; the alerts, silences, notifications and check pages are live
(``/ui/events`` markers and ``data-live`` parts). Both stores; the clock is frozen at
``ui_helpers.NOW``."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from ui_helpers import CONFIG, NOW, csrf_of

from alert_helpers import open_rule_alert
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.alerts import silences
from opsbook.alerts.dispatch import dispatch
from opsbook.alerts.models import Matcher
from opsbook.checks import service as checks_service
from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.notify import list_dead_letters, outbox
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit, record_audit
from opsbook.web import create_app
from opsbook.web.auth import SESSION_COOKIE
from opsbook.web.docs import STATIC_DIR
from opsbook.web.ui.check_series import WINDOWS, grid
from opsbook.web.ui.overview_data import read_version

PEOPLE = {"vic": Role.VIEWER, "rea": Role.RESPONDER, "ada": Role.ADMIN}
PAGES_CONFIG: dict[str, Any] = {
    **CONFIG,
    "oncall": {
        "people": {
            "vic": {"name": "Vic Viewer"},
            "rea": {"name": "Rea Responder"},
            "ada": {"name": "Ada Admin"},
        },
        "schedules": {
            "primary": {
                "layers": [{"rotation": "weekly", "people": ["rea", "ada"], "start": "2026-11-02"}],
                "overrides": [
                    {"person": "vic", "start": "2026-11-28T09:00", "end": "2026-11-29T09:00"}
                ],
            }
        },
    },
    "maintenance": {
        "db-upgrade": {
            "start": "2026-11-24T02:00",
            "end": "2026-11-24T03:00",
            "checks": ["api"],
            "description": "postgres 17",
        }
    },
}
PAGES = ["/alerts", "/silences", "/silences/new", "/oncall", "/notifications", "/checks/api"]


@dataclass
class Site:
    engine: Engine
    clients: dict[str, TestClient]

    def form(self, who: str, page: str, action: str, data: dict[str, str]) -> Any:
        """Post ``data`` to ``action`` with the CSRF token of ``page`` as ``who`` sees it."""
        client = self.clients[who]
        token = csrf_of(client.get(page).text)
        return client.post(action, data={"csrf_token": token, **data})


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    engine = create_engine(store_url)
    upgrade(engine)
    cookies = {}
    with engine.begin() as conn:
        for person, role in PEOPLE.items():
            # No password: a session opened through the service, as the login form's does,
            # spares each test the argon2 hashing (tests/web/test_ui_login.py logs in for real).
            accounts.add_account(conn, person=person, role=role, people=list(PEOPLE), now=NOW)
            cookies[person], _ = accounts.open_session(
                conn, person=person, address="testclient", now=NOW
            )
    app = create_app(
        Config.model_validate(PAGES_CONFIG),
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


def fire(engine: Engine, rule: str, *, service: str, ago: timedelta) -> int:
    with engine.begin() as conn:
        return open_rule_alert(
            conn, rule, check="api", labels={"service": service}, now=NOW - ago, values={}
        )


def dead_letter(engine: Engine, *, reason: str) -> int:
    with engine.begin() as conn:
        row = outbox.enqueue(
            conn, channel="ops-hook", kind="alert", payload={}, idempotency_key="k1", now=NOW
        )
        assert row is not None
        outbox.claim_due(conn, now=NOW, limit=10, lease=timedelta(minutes=1))
        outbox.mark_dead(conn, row, reason=reason, now=NOW)
    return row


def silence_ids(engine: Engine) -> dict[str, str]:
    with engine.begin() as conn:
        found = silences.list_silences(conn, now=NOW, include_expired=True)
    return {s.id: s.state(NOW) for s in found}


@pytest.mark.parametrize("path", [*PAGES, "/audit"])
def test_an_anonymous_visitor_is_sent_to_the_login_form(site: Site, path: str) -> None:
    anonymous = TestClient(site.clients["vic"].app, follow_redirects=False)
    answer = anonymous.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_every_page_renders_for_a_viewer_without_forms_they_cannot_use(site: Site) -> None:
    fire(site.engine, "api-down", service="api", ago=timedelta(minutes=5))
    dead_letter(site.engine, reason="answered 404 Not Found")
    with site.engine.begin() as conn:
        silences.create_silence(
            conn,
            matchers=[Matcher("service", "api")],
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            created_by="rea",
            comment="deploying",
            now=NOW,
            origin="test",
        )
    viewer = site.clients["vic"]
    for path in PAGES:
        answer = viewer.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html")
        assert "<script>" not in answer.text and "style=" not in answer.text, path
    silences_page = viewer.get("/silences").text
    assert "deploying" in silences_page and "/expire" not in silences_page
    assert "/retry" not in viewer.get("/notifications").text
    assert "needs the responder role" in viewer.get("/silences/new").text


def test_alerts_lists_what_fires_filters_by_label_and_links_a_prefilled_silence(
    site: Site,
) -> None:
    api = fire(site.engine, "api-down", service="api", ago=timedelta(minutes=5))
    web = fire(site.engine, "web-slow", service="web", ago=timedelta(hours=2))
    client = site.clients["vic"]
    page = client.get("/alerts").text
    assert f'id="alert-{api}"' in page and f'id="alert-{web}"' in page
    assert "SEV1" in page and "5m ago" in page and "2h ago" in page
    only_api = client.get("/alerts", params={"filter": 'service="api"'}).text
    assert f'id="alert-{api}"' in only_api and f'id="alert-{web}"' not in only_api
    regex = client.get("/alerts", params={"filter": '{alertname=~"web-.*", service!="api"}'}).text
    assert f'id="alert-{web}"' in regex and f'id="alert-{api}"' not in regex
    link = re.search(rf'id="alert-{api}".*?href="(/silences/new\?[^"]+)"', only_api, re.S)
    assert link is not None
    form = html.unescape(client.get(html.unescape(link.group(1))).text)
    assert 'service="api"' in form and 'alertname="api-down"' in form


def test_a_bad_filter_is_400_naming_it_without_repeating_it(site: Site) -> None:
    answer = site.clients["vic"].get("/alerts", params={"filter": "secret-x9=~(("})
    assert answer.status_code == 400
    assert "filter[0]:" in answer.text
    assert "secret-x9" not in answer.text


def test_a_responder_creates_a_silence_as_themself(site: Site) -> None:
    answer = site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": 'service="api"\nalertname=~"api-.*"', "duration": "2h", "comment": "deploy"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/silences"
    with site.engine.begin() as conn:
        [created] = silences.list_silences(conn, now=NOW)
        audit = list_audit(conn, limit=1)[0]
    assert created.created_by == "rea"
    assert created.ends_at == NOW + timedelta(hours=2)
    assert [str(m) for m in created.matchers] == ['service="api"', 'alertname=~"api-.*"']
    assert (audit.action, audit.actor) == ("silence.create", "user:rea")
    assert audit.origin.startswith("ui ")
    assert created.id[:8] in site.clients["rea"].get("/silences").text


def test_an_end_time_is_read_in_the_configs_timezone(site: Site) -> None:
    answer = site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": "api-down", "ends_at": "2026-11-22T18:30", "comment": "x"},
    )
    assert answer.status_code == 303
    with site.engine.begin() as conn:
        [created] = silences.list_silences(conn, now=NOW)
    assert created.ends_at == NOW.replace(hour=18, minute=30)  # CONFIG's timezone is UTC


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"matchers": "", "duration": "2h", "comment": "c"}, "matchers: a silence needs"),
        ({"matchers": "a=b\nhunter2!!", "duration": "2h", "comment": "c"}, "matchers[1]: not a"),
        ({"matchers": "a=b", "duration": "hunter2", "comment": "c"}, "duration: not a duration"),
        ({"matchers": "a=b", "ends_at": "hunter2", "comment": "c"}, "ends_at: not a date"),
        ({"matchers": "a=b", "duration": "2h", "comment": " "}, "comment: say why"),
    ],
)
def test_a_bad_silence_form_is_400_naming_the_field_and_nothing_is_stored(
    site: Site, data: dict[str, str], message: str
) -> None:
    answer = site.form("rea", "/silences/new", "/silences/new", data)
    assert answer.status_code == 400
    assert message in answer.text
    assert "hunter2" not in answer.text
    assert silence_ids(site.engine) == {}


def test_a_responder_expires_a_silence(site: Site) -> None:
    site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": "a=b", "duration": "1h", "comment": "c"},
    )
    [silence_id] = silence_ids(site.engine)
    answer = site.form("rea", "/silences", f"/silences/{silence_id}/expire", {})
    assert answer.status_code == 303
    assert silence_ids(site.engine) == {silence_id: "expired"}
    again = site.form("rea", "/silences", f"/silences/{silence_id}/expire", {})
    assert again.status_code == 409


def test_a_responder_retries_a_dead_letter(site: Site) -> None:
    row = dead_letter(site.engine, reason="answered 404 Not Found")
    page = site.clients["rea"].get("/notifications").text
    assert f'id="notification-{row}"' in page and "answered 404 Not Found" in page
    answer = site.form("rea", "/notifications", f"/notifications/{row}/retry", {})
    assert answer.status_code == 303 and answer.headers["location"] == "/notifications"
    with site.engine.begin() as conn:
        assert list_dead_letters(conn) == []
        assert outbox.get_notification(conn, row).state == "pending"
        assert list_audit(conn, limit=1)[0].action == "notification.retry"
    assert site.form("rea", "/notifications", "/notifications/999/retry", {}).status_code == 404


@pytest.mark.parametrize(
    ("page", "action"),
    [
        ("/silences/new", "/silences/new"),
        ("/silences", "/silences/{silence}/expire"),
        ("/notifications", "/notifications/{row}/retry"),
    ],
)
def test_each_form_is_403_for_a_viewer_and_needs_its_csrf_token(
    site: Site, page: str, action: str
) -> None:
    row = dead_letter(site.engine, reason="gone")
    site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": "a=b", "duration": "1h", "comment": "c"},
    )
    [silence_id] = silence_ids(site.engine)
    target = action.format(silence=silence_id, row=row)
    data = {"matchers": "x=y", "duration": "1h", "comment": "c"}
    assert site.form("vic", page, target, data).status_code == 403
    no_token = site.clients["rea"].post(target, data=data)
    assert no_token.status_code == 403
    wrong = site.clients["rea"].post(target, data={**data, "csrf_token": "another-sessions"})
    assert wrong.status_code == 403
    # Nothing changed: the silence is still the one active one, the letter still dead.
    assert silence_ids(site.engine) == {silence_id: "active"}
    with site.engine.begin() as conn:
        assert [d.id for d in list_dead_letters(conn)] == [row]


def test_the_audit_page_is_for_admins_and_filters_by_actor(site: Site) -> None:
    with site.engine.begin() as conn:
        for actor, action in (("user:rea", "silence.create"), ("token:ci", "incident.ack")):
            record_audit(
                conn, actor=actor, action=action, subject="s:1", detail={}, origin="test", at=NOW
            )
    assert site.clients["vic"].get("/audit").status_code == 403
    assert site.clients["rea"].get("/audit").status_code == 403
    admin = site.clients["ada"]
    everything = admin.get("/audit").text
    assert "silence.create" in everything and "incident.ack" in everything
    only_ci = admin.get("/audit", params={"actor": "token:ci"}).text
    assert "incident.ack" in only_ci and "silence.create" not in only_ci
    assert '<option value="token:ci" selected>' in only_ci
    unknown = admin.get("/audit", params={"actor": "hunter2"})
    assert unknown.status_code == 200 and "hunter2" not in unknown.text


def test_oncall_shows_who_is_on_now_the_next_four_weeks_and_overrides(site: Site) -> None:
    page = site.clients["vic"].get("/oncall").text
    # Weekly from Monday 2026-11-02 09:00: rea, ada, rea, then ada from the 23rd... NOW is Sunday
    # 2026-11-22 12:00, in rea's third week.
    assert "Rea Responder</span> is on call now" in page
    assert "until 2026-11-23 09:00" in page
    assert page.count('class="override"') == 1
    assert "Vic Viewer</span> 2026-11-28 09:00 to 2026-11-29 09:00" in page
    assert page.count('<rect class="person-') >= 5


def record(engine: Engine, results: list[ProbeResult]) -> None:
    with engine.begin() as conn:
        checks_service.record_results(
            conn, results=results, intervals={r.check_id: timedelta(seconds=30) for r in results}
        )


def test_the_check_page_charts_latency_and_availability_and_lists_failures(site: Site) -> None:
    results = []
    for i in range(120):  # the last hour, every 30 s: 20 ms, the last 10 min down
        at = NOW - timedelta(hours=1) + i * timedelta(seconds=30)
        down = at >= NOW - timedelta(minutes=10)
        results.append(
            ProbeResult(
                check_id="api",
                started_at=at,
                state=State.DOWN if down else State.UP,
                latency_ms=2000.0 if down else 20.0,
                error="status 500" if down else None,
                status=500 if down else 200,
                failed_conditions=("[STATUS] == 200",) if down else (),
            )
        )
    record(site.engine, results)
    client = site.clients["vic"]
    page = client.get("/checks/api", params={"window": "1h"}).text
    assert 'aria-current="page">1h<' in page
    series = re.search(r"data-series='([^']+)'", page)
    assert series is not None
    assert series.group(1).count("null") < 20  # 60 one-minute points, nearly all with data
    assert page.count('class="bar-up"') >= 45 and page.count('class="bar-down"') == 10
    assert "[STATUS] == 200" in page and "status 500" in page
    assert "db-upgrade" in page and "postgres 17" in page
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page
    for window in WINDOWS:
        assert client.get("/checks/api", params={"window": window}).status_code == 200
    # The overview links each check to its page.
    assert 'href="/checks/api"' in client.get("/").text


def test_the_check_page_refuses_an_unknown_window_or_check(site: Site) -> None:
    client = site.clients["vic"]
    bad = client.get("/checks/api", params={"window": "hunter2"})
    assert bad.status_code == 400 and "window:" in bad.text and "hunter2" not in bad.text
    assert client.get("/checks/nope").status_code == 404


@pytest.mark.parametrize("window", list(WINDOWS))
def test_each_window_has_whole_steps_ending_with_the_one_holding_now(window: str) -> None:
    spec = WINDOWS[window]
    start, count = grid(spec, NOW + timedelta(seconds=17))
    assert start + count * spec.step > NOW >= start + (count - 1) * spec.step
    assert count * spec.step == spec.length


def test_the_vendored_uplot_matches_its_manifest() -> None:
    folder = STATIC_DIR / "vendor" / "uplot"
    lines = (folder / "MANIFEST").read_text(encoding="utf-8").splitlines()
    assert "package uplot" in lines
    sums = dict(reversed(line.split(" ", 2)[1:]) for line in lines if line.startswith("sha256 "))
    assert set(sums) == {p.name for p in folder.iterdir()} - {"MANIFEST"}
    assert {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"} <= set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


LIVE_PAGES = ["/alerts", "/silences", "/notifications", "/checks/api"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class LiveParts(HTMLParser):
    """The ``data-live`` elements of a page (their ids, in order), the ids of the elements
    inside each, and whether one sits inside another (live.js would swap it twice)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.inside: dict[str, list[str]] = {}
        self.nested = False
        self._open: list[tuple[str, str | None]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        element_id = found.get("id") or ""
        around = [part for _, part in self._open if part is not None]
        for part in around if element_id else ():
            self.inside[part].append(element_id)
        live = "data-live" in found
        if live:
            self.nested = self.nested or bool(around)
            self.parts.append(element_id)
            self.inside[element_id] = []
        if tag not in VOID:
            self._open.append((tag, element_id if live else None))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break


def rendered_markers(page: str) -> tuple[str, str]:
    found = re.search(
        r'<div id="live-version" data-live data-version="([^"]*)" data-results="([^"]*)" hidden>',
        page,
    )
    assert found is not None, "the page carries no live-version"
    return html.unescape(found.group(1)), found.group(2)


def result(at: datetime, state: State = State.UP) -> ProbeResult:
    down = state is State.DOWN
    return ProbeResult(
        check_id="api",
        started_at=at,
        state=state,
        latency_ms=2000.0 if down else 20.0,
        error="status 500" if down else None,
        status=500 if down else 200,
    )


def stored_markers(engine: Engine) -> tuple[str, str]:
    with engine.begin() as conn:
        version, results = read_version(conn)
    return version, str(results)


@pytest.mark.parametrize("path", LIVE_PAGES)
def test_a_live_page_carries_the_stores_markers_live_js_and_ids_on_its_live_parts(
    site: Site, path: str
) -> None:
    fire(site.engine, "api-down", service="api", ago=timedelta(minutes=5))
    record(site.engine, [result(NOW)])
    page = site.clients["vic"].get(path).text
    assert rendered_markers(page) == stored_markers(site.engine)
    assert '<script src="/static/ui/live.js?v=' in page
    live = LiveParts(page)
    assert live.parts[0] == "live-version" and len(live.parts) >= 2
    assert all(live.parts) and len(set(live.parts)) == len(live.parts), live.parts
    assert not live.nested


def test_the_alerts_page_moves_its_markers_when_an_alert_fires(site: Site) -> None:
    client = site.clients["vic"]
    before = rendered_markers(client.get("/alerts").text)
    api = fire(site.engine, "api-down", service="api", ago=timedelta(minutes=1))
    page = client.get("/alerts").text
    assert rendered_markers(page) != before
    assert f"alert-{api}" in LiveParts(page).inside["live-alert-list"]
    # The filter box is outside the swapped part, so typing in it survives a refresh.
    assert "filter" not in LiveParts(page).inside["live-alert-list"]


def test_a_refused_filter_renders_no_markers(site: Site) -> None:
    answer = site.clients["vic"].get("/alerts", params={"filter": "a=~(("})
    assert answer.status_code == 400
    assert 'id="live-version"' not in answer.text


def test_the_silences_page_moves_its_markers_when_a_silence_mutes_an_alert(site: Site) -> None:
    fire(site.engine, "api-down", service="api", ago=timedelta(minutes=5))
    client = site.clients["vic"]
    before = rendered_markers(client.get("/silences").text)
    site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": 'service="api"', "duration": "1h", "comment": "deploying"},
    )
    [silence_id] = silence_ids(site.engine)
    # The alert engine's pass marks the alert silenced and writes its "silenced" event.
    with site.engine.begin() as conn:
        dispatch(conn, config=Config.model_validate(PAGES_CONFIG), now=NOW, emit=None)
    page = client.get("/silences").text
    assert rendered_markers(page) != before
    assert f"silence-{silence_id}" in LiveParts(page).inside["live-silences"]


def test_a_silence_that_mutes_nothing_moves_the_markers_by_itself(site: Site) -> None:
    """No alert event is written for it: the audited write is what moves the markers."""
    client = site.clients["vic"]
    before = rendered_markers(client.get("/silences").text)
    site.form(
        "rea",
        "/silences/new",
        "/silences/new",
        {"matchers": 'service="nothing-fires"', "duration": "1h", "comment": "quiet"},
    )
    [silence_id] = silence_ids(site.engine)
    page = client.get("/silences").text
    assert rendered_markers(page) != before
    assert rendered_markers(page) == stored_markers(site.engine)
    assert f"silence-{silence_id}" in LiveParts(page).inside["live-silences"]


def test_the_notifications_page_moves_its_markers_with_alert_events(site: Site) -> None:
    row = dead_letter(site.engine, reason="answered 410 Gone")
    client = site.clients["vic"]
    before = rendered_markers(client.get("/notifications").text)
    fire(site.engine, "api-down", service="api", ago=timedelta(minutes=1))
    page = client.get("/notifications").text
    assert rendered_markers(page) != before
    assert f"notification-{row}" in LiveParts(page).inside["live-dead-letters"]


def test_the_check_page_moves_its_markers_with_results_and_keeps_the_chart_unswapped(
    site: Site,
) -> None:
    client = site.clients["vic"]
    record(site.engine, [result(NOW - timedelta(seconds=60))])
    first = rendered_markers(client.get("/checks/api").text)
    record(site.engine, [result(NOW - timedelta(seconds=30))])
    more = rendered_markers(client.get("/checks/api").text)
    # A result alone moves only the results marker (live.js refreshes at most every 30 s).
    assert more[0] == first[0] and more[1] != first[1]
    record(site.engine, [result(NOW, State.DOWN)])
    page = client.get("/checks/api").text
    assert rendered_markers(page)[0] != more[0]
    live = LiveParts(page)
    assert {"live-check-state", "live-figures", "live-availability", "live-failures"} <= set(
        live.parts
    )
    assert 'class="state-word">down<' in page
    # uPlot draws into #latency-chart once; a swapped-in box would be an empty one.
    assert 'id="latency-chart"' in page
    assert all("latency-chart" not in ids for ids in live.inside.values())
