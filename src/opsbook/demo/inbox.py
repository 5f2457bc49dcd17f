"""The demo service's inbox: where the demo config sends pages and incident updates.

``POST /_inbox/{box}`` keeps what it receives (the body and the headers a receiver checks) in
memory, newest first, and ``GET /_inbox`` shows it: as JSON, or as an HTML table when a browser
asks for HTML. Only the last ``capacity`` messages are kept, so a demo left running for days
stays small. Pure apart from the clock: the aiohttp handlers live in ``service.py``.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlencode

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.errors import InputError
from opsbook.types import JSONValue

INBOX_CAPACITY = 500
RECORDED_HEADERS = ("Idempotency-Key", "X-Opsbook-Signature", "Content-Type")
"""The headers a webhook receiver checks; the inbox keeps these (``None`` when not sent)."""
BOX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One POST as received. ``body`` is the parsed JSON, or the text when it is not JSON."""

    id: int
    box: str
    received_at: datetime
    headers: Mapping[str, str | None]
    body: JSONValue

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "id": self.id,
            "box": self.box,
            "received_at": self.received_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "headers": dict(self.headers),
            "body": self.body,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """What a person scanning the inbox wants from one message; ``"-"`` where it has none."""

    type: str
    incident: str
    severity: str
    status: str
    person: str
    level: str
    event: str


def check_box(box: str) -> str:
    """Return ``box``, or raise ``InputError`` (field ``box``) if it is not a short name."""
    if BOX_PATTERN.fullmatch(box) is None:
        raise InputError(
            f"box: {box!r} is not a box name (use letters, digits, '.', '_' or '-', "
            "up to 64 characters, e.g. pager)",
            field="box",
        )
    return box


def parse_body(raw: bytes) -> JSONValue:
    """The body as JSON when it parses, else as text (undecodable bytes replaced)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed: JSONValue = json.loads(text)
    except ValueError:
        return text
    return parsed


class Inbox:
    """The last ``capacity`` messages, oldest dropped first. Not thread-safe: one event loop
    owns it."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, capacity: int = INBOX_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._clock = clock
        self._messages: deque[InboxMessage] = deque(maxlen=capacity)
        self._next_id = 1

    def add(self, box: str, *, headers: Mapping[str, str], raw: bytes) -> InboxMessage:
        """Keep one message; raises ``InputError`` for a bad box name (nothing is kept)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        message = InboxMessage(
            id=self._next_id,
            box=check_box(box),
            received_at=self._clock.now(),
            headers={name: lowered.get(name.lower()) for name in RECORDED_HEADERS},
            body=parse_body(raw),
        )
        self._next_id += 1
        self._messages.append(message)
        return message

    def messages(self, *, box: str | None = None) -> list[InboxMessage]:
        """Newest first; only ``box``'s when given."""
        return [m for m in reversed(self._messages) if box is None or m.box == box]


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _get(body: JSONValue, *keys: str) -> JSONValue:
    value = body
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def summarize(message: InboxMessage) -> Summary:
    """Read an opsbook incident notice (docs/notifications.md) or an Alertmanager-style alert
    webhook; anything else is shown as ``other`` with its first characters."""
    body = message.body
    if not isinstance(body, dict):
        return Summary("other", _text(str(body)[:80]), "-", "-", "-", "-", "-")
    if body.get("type") in ("page", "incident"):
        incident = _get(body, "incident", "id"), _get(body, "incident", "title")
        person = _get(body, "person", "name") or _get(body, "person", "id")
        event = _get(body, "event", "message") or _get(body, "event", "kind")
        return Summary(
            type=str(body["type"]),
            incident=f"#{incident[0]} {_text(incident[1])}" if incident[0] is not None else "-",
            severity=_text(_get(body, "incident", "severity")),
            status=_text(_get(body, "incident", "status")),
            person=_text(person),
            level=_text(_get(body, "page", "level")),
            event=_text(event),
        )
    alerts = body.get("alerts")
    if isinstance(alerts, list):
        name = _get(body, "groupLabels", "alertname") or _get(body, "commonLabels", "alertname")
        return Summary(
            type="alert",
            incident=_text(name),
            severity=_text(_get(body, "commonLabels", "severity")),
            status=_text(body.get("status")),
            person="-",
            level="-",
            event=_text(_get(body, "commonAnnotations", "summary")),
        )
    return Summary("other", _text(json.dumps(body)[:80]), "-", "-", "-", "-", "-")


_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Demo inbox</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 0.3rem 0.8rem; border-bottom: 1px solid #ddd; }}
td.page {{ color: #b00020; font-weight: bold; }}
</style>
</head>
<body>
<h1>Demo inbox</h1>
<p>{intro} Refreshes every 5 seconds; as JSON: <a href="{json_url}">{json_url}</a></p>
{table}
</body>
</html>
"""
_COLUMNS = ("time (UTC)", "box", "type", "incident", "severity", "status", "person", "level")


def render_html(messages: Sequence[InboxMessage], *, box: str | None = None) -> str:
    """A page listing ``messages`` (newest first) for a person to read in a browser."""
    where = f" in box {escape(box)}" if box is not None else ""
    intro = f"{len(messages)} message{'s' if len(messages) != 1 else ''}{where}, newest first."
    # The browser sends the same Accept header when it follows the link, so the link itself
    # must ask for JSON; the box travels with it.
    query = {"format": "json", **({"box": box} if box is not None else {})}
    json_url = escape("/_inbox?" + urlencode(query))
    if not messages:
        table = "<p>Nothing yet: pages and incident updates appear here as opsbook sends them.</p>"
    else:
        head = "".join(f"<th>{name}</th>" for name in (*_COLUMNS, "event"))
        rows = [f"<tr>{head}</tr>"]
        for message in messages:
            s = summarize(message)
            cells = (
                message.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                message.box,
                s.type,
                s.incident,
                s.severity,
                s.status,
                s.person,
                s.level,
                s.event,
            )
            tds = [f"<td>{escape(cell)}</td>" for cell in cells]
            tds[2] = f'<td class="{escape(s.type)}">{escape(s.type)}</td>'
            rows.append(f"<tr>{''.join(tds)}</tr>")
        table = "<table>\n" + "\n".join(rows) + "\n</table>"
    return _PAGE.format(intro=intro, json_url=json_url, table=table)
