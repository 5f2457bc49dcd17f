"""RSS 2.0 and Atom feeds of incidents and maintenance, served at /status/feed.rss and
/status/feed.atom. feedparser is not installed, so the feeds are parsed with the standard
library's XML parser and checked for the elements each format requires (RSS 2.0: channel
title/link/description, item title or description; Atom, RFC 4287: feed id/title/updated and an
author, entry id/title/updated)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from conftest import Shop, shop_config
from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.statuspage import feeds
from opsbook.web import create_app

A = "{http://www.w3.org/2005/Atom}"


def _shop_with_incident(engine: Engine) -> tuple[Shop, int]:
    shop = Shop(engine, Config.model_validate(shop_config()))
    incident = shop.declare(summary="Card payments fail.")
    shop.clock.advance(timedelta(minutes=3))
    shop.update(incident, IncidentStatus.MONITORING, "Rolled back <b>v2.3</b> & watching.")
    shop.note(incident, "internal note: restart pgbouncer")
    return shop, incident


def test_rss_has_every_required_element(engine: Engine) -> None:
    shop, incident = _shop_with_incident(engine)
    root = ET.fromstring(feeds.rss(shop.snapshot(), page_url="https://status.shop.example/"))
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for name in ("title", "link", "description", "lastBuildDate"):
        assert (channel.findtext(name) or "").strip(), name
    assert channel.findtext("link") == "https://status.shop.example/"
    items = channel.findall("item")
    titles = [i.findtext("title") for i in items]
    # A scheduled maintenance is dated when it opens (a config window has no creation time).
    assert titles == [
        "Maintenance: Database upgrade to PostgreSQL 17 [Scheduled]",
        "Checkout errors [Monitoring]",
    ]
    first = items[1]
    assert first.findtext("link") == f"https://status.shop.example/history/#incident-{incident}"
    assert first.findtext("guid") == f"shop:incident:{incident}"
    assert first.findtext("pubDate") == "Tue, 01 Dec 2026 12:03:00 GMT"
    body = first.findtext("description") or ""
    # Escaped as text by the XML writer, read back as written; newest update first.
    assert body.startswith(
        "Monitoring (2026-12-01 12:03 UTC) - Rolled back <b>v2.3</b> & watching."
    )
    assert "Card payments fail." in body
    assert "pgbouncer" not in body


def test_atom_has_every_required_element(engine: Engine) -> None:
    shop, incident = _shop_with_incident(engine)
    root = ET.fromstring(feeds.atom(shop.snapshot(), page_url="https://status.shop.example/"))
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert (root.findtext(A + name) or "").strip(), name
    assert root.find(f"{A}author/{A}name") is not None
    self_link = [x for x in root.findall(A + "link") if x.get("rel") == "self"]
    assert self_link[0].get("href") == "https://status.shop.example/feed.atom"
    entries = root.findall(A + "entry")
    assert len(entries) == 2
    first = entries[1]
    assert first.findtext(A + "id") == f"tag:opsbook,2026:shop:incident:{incident}"
    assert first.findtext(A + "updated") == "2026-12-01T12:03:00Z"
    assert first.findtext(A + "published") == "2026-12-01T12:00:00Z"
    link = first.find(A + "link")
    assert link is not None and link.get("href") == (
        f"https://status.shop.example/history/#incident-{incident}"
    )
    assert "Rolled back" in (first.findtext(A + "content") or "")


def test_without_a_known_address_links_are_relative_to_the_page(engine: Engine) -> None:
    config = shop_config()
    del config["status_page"]["base_url"]
    shop = Shop(engine, Config.model_validate(config))
    incident = shop.declare()
    channel = ET.fromstring(feeds.rss(shop.snapshot(), page_url="")).find("channel")
    assert channel is not None
    assert channel.findtext("link") == "./"
    links = [item.findtext("link") for item in channel.findall("item")]
    assert f"history/#incident-{incident}" in links


def test_the_server_serves_them_with_their_types_and_no_login(engine: Engine) -> None:
    shop, _ = _shop_with_incident(engine)
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    client = TestClient(app)
    for path, kind in (
        ("/status/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/status/feed.atom", "application/atom+xml; charset=utf-8"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == kind
        ET.fromstring(response.content)
        etag = response.headers["etag"]
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/status/feed.json").status_code == 404
