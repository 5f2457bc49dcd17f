"""The status page's HTML through the real app (no login) on both store backends: what it
shows, that its links are relative, and that it needs no script or inline style."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import NOW, WINDOW_START, Shop, shop_config

from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.statuspage import html
from opsbook.statuspage.site import render_site
from opsbook.statuspage.snapshot import DayAvailability
from opsbook.web import create_app


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[Shop, TestClient]]:
    shop = Shop(engine, Config.model_validate(shop_config()))
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    yield shop, TestClient(app)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" or "style" in found or tag == "style":
            self.bad.append(tag)
        for name in ("href", "src"):
            value = found.get(name)
            if value is not None:
                self.refs.append(value)


def refs(body: str) -> _Refs:
    parser = _Refs()
    parser.feed(body)
    return parser


def test_the_page_is_public_and_says_all_is_well(site: tuple[Shop, TestClient]) -> None:
    shop, client = site
    shop.results("web-http", ["up"] * 4, start=NOW - timedelta(minutes=2))
    response = client.get("/status/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    body = response.text
    assert "All Systems Operational" in body
    assert "<title>Shop status</title>" in body
    # Public components only, grouped: the internal one never shows.
    assert "Website" in body and "Storefront" in body and "Database" in body
    assert "Internal tools" not in body
    assert body.count('class="bar ') == 90 * 3


def test_links_are_relative_and_nothing_is_inline_or_third_party(
    site: tuple[Shop, TestClient],
) -> None:
    _, client = site
    for path in ("/status/", "/status/history/"):
        found = refs(client.get(path).text)
        assert found.bad == []
        for ref in found.refs:
            assert not ref.startswith("/"), (path, ref)
            # No logo URL configured here, nor email subscribers (their link is absolute).
            assert "://" not in ref, (path, ref)


def test_a_bare_path_redirects_to_the_folder(site: tuple[Shop, TestClient]) -> None:
    _, client = site
    for path, to in (("/status", "status/"), ("/status/history", "history/")):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (308, to)
    assert client.get("/status").url.path == "/status/"


def test_an_incident_shows_with_its_public_updates_only(site: tuple[Shop, TestClient]) -> None:
    shop, client = site
    incident = shop.declare(summary="Card payments fail for some customers.")
    shop.clock.advance(timedelta(minutes=5))
    shop.update(incident, IncidentStatus.IDENTIFIED, "A bad deploy; rolling back.", eta="20 min")
    shop.note(incident, "internal: ssh db-3 and look at pg_stat_activity")
    shop.clock.advance(timedelta(seconds=1))
    body = client.get("/status/").text
    assert "Active incidents" in body
    assert "Checkout errors" in body
    assert "Card payments fail for some customers." in body
    assert "A bad deploy; rolling back." in body
    assert "pg_stat_activity" not in body
    assert 'class="status s-partial_outage">Partial Outage' in body
    assert "Minor Service Outage" in body or "Partial System Outage" in body


def test_resolved_incidents_are_listed_by_month_in_the_history(
    site: tuple[Shop, TestClient],
) -> None:
    shop, client = site
    incident = shop.declare()
    shop.clock.advance(timedelta(minutes=30))
    shop.update(incident, IncidentStatus.RESOLVED, "Fixed by rolling back.")
    shop.clock.advance(timedelta(seconds=1))
    history = client.get("/status/history/").text
    assert "<h2>December 2026</h2>" in history
    assert f'id="incident-{incident}"' in history
    assert "Fixed by rolling back." in history
    assert "Active incidents" not in client.get("/status/").text


def test_maintenance_shows_as_scheduled_then_in_progress(site: tuple[Shop, TestClient]) -> None:
    shop, client = site
    body = client.get("/status/").text
    assert "Scheduled maintenance" in body and "Database upgrade to PostgreSQL 17" in body
    # One day's window: its date once, the times in the page's zone.
    assert "Scheduled 2 Dec 2026, 02:00 to 04:00 UTC" in body
    shop.clock.advance(WINDOW_START - NOW + timedelta(minutes=1))
    body = client.get("/status/").text
    assert "Maintenance in progress" in body
    assert 'class="status s-under_maintenance">Under Maintenance' in body


@pytest.mark.parametrize(
    ("availability", "level"),
    [
        (None, "none"),
        (100.0, "ok"),
        (99.95, "ok"),
        (99.5, "minor"),
        (97.0, "partial"),
        (2.0, "major"),
    ],
)
def test_a_day_is_drawn_by_how_much_of_it_was_down(availability: float | None, level: str) -> None:
    day = DayAvailability(day=NOW.date(), availability=availability, down_seconds=0.0)
    assert html.level(day) == level


def test_a_bar_says_its_day_availability_and_incidents(site: tuple[Shop, TestClient]) -> None:
    shop, client = site
    shop.results("api-http", ["up"] * 10 + ["down"] * 10, start=NOW - timedelta(minutes=10))
    shop.results("api-tcp", ["up"] * 20, start=NOW - timedelta(minutes=10))
    shop.declare()
    shop.clock.advance(timedelta(seconds=1))
    body = client.get("/status/").text
    api = body[body.index('id="component-api"') :]
    bars = re.findall(r'<li class="bar (\w+)" title="([^"]*)"', api)[:90]
    assert bars[0] == ("none", "3 Sep 2026: no data")
    level, title = bars[-1]
    assert level == "major"
    assert title.startswith("1 Dec 2026: 50% available, down 5 min")
    assert title.endswith("Incidents: Checkout errors")


def test_a_component_is_rendered_again_only_when_what_it_shows_changed(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    shop.results("api-http", ["up"] * 4, start=NOW - timedelta(minutes=2))
    first = shop.snapshot()
    page = html.index(first)
    kept = {c.id: html._FRAGMENTS[c.id][1] for c in first.components}
    # Nothing changed: the same fragments, and the same bytes.
    assert html.index(shop.snapshot()) == page
    assert all(html._FRAGMENTS[c][1] is f for c, f in kept.items())
    # Today's bar of api changes; the others are not rendered again.
    shop.results("api-http", ["down"] * 4, start=NOW - timedelta(seconds=50))
    shop.clock.advance(timedelta(seconds=10))
    changed = shop.snapshot()
    body = html.index(changed).decode()
    assert html._FRAGMENTS["api"][1] is not kept["api"]
    assert html._FRAGMENTS["db"][1] is kept["db"]
    api = body[body.index('id="component-api"') :]
    assert re.findall(r'<li class="bar (\w+)"', api)[89] == "major"
    # What is kept is what a rendering from nothing makes.
    html._FRAGMENTS.clear()
    assert html.index(changed).decode() == body


def _mail_config(**server: str) -> dict[str, object]:
    raw = shop_config(subscribers={"email_channel": "status-mail"})
    raw["channels"] = {
        "status-mail": {
            "smtp": {"to": "ops@shop.example", "host": "127.0.0.1", "from": "s@shop.example"}
        }
    }
    if server:
        raw["server"] = server
    return raw


def _subscribe_links(body: str) -> list[str]:
    return [r for r in refs(body).refs if r.endswith("subscribe")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # No email subscribers: no link (the form would answer 404).
        (shop_config(), []),
        # The page's address names the server: its form there, by absolute URL.
        (_mail_config(), ["https://status.shop.example/status/subscribe"]),
        # The page is published elsewhere; the server has its own address: the form is there.
        (
            _mail_config(public_url="https://ops.shop.example/"),
            ["https://ops.shop.example/status/subscribe"],
        ),
    ],
)
def test_subscribe_links_to_the_server_s_form_in_the_served_page_and_the_export_alike(
    engine: Engine, raw: dict[str, object], expected: list[str]
) -> None:
    shop = Shop(engine, Config.model_validate(raw))
    client = TestClient(
        create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    )
    served = client.get("/status/")
    assert _subscribe_links(served.text) == expected
    # A static export has no form: the link is absolute, so the exported bytes stay the served.
    assert render_site(shop.snapshot(), shop.config)["index.html"] == served.content
    if expected:
        form = client.get(urlsplit(expected[0]).path)
        assert form.status_code == 200 and "<form" in form.text


@pytest.mark.parametrize(
    ("zone", "start", "end", "shown"),
    [
        ("UTC", "2026-12-02T02:00Z", "2026-12-02T04:00Z", "2 Dec 2026, 02:00 to 04:00 UTC"),
        (
            "UTC",
            "2026-12-02T22:00Z",
            "2026-12-03T02:00Z",
            "2 Dec 2026, 22:00 UTC to 3 Dec 2026, 02:00 UTC",
        ),
        # Within a day in the page's zone, though not in UTC.
        (
            "America/New_York",
            "2026-12-02T22:00Z",
            "2026-12-03T02:00Z",
            "2 Dec 2026, 17:00 to 21:00 EST",
        ),
        # The clocks change during the window: both ends in full, each with its zone name.
        (
            "Europe/Lisbon",
            "2026-10-25T00:00Z",
            "2026-10-25T03:00Z",
            "25 Oct 2026, 01:00 WEST to 25 Oct 2026, 03:00 WET",
        ),
    ],
)
def test_a_maintenance_window_is_written_once_for_its_day(
    zone: str, start: str, end: str, shown: str
) -> None:
    page = SimpleNamespace(page=SimpleNamespace(timezone=zone), incidents=[])
    words = html._Words(page)  # type: ignore[arg-type]
    assert words.span(datetime.fromisoformat(start), datetime.fromisoformat(end)) == shown
