"""Component badges in the shields.io flat look: width from the Verdana 11px table, colours by
status, uptime and 24-hour p95 response time, served as image/svg+xml, cacheable for a minute,
no login."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import NOW, Shop, shop_config

from opsbook.checks import ProbeResult, State, rollups
from opsbook.checks.service import record_results
from opsbook.config import Config
from opsbook.statuspage import badges, latency
from opsbook.statuspage.site import render_site
from opsbook.statuspage.snapshot import ComponentView, DayAvailability
from opsbook.web import create_app
from opsbook.web.ui.overview_data import read_stats

S = "{http://www.w3.org/2000/svg}"


def test_text_width_adds_the_verdana_advances() -> None:
    assert badges.text_width("") == 0
    assert badges.text_width("build") == pytest.approx(6.85 + 6.96 + 3.02 + 3.02 + 6.85)
    # Outside the table: counted wide, so the text never overflows its box.
    assert badges.text_width("é") == 8.0


def test_a_badge_is_as_wide_as_its_two_texts_plus_padding() -> None:
    svg = badges.badge("API", "operational", "#4c1")
    root = ET.fromstring(svg)
    left = round(badges.text_width("API") + 10)
    right = round(badges.text_width("operational") + 10)
    assert root.get("width") == str(left + right)
    assert root.get("height") == "20"
    assert root.findtext(S + "title") == "API: operational"
    rects = root.findall(f"{S}g/{S}rect")
    assert [r.get("width") for r in rects] == [str(left), str(right), str(left + right)]
    assert rects[1].get("fill") == "#4c1"
    texts = [t.text for t in root.iter(S + "text")]
    assert texts == ["API", "API", "operational", "operational"]


def test_text_is_escaped() -> None:
    root = ET.fromstring(badges.badge("A&B <x>", 'say "hi"', "#555"))
    assert root.findtext(S + "title") == 'A&B <x>: say "hi"'


def _component(*days: float | None) -> ComponentView:
    return ComponentView(
        id="api",
        name="API",
        description="",
        group_id=None,
        position=1,
        status="operational",
        cause="",
        created_at=NOW,
        updated_at=NOW,
        availability=tuple(
            DayAvailability(
                day=(NOW - timedelta(days=len(days) - i)).date(), availability=a, down_seconds=0
            )
            for i, a in enumerate(days)
        ),
    )


@pytest.mark.parametrize(
    ("days", "message", "color"),
    [
        ((None, None), "no data", "#9f9f9f"),
        ((100.0, None, 100.0), "100%", "#4c1"),
        ((100.0, 99.8), "99.9%", "#4c1"),
        ((99.99, 99.99), "99.99%", "#4c1"),
        ((100.0, 98.0), "99%", "#97ca00"),
        ((90.0, 100.0), "95%", "#dfb317"),
        ((80.0, 100.0), "90%", "#fe7d37"),
        ((50.0,), "50%", "#e05d44"),
        # Only the last 30 days count: an outage 31 days ago no longer does.
        ((0.0, *([100.0] * 30)), "100%", "#4c1"),
    ],
)
def test_uptime_is_the_mean_of_the_last_30_days_with_data(
    days: tuple[float | None, ...], message: str, color: str
) -> None:
    root = ET.fromstring(badges.uptime_badge(_component(*days)))
    assert root.findtext(S + "title") == f"uptime 30d: {message}"
    assert root.findall(f"{S}g/{S}rect")[1].get("fill") == color


@pytest.mark.parametrize(("value", "shown"), [(99.999, "99.99%"), (99.0, "99%"), (100.0, "100%")])
def test_a_percentage_is_never_rounded_up(value: float, shown: str) -> None:
    assert badges.format_percent(value) == shown


def test_the_server_serves_each_component_s_badges(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    shop.results("api-http", ["down"] * 4, start=NOW - timedelta(minutes=2))
    shop.results("api-tcp", ["down"] * 4, start=NOW - timedelta(minutes=2))
    shop.clock.advance(timedelta(seconds=1))
    client = TestClient(
        create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    )
    response = client.get("/status/badge/api/status.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert ET.fromstring(response.content).findtext(S + "title") == "API: major outage"
    uptime = client.get("/status/badge/api/uptime.svg")
    assert re.search(rb"<title>uptime 30d: 0%</title>", uptime.content)
    # Not public, or not a component: no badge.
    assert client.get("/status/badge/internal/status.svg").status_code == 404
    assert client.get("/status/badge/api/latency.svg").status_code == 404


def _latencies(engine: Engine, check_id: str, latencies: list[float], *, start: datetime) -> None:
    results = [
        ProbeResult(
            check_id=check_id,
            started_at=start + timedelta(seconds=30 * i),
            state=State.UP,
            latency_ms=ms,
        )
        for i, ms in enumerate(latencies)
    ]
    with engine.begin() as conn:
        record_results(conn, results=results, intervals={check_id: timedelta(seconds=30)})


@pytest.mark.parametrize(
    ("value", "message", "color"),
    [
        (None, "no data", "#9f9f9f"),
        (0.4, "<1 ms", "#4c1"),
        (123.4, "123 ms", "#4c1"),
        (200.0, "200 ms", "#97ca00"),
        (999.4, "999 ms", "#dfb317"),
        (1234.0, "1.2 s", "#fe7d37"),
        (12345.0, "12 s", "#e05d44"),
    ],
)
def test_the_response_badge_shows_the_p95_in_ms_or_s(
    value: float | None, message: str, color: str
) -> None:
    component = replace(_component(100.0), response_p95_ms=value)
    root = ET.fromstring(badges.response_badge(component))
    assert root.findtext(S + "title") == f"response p95 24h: {message}"
    assert root.findall(f"{S}g/{S}rect")[1].get("fill") == color


def test_a_component_s_response_time_is_its_slowest_check_s_p95_of_24_hours(
    engine: Engine,
) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    # api-http: 100 results, 95 of them at 40 ms and 5 at 900 ms -> p95 40 ms (within 4.8 %).
    _latencies(engine, "api-http", [40.0] * 95 + [900.0] * 5, start=NOW - timedelta(hours=2))
    # api-tcp: slower, so it is the component's figure.
    _latencies(engine, "api-tcp", [300.0] * 20, start=NOW - timedelta(hours=3))
    # Older than the window (the current hour and the 23 before it): not counted.
    _latencies(engine, "pg", [5000.0] * 10, start=NOW - timedelta(hours=25))
    snapshot = shop.snapshot()
    api, db, web = (snapshot.component(c) for c in ("api", "db", "web"))
    assert api is not None and db is not None and web is not None
    assert api.response_p95_ms == pytest.approx(300.0, rel=rollups.RELATIVE_ERROR)
    assert db.response_p95_ms is None
    assert web.response_p95_ms is None
    with engine.begin() as conn:
        p95 = latency.read_p95(conn, ["api-http"], now=NOW)
    assert p95["api-http"] == pytest.approx(40.0, rel=rollups.RELATIVE_ERROR)


def test_the_overview_and_the_badge_say_the_same_p95(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    _latencies(
        engine,
        "web-http",
        [10.0 * (i % 37 + 1) for i in range(200)],
        start=NOW - timedelta(hours=20),
    )
    snapshot = shop.snapshot()
    with engine.begin() as conn:
        stats, _ = read_stats(conn, config=shop.config, now=NOW)
    web = snapshot.component("web")
    assert web is not None and web.response_p95_ms is not None
    assert web.response_p95_ms == stats["web-http"].day.p95_ms


def test_the_response_badge_is_served_and_exported(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    _latencies(engine, "api-http", [120.0] * 10, start=NOW - timedelta(minutes=10))
    client = TestClient(
        create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    )
    response = client.get("/status/badge/api/response.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    title = ET.fromstring(response.content).findtext(S + "title") or ""
    assert re.fullmatch(r"response p95 24h: 1[12]\d ms", title), title
    empty = client.get("/status/badge/db/response.svg")
    assert ET.fromstring(empty.content).findtext(S + "title") == "response p95 24h: no data"
    files = render_site(shop.snapshot(), shop.config)
    assert files["badge/api/response.svg"] == response.content
    assert files["badge/db/response.svg"] == empty.content
    assert client.get("/status/badge/internal/response.svg").status_code == 404
