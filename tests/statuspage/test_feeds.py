"""RSS 2.0 and Atom feeds of incidents and maintenance, served at /status/feed.rss and
/status/feed.atom. Read back the way feed readers read them, with feedparser (well-formed,
``bozo == 0``; titles, links, ids and dates of every incident and maintenance; the self link), and
with the standard library's XML parser for the elements each format requires (RSS 2.0: channel
title/link/description, item title or description; Atom, RFC 4287: feed id/title/updated and an
author, entry id/title/updated)."""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import Shop, shop_config

from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.statuspage import feeds
from opsbook.statuspage.snapshot import IncidentView, Maintenance, Snapshot
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
    # HTML (as readers take an RSS description), the update's text escaped; newest update first.
    assert body.startswith(
        "<p>Monitoring (2026-12-01 12:03 UTC) - Rolled back &lt;b&gt;v2.3&lt;/b&gt; &amp; watching."
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


PAGE = "https://status.shop.example/"
TYPES = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}


def _parse(body: bytes, kind: str, *, location: str) -> Any:
    # As a reader fetching the feed at ``location`` sees it: its type and its own URL.
    return feedparser.parse(
        body, response_headers={"content-type": TYPES[kind], "content-location": location}
    )


def _expected(snapshot: Snapshot, page: str) -> list[tuple[str, str, str, datetime]]:
    """(title, link, kind, last change) of every incident and maintenance, newest change first."""
    entries: list[IncidentView | Maintenance] = [*snapshot.incidents, *snapshot.maintenances]
    entries.sort(key=lambda x: (x.updated_at, x.id), reverse=True)
    out = []
    for x in entries:
        kind = "maintenance" if isinstance(x, Maintenance) else "incident"
        prefix = "Maintenance: " if kind == "maintenance" else ""
        word = feeds.STATUS_WORDS[x.status]
        out.append(
            (f"{prefix}{x.name} [{word}]", f"{page}history/#{kind}-{x.id}", x.id, x.updated_at)
        )
    return out


def _utc(parsed: Any) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_feedparser_reads_every_incident_and_maintenance(engine: Engine, kind: str) -> None:
    shop, incident = _shop_with_incident(engine)
    snapshot = shop.snapshot()
    parsed = _parse(
        getattr(feeds, kind)(snapshot, page_url=PAGE), kind, location=PAGE + "feed." + kind
    )
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if kind == "rss" else "atom10")
    assert parsed.feed.title == "Shop status"
    assert parsed.feed.link == PAGE
    self_links = [x.href for x in parsed.feed.links if x.rel == "self"]
    assert self_links == [f"{PAGE}feed.{kind}"]
    expected = _expected(snapshot, PAGE)
    assert len(expected) == 2 and {e[2] for e in expected} >= {str(incident)}
    assert [(e.title, e.link) for e in parsed.entries] == [(t, link) for t, link, _, _ in expected]
    for entry, (_, _, entry_id, changed) in zip(parsed.entries, expected, strict=True):
        which = "maintenance" if entry.title.startswith("Maintenance: ") else "incident"
        if kind == "rss":
            assert entry.id == f"shop:{which}:{entry_id}"
            assert entry.guidislink is False
            assert _utc(entry.published_parsed) == changed
        else:
            assert entry.id == f"tag:opsbook,2026:shop:{which}:{entry_id}"
            assert _utc(entry.updated_parsed) == changed
    if kind == "atom":
        found = next(x for x in snapshot.incidents if x.id == str(incident))
        assert _utc(parsed.entries[1].published_parsed) == found.created_at
        assert _utc(parsed.feed.updated_parsed) == snapshot.page.updated_at


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_an_update_is_shown_as_its_text_never_as_markup(engine: Engine, kind: str) -> None:
    shop, incident = _shop_with_incident(engine)
    # Pasted from a terminal: an ANSI colour escape, which XML 1.0 cannot hold even escaped.
    shop.update(incident, IncidentStatus.MONITORING, "\x1b[31mERROR\x1b[0m <script>x</script>")
    parsed = _parse(
        getattr(feeds, kind)(shop.snapshot(), page_url=PAGE), kind, location=PAGE + "feed." + kind
    )
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    entry = next(e for e in parsed.entries if e.title.startswith("Checkout"))
    text = entry.content[0] if kind == "atom" else entry.summary_detail
    if kind == "atom":
        assert text.type == "text/plain"
        assert "[31mERROR[0m <script>x</script>" in text.value
    else:
        assert text.type == "text/html"
        # feedparser sanitizes HTML; escaped text survives as text.
        assert "[31mERROR[0m &lt;script&gt;x&lt;/script&gt;" in text.value
        assert (
            "<p>" in text.value
            and "Rolled back &lt;b&gt;v2.3&lt;/b&gt; &amp; watching." in text.value
        )


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_without_a_known_address_readers_resolve_links_against_the_feed(
    engine: Engine, kind: str
) -> None:
    config = shop_config()
    del config["status_page"]["base_url"]
    shop = Shop(engine, Config.model_validate(config))
    incident = shop.declare()
    served_at = "http://10.0.0.5:8080/status/"
    parsed = _parse(
        getattr(feeds, kind)(shop.snapshot(), page_url=""), kind, location=f"{served_at}feed.{kind}"
    )
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.link == served_at
    assert [x.href for x in parsed.feed.links if x.rel == "self"] == [f"{served_at}feed.{kind}"]
    assert f"{served_at}history/#incident-{incident}" in [e.link for e in parsed.entries]


def test_the_served_feeds_validate(engine: Engine) -> None:
    shop, _ = _shop_with_incident(engine)
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    client = TestClient(app)
    for kind in ("rss", "atom"):
        response = client.get(f"/status/feed.{kind}")
        parsed = feedparser.parse(
            response.content,
            response_headers={
                "content-type": response.headers["content-type"],
                "content-location": f"https://status.shop.example/feed.{kind}",
            },
        )
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert len(parsed.entries) == 2
