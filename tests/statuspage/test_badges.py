"""Component badges in the shields.io flat look: width from the Verdana 11px table, colours by
status and uptime, served as image/svg+xml, cacheable for a minute, no login."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from conftest import NOW, Shop, shop_config
from opsbook.config import Config
from opsbook.statuspage import badges
from opsbook.statuspage.snapshot import ComponentView, DayAvailability
from opsbook.web import create_app

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
