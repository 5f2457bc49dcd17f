"""The status page as HTML: ``index.html`` (now) and ``history/index.html`` (incidents and
maintenance by month), from a ``Snapshot`` and Jinja templates in ``statuspage/templates``.

Every link is relative to the page's own folder (``root`` is "" on the page, "../" on the
history), so the same bytes work under ``/status/`` on the server, at a custom domain's root
and from a static export; the one exception is "Subscribe", which names the server's form by
its absolute URL (a static host has no form). No script, no inline style, no third-party
request (a logo given as a URL is the one exception the config asks for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from opsbook.statuspage.badges import format_percent
from opsbook.statuspage.feeds import STATUS_WORDS
from opsbook.statuspage.snapshot import (
    STATUS_LABELS,
    ComponentView,
    DayAvailability,
    IncidentView,
    Maintenance,
    Snapshot,
)

SHOWN_DAYS_NARROW = 30
"""Days of bars a phone shows (the stylesheet hides the older ones below 640 px)."""


@dataclass(frozen=True)
class Bar:
    level: str
    title: str


@dataclass(frozen=True)
class Row:
    component: ComponentView
    label: str
    bars: tuple[Bar, ...]
    uptime: str


@dataclass(frozen=True)
class Section:
    name: str | None
    label: str
    status: str
    rows: tuple[Markup, ...]
    """Each member's ``_component.html``, rendered (``_Words.component``)."""


_FRAGMENTS: dict[str, tuple[tuple[object, ...], Markup]] = {}
"""Component id -> (what its fragment shows, the fragment): a component whose figures did not
change since the last rendering is not rendered again. 200 components' 90 days of bars are
18,000 ``<li>``s, 0.15-0.23 s of a 30 s refresh holding the GIL while the server answers;
usually a few components' today changes. Shared by every page of the process: the key is
everything the fragment shows, so two pages never see each other's."""
_FRAGMENTS_MAX = 10_000


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("opsbook.statuspage", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENV = _env()


def level(day: DayAvailability) -> str:
    """The bar's colour class: no data, or how much of the day was down."""
    if day.availability is None:
        return "none"
    if day.availability >= 99.95:
        return "ok"
    if day.availability >= 99.0:
        return "minor"
    if day.availability >= 95.0:
        return "partial"
    return "major"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class _Words:
    def __init__(self, snapshot: Snapshot) -> None:
        self.zone = ZoneInfo(snapshot.page.timezone)
        self.incident_names = {x.id: x.name for x in snapshot.incidents}

    def when(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"

    def span(self, start: datetime, end: datetime) -> str:
        """``6 Dec 2026, 02:00 to 04:00 UTC`` within a day (and one zone name), else both ends
        in full."""
        first, last = start.astimezone(self.zone), end.astimezone(self.zone)
        if first.date() == last.date() and first.tzname() == last.tzname():
            return f"{first.day} {first:%b %Y, %H:%M} to {last:%H:%M} {last.tzname()}"
        return f"{self.when(start)} to {self.when(end)}"

    def bar(self, day: DayAvailability) -> Bar:
        date = f"{day.day.day} {day.day:%b %Y}"
        if day.availability is None:
            text = f"{date}: no data"
        else:
            text = f"{date}: {format_percent(day.availability)} available"
            if day.down_seconds >= 30:
                text += f", down {_duration(day.down_seconds)}"
        if day.incidents:
            names = "; ".join(self.incident_names.get(i, f"incident {i}") for i in day.incidents)
            text += f". Incidents: {names}"
        return Bar(level(day), text)

    def row(self, component: ComponentView) -> Row:
        known = [d.availability for d in component.availability if d.availability is not None]
        uptime = format_percent(sum(known) / len(known)) + " uptime" if known else "No data"
        return Row(
            component=component,
            label=STATUS_LABELS[component.status],
            bars=tuple(self.bar(d) for d in component.availability),
            uptime=uptime,
        )

    def component(self, component: ComponentView, days: int) -> Markup:
        """``_component.html`` for ``component``, from ``_FRAGMENTS`` when what it shows has
        not changed."""
        names = tuple(
            self.incident_names.get(i, "") for d in component.availability for i in d.incidents
        )
        key = (
            component.name,
            component.description,
            component.status,
            component.availability,
            names,
            days,
        )
        seen = _FRAGMENTS.get(component.id)
        if seen is not None and seen[0] == key:
            return seen[1]
        html = Markup(
            _ENV.get_template("_component.html").render(
                row=self.row(component), days=days, narrow_days=SHOWN_DAYS_NARROW
            )
        )
        if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
            _FRAGMENTS.clear()
        _FRAGMENTS[component.id] = (key, html)
        return html


def _sections(snapshot: Snapshot, words: _Words, days: int) -> list[Section]:
    """Components in page order; a group's members together where its first member is."""
    groups = {g.id: g for g in snapshot.groups}
    order: list[tuple[str | None, list[ComponentView]]] = []
    by_group: dict[str, list[ComponentView]] = {}
    for component in snapshot.components:
        group_id = component.group_id
        if group_id is None or group_id not in groups:
            order.append((None, [component]))
            continue
        if group_id not in by_group:
            by_group[group_id] = []
            order.append((group_id, by_group[group_id]))
        by_group[group_id].append(component)
    out: list[Section] = []
    for group_id, members in order:
        rows = tuple(words.component(c, days) for c in members)
        if group_id is None:
            status = members[0].status
            out.append(Section(None, STATUS_LABELS[status], status, rows))
        else:
            group = groups[group_id]
            out.append(Section(group.name, STATUS_LABELS[group.status], group.status, tuple(rows)))
    return out


def _months(
    words: _Words, entries: Sequence[IncidentView | Maintenance]
) -> list[tuple[str, list[IncidentView | Maintenance]]]:
    months: dict[str, list[IncidentView | Maintenance]] = {}
    for entry in entries:
        start = entry.started_at if isinstance(entry, IncidentView) else entry.scheduled_for
        local = (start or entry.created_at).astimezone(words.zone)
        months.setdefault(f"{local:%B %Y}", []).append(entry)
    return list(months.items())


def _common(snapshot: Snapshot, *, root: str, logo: str | None) -> dict[str, object]:
    words = _Words(snapshot)
    names = {c.id: c.name for c in snapshot.components}
    return {
        "page": snapshot.page,
        "status": snapshot.status,
        "root": root,
        "logo": logo if logo is None or "://" in logo else root + logo,
        "when": words.when,
        "span": words.span,
        "words": STATUS_WORDS,
        "updated": words.when(snapshot.page.updated_at),
        "affected": lambda ids: ", ".join(names.get(i, i) for i in ids),
    }


def index(snapshot: Snapshot, *, logo: str | None = None, subscribe: str | None = None) -> bytes:
    """``logo``: the logo's address relative to the page (or a URL); ``subscribe``: the
    subscription form's absolute URL on the server (``site.subscribe_url``), None for no link."""
    words = _Words(snapshot)
    recent = [x for x in snapshot.incidents if not x.is_unresolved][:5]
    days = len(snapshot.components[0].availability) if snapshot.components else 0
    html = _ENV.get_template("index.html").render(
        **_common(snapshot, root="", logo=logo),
        sections=_sections(snapshot, words, days),
        active=[x for x in snapshot.incidents if x.is_unresolved],
        in_maintenance=[m for m in snapshot.maintenances if m.is_active],
        scheduled=sorted(
            (m for m in snapshot.maintenances if m.status == "scheduled"),
            key=lambda m: m.scheduled_for,
        ),
        recent=recent,
        days=days,
        subscribe=subscribe,
    )
    return html.encode()


def history(snapshot: Snapshot, *, logo: str | None = None) -> bytes:
    words = _Words(snapshot)
    past: list[IncidentView | Maintenance] = [*snapshot.incidents]
    past += snapshot.maintenances
    past.sort(
        key=lambda e: e.started_at if isinstance(e, IncidentView) else e.scheduled_for,
        reverse=True,
    )
    html = _ENV.get_template("history.html").render(
        **_common(snapshot, root="../", logo=logo), months=_months(words, past)
    )
    return html.encode()
