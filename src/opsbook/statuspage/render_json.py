"""Statuspage's public v2 JSON from a ``Snapshot``, field for field.

Field names, order, enums and the time format follow real responses (tests/statuspage/
fixtures/, captured from discordstatus.com): times in the page's timezone with milliseconds
and offset, ``Z`` when the page is in UTC ("2022-02-15T13:37:37.407-08:00",
"2020-10-29T22:51:43.831Z"), also when the milliseconds are zero. Fields opsbook has no
notion of take Statuspage's defaults (``showcase`` true: the page shows uptime bars;
``deliver_notifications`` true; ``custom_tweet``, ``tweet_id``, ``start_date`` null).

``render(snapshot)`` gives every document as bytes, so the server and a static export serve the
same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opsbook.statuspage.snapshot import (
    ComponentGroup,
    ComponentView,
    IncidentUpdate,
    IncidentView,
    Maintenance,
    Snapshot,
)

RECENT = 50
"""``incidents.json`` and ``scheduled-maintenances.json`` list this many, newest first."""

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})

Document = dict[str, Any]


class _Writer:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.zone = ZoneInfo(snapshot.page.timezone)
        self.is_utc = snapshot.page.timezone in UTC_NAMES
        self.page_id = snapshot.page.id
        self.by_id = {c.id: c for c in snapshot.components}

    def time(self, at: datetime | None) -> str | None:
        """ISO 8601 with milliseconds and offset, in the page's timezone (Rails' xmlschema(3))."""
        if at is None:
            return None
        local = at.astimezone(self.zone)
        stamp = f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}"
        offset = local.utcoffset() or timedelta()
        if self.is_utc:
            return stamp + "Z"
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f"{stamp}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def page(self) -> Document:
        p = self.snapshot.page
        return {
            "id": p.id,
            "name": p.title,
            "url": p.base_url,
            "time_zone": p.timezone,
            "updated_at": self.time(p.updated_at),
        }

    def component(self, c: ComponentView) -> Document:
        return {
            "id": c.id,
            "name": c.name,
            "status": c.status,
            "created_at": self.time(c.created_at),
            "updated_at": self.time(c.updated_at),
            "position": c.position,
            "description": c.description or None,
            "showcase": True,
            "start_date": None,
            "group_id": c.group_id,
            "page_id": self.page_id,
            "group": False,
            "only_show_if_degraded": False,
        }

    def group(self, g: ComponentGroup) -> Document:
        return {
            "id": g.id,
            "name": g.name,
            "status": g.status,
            "created_at": self.time(g.created_at),
            "updated_at": self.time(g.updated_at),
            "position": g.position,
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": list(g.components),
        }

    def components(self) -> list[Document]:
        """Page order; a group comes just before its first member, its members after it."""
        groups = {g.id: g for g in self.snapshot.groups}
        out: list[Document] = []
        placed: set[str] = set()
        for c in self.snapshot.components:
            if c.group_id is None:
                out.append(self.component(c))
            elif c.group_id not in placed:
                placed.add(c.group_id)
                group = groups[c.group_id]
                out.append(self.group(group))
                out += [self.component(self.by_id[m]) for m in group.components]
        return out

    def update(self, u: IncidentUpdate, parent_id: str) -> Document:
        affected = (
            None
            if u.affected_components is None
            else [
                {
                    "code": a.code,
                    "name": a.name,
                    "old_status": a.old_status,
                    "new_status": a.new_status,
                }
                for a in u.affected_components
            ]
        )
        return {
            "id": u.id,
            "status": u.status,
            "body": u.body,
            "incident_id": parent_id,
            "created_at": self.time(u.created_at),
            "updated_at": self.time(u.created_at),
            "display_at": self.time(u.display_at),
            "affected_components": affected,
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
        }

    def _members(self, ids: Iterable[str]) -> list[Document]:
        return [self.component(self.by_id[i]) for i in ids if i in self.by_id]

    def incident(self, x: IncidentView) -> Document:
        return {
            "id": x.id,
            "name": x.name,
            "status": x.status,
            "created_at": self.time(x.created_at),
            "updated_at": self.time(x.updated_at),
            "monitoring_at": self.time(x.monitoring_at),
            "resolved_at": self.time(x.resolved_at),
            "impact": x.impact,
            "shortlink": x.shortlink,
            "started_at": self.time(x.started_at),
            "page_id": self.page_id,
            "incident_updates": [self.update(u, x.id) for u in x.updates],
            "components": self._members(x.components),
        }

    def maintenance(self, m: Maintenance) -> Document:
        return {
            "id": m.id,
            "name": m.name,
            "status": m.status,
            "created_at": self.time(m.created_at),
            "updated_at": self.time(m.updated_at),
            "monitoring_at": None,
            "resolved_at": self.time(m.resolved_at),
            "impact": "maintenance",
            "shortlink": m.shortlink,
            "started_at": self.time(m.started_at or m.scheduled_for),
            "page_id": self.page_id,
            "incident_updates": [self.update(u, m.id) for u in m.updates],
            "components": self._members(m.components),
            "scheduled_for": self.time(m.scheduled_for),
            "scheduled_until": self.time(m.scheduled_until),
        }

    def status(self) -> Document:
        s = self.snapshot.status
        return {"indicator": s.indicator, "description": s.description}


def _maintenances(w: _Writer, keep: Callable[[Maintenance], bool], limit: int | None) -> Document:
    found = [w.maintenance(m) for m in w.snapshot.maintenances if keep(m)]
    return {"page": w.page(), "scheduled_maintenances": found[:limit] if limit else found}


def documents(snapshot: Snapshot) -> dict[str, Document]:
    """Every v2 document by its path under ``/api/v2/``."""
    w = _Writer(snapshot)
    unresolved = [w.incident(x) for x in snapshot.incidents if x.is_unresolved]
    return {
        "status.json": {"page": w.page(), "status": w.status()},
        "summary.json": {
            "page": w.page(),
            "components": w.components(),
            "incidents": unresolved,
            "scheduled_maintenances": [
                w.maintenance(m)
                for m in snapshot.maintenances
                if m.status in ("scheduled", "in_progress", "verifying")
            ],
            "status": w.status(),
        },
        "components.json": {"page": w.page(), "components": w.components()},
        "incidents.json": {
            "page": w.page(),
            "incidents": [w.incident(x) for x in snapshot.incidents[:RECENT]],
        },
        "incidents/unresolved.json": {"page": w.page(), "incidents": unresolved},
        "scheduled-maintenances.json": _maintenances(w, lambda m: True, RECENT),
        "scheduled-maintenances/upcoming.json": _maintenances(
            w, lambda m: m.status == "scheduled", None
        ),
        "scheduled-maintenances/active.json": _maintenances(w, lambda m: m.is_active, None),
    }


NAMES = (
    "status.json",
    "summary.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
)
"""The document paths, as served under ``/api/v2/``."""


def encode(document: Document) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def render(snapshot: Snapshot) -> dict[str, bytes]:
    """Every document, encoded once: what the server and the static export both serve."""
    return {name: encode(doc) for name, doc in documents(snapshot).items()}
