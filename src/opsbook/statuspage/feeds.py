"""RSS 2.0 and Atom 1.0 feeds of the page's incidents and maintenance, one entry per incident or
maintenance (its newest update first in the body), newest change first.

Written with ``xml.etree``; element order is fixed, so the same snapshot gives the same bytes.
Links are absolute when the page's address is known (``page_url``), else relative to the page's
folder (feed readers resolve them against the feed's own address, which is in that folder).
tests/statuspage/test_feeds.py reads them back with feedparser, as feed readers do.

Update bodies are plain text: Atom says so (``type="text"``); RSS has no such attribute and
readers take ``description`` as HTML, so there the text is HTML-escaped first (an update saying
"<b>" shows "<b>", never bold) and written a paragraph per update. Characters XML 1.0 cannot
hold (terminal escapes pasted into an update) are dropped, or no reader could parse the feed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

from opsbook.statuspage.snapshot import IncidentUpdate, IncidentView, Maintenance, Snapshot

ATOM_NS = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 50
STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
"""What XML 1.0 cannot hold, even escaped (its ``Char`` production)."""


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _entries(snapshot: Snapshot) -> list[IncidentView | Maintenance]:
    found: list[IncidentView | Maintenance] = [*snapshot.incidents, *snapshot.maintenances]
    found.sort(key=lambda x: (x.updated_at, x.id), reverse=True)
    return found[:MAX_ENTRIES]


def _kind(entry: IncidentView | Maintenance) -> str:
    return "maintenance" if isinstance(entry, Maintenance) else "incident"


def _anchor(entry: IncidentView | Maintenance) -> str:
    return f"history/#{_kind(entry)}-{entry.id}"


def _lines(updates: tuple[IncidentUpdate, ...]) -> list[str]:
    return [
        xml_text(
            f"{STATUS_WORDS.get(u.status, u.status)} "
            f"({u.display_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC) - {u.body}"
        )
        for u in updates
    ]


def _body(updates: tuple[IncidentUpdate, ...]) -> str:
    return "\n\n".join(_lines(updates))


def _html_body(updates: tuple[IncidentUpdate, ...]) -> str:
    return "".join(
        "<p>" + escape(line, quote=False).replace("\n", "<br>") + "</p>" for line in _lines(updates)
    )


def _title(entry: IncidentView | Maintenance) -> str:
    prefix = "Maintenance: " if isinstance(entry, Maintenance) else ""
    return xml_text(f"{prefix}{entry.name} [{STATUS_WORDS.get(entry.status, entry.status)}]")


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def rss(snapshot: Snapshot, *, page_url: str) -> bytes:
    root = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = xml_text(snapshot.page.title)
    ET.SubElement(channel, "link").text = page_url or "./"
    ET.SubElement(channel, "description").text = xml_text(
        f"Incidents and maintenance of {snapshot.page.title}"
    )
    # Relative when the address is unknown: readers resolve it against the feed's own URL.
    ET.SubElement(
        channel,
        "atom:link",
        {"href": f"{page_url}feed.rss", "rel": "self", "type": "application/rss+xml"},
    )
    ET.SubElement(channel, "lastBuildDate").text = format_datetime(
        snapshot.page.updated_at.astimezone(UTC), usegmt=True
    )
    for entry in _entries(snapshot):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = _title(entry)
        ET.SubElement(item, "link").text = page_url + _anchor(entry)
        guid = ET.SubElement(item, "guid", {"isPermaLink": "false"})
        guid.text = f"{snapshot.page.id}:{_kind(entry)}:{entry.id}"
        ET.SubElement(item, "pubDate").text = format_datetime(
            entry.updated_at.astimezone(UTC), usegmt=True
        )
        ET.SubElement(item, "description").text = _html_body(entry.updates)
    return _bytes(root)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom(snapshot: Snapshot, *, page_url: str) -> bytes:
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    ET.SubElement(root, "id").text = f"tag:opsbook,2026:{snapshot.page.id}:status"
    ET.SubElement(root, "title").text = xml_text(snapshot.page.title)
    ET.SubElement(root, "updated").text = _iso(snapshot.page.updated_at)
    ET.SubElement(root, "link", {"rel": "alternate", "type": "text/html", "href": page_url or "./"})
    ET.SubElement(
        root,
        "link",
        {"rel": "self", "type": "application/atom+xml", "href": f"{page_url}feed.atom"},
    )
    author = ET.SubElement(root, "author")
    ET.SubElement(author, "name").text = xml_text(snapshot.page.title)
    for entry in _entries(snapshot):
        kind = _kind(entry)
        item = ET.SubElement(root, "entry")
        ET.SubElement(item, "id").text = f"tag:opsbook,2026:{snapshot.page.id}:{kind}:{entry.id}"
        ET.SubElement(item, "title").text = _title(entry)
        ET.SubElement(item, "updated").text = _iso(entry.updated_at)
        ET.SubElement(item, "published").text = _iso(entry.created_at)
        ET.SubElement(item, "link", {"rel": "alternate", "href": page_url + _anchor(entry)})
        ET.SubElement(item, "content", {"type": "text"}).text = _body(entry.updates)
    return _bytes(root)
