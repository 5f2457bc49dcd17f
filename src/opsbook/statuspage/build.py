"""``build_snapshot``: the status page at one instant, read from the store and the config.

Nothing here is stored: every status is derived from check states, incidents and their
timeline, and the config's maintenance windows (STYLE.md R20). About a dozen queries whatever
the number of components; callers cache the result (web/api/statuspage.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.checks.rollups import RESOLUTION_STEP
from opsbook.checks.service import CheckStatus, current_states
from opsbook.checks.tables import check_rollup, opsbook_run
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.incidents.records import row_to_event, row_to_incident
from opsbook.incidents.tables import incident, incident_event
from opsbook.statuspage import availability, latency, rollup
from opsbook.statuspage.maintenances import held_checks, maintenance_of, maintenances
from opsbook.statuspage.snapshot import (
    AVAILABILITY_DAYS,
    ComponentGroup,
    ComponentStatus,
    ComponentView,
    IncidentView,
    Link,
    PageInfo,
    Snapshot,
)
from opsbook.statuspage.updates import PUBLIC_KINDS, Published, publish

RECENT_INCIDENTS = 50
"""``incidents.json`` lists this many; the snapshot holds at least these."""


def public_components(config: Config) -> list[str]:
    """The components the page shows, in page order."""
    listed = config.status_page.components
    return list(listed) if listed is not None else list(config.components)


def page_timezone(config: Config) -> str:
    return config.status_page.timezone or config.timezone


def base_url(config: Config) -> str:
    """Where the page is served: ``status_page.base_url``, else ``server.public_url``, else ""."""
    found = config.status_page.base_url or config.server.public_url or ""
    return found.rstrip("/")


def impact_status(config: Config, severity: str) -> ComponentStatus:
    """The component status a severity's ``status_impact`` sets ("operational" for none)."""
    spec = config.severities.get(severity)
    if spec is None or spec.status_impact == "none":
        return "operational"
    return spec.status_impact


@dataclass(frozen=True)
class _Read:
    states: dict[str, CheckStatus]
    incidents: list[Incident]
    events: dict[int, list[IncidentEvent]]
    first_run_at: datetime | None
    first_data_at: dict[str, datetime]
    measured: dict[str, dict[date, tuple[float, float]]]


def _read(
    conn: Connection,
    config: Config,
    *,
    checks: Sequence[str],
    days: availability.Days,
    now: datetime,
    history: availability.DayHistory | None,
) -> _Read:
    states = {s.check_id: s for s in current_states(conn, check_ids=checks)} if checks else {}
    incidents = _incidents(conn, since=days.start)
    events: dict[int, list[IncidentEvent]] = {x.id: [] for x in incidents}
    if incidents:
        e = incident_event.c
        for row in conn.execute(
            sa.select(incident_event)
            .where(e.incident_id.in_(list(events)), e.kind.in_(PUBLIC_KINDS))
            .order_by(e.at, e.id)
        ):
            events[int(row.incident_id)].append(row_to_event(row))
    # Bounded by now: a one-row read from the index's start whatever the planner (and
    # PostgreSQL's plan then shows the bound tests/store/test_query_plans.py looks for).
    started = opsbook_run.c.started_at
    first_run_at = conn.scalar(sa.select(sa.func.min(started)).where(started <= now))
    first_data_at = _first_data(conn, checks)
    measured = availability.read_days(conn, check_ids=checks, days=days, now=now, history=history)
    return _Read(states, incidents, events, first_run_at, first_data_at, measured)


def _incidents(conn: Connection, *, since: datetime) -> list[Incident]:
    """The unmerged incidents the page can show, newest first: the open ones, those resolved
    since ``since`` (the uptime bars' first day) and the ``RECENT_INCIDENTS`` most recent.

    Two bounded index reads, never the whole table: open or resolved since ``since`` by
    ``resolved_at``; then, only while fewer than ``RECENT_INCIDENTS`` were declared since
    ``since``, the newest of the older ones by ``(declared_at, id)`` backwards from it. An
    incident declared since ``since`` cannot have ended before it, so the first read holds
    every one of those and the two together hold the most recent.
    """
    i = incident.c
    found = {
        int(r.id): row_to_incident(r)
        for r in conn.execute(
            sa.select(incident).where(
                sa.or_(i.resolved_at.is_(None), i.resolved_at >= since),
                i.merged_into.is_(None),
            )
        )
    }
    newer = sum(1 for x in found.values() if x.declared_at >= since)
    if newer < RECENT_INCIDENTS:
        for r in conn.execute(
            sa.select(incident)
            .where(i.declared_at < since, i.merged_into.is_(None))
            .order_by(i.declared_at.desc(), i.id.desc())
            .limit(RECENT_INCIDENTS - newer)
        ):
            found.setdefault(int(r.id), row_to_incident(r))
    return sorted(found.values(), key=lambda x: (x.declared_at, x.id), reverse=True)


def _first_data(conn: Connection, checks: Sequence[str]) -> dict[str, datetime]:
    """Each check's oldest rollup bucket. Per check and resolution that is the first entry
    of the primary key (check_id, resolution, bucket_start) under its prefix, one row read; a
    min grouped by check alone would read every rollup row each check ever kept."""
    if not checks:
        return {}
    r = check_rollup.c
    # A CTE: SQLite cannot name a VALUES subquery's columns, but can a CTE's.
    wanted = (
        sa.values(sa.column("check_id", sa.String()), name="wanted")
        .data([(c,) for c in checks])
        .cte("wanted")
    )

    def oldest(resolution: str) -> sa.ScalarSelect[datetime]:
        return (
            sa.select(sa.func.min(r.bucket_start))
            .where(r.check_id == wanted.c.check_id, r.resolution == resolution)
            .scalar_subquery()
        )

    found: dict[str, datetime] = {}
    for row in conn.execute(sa.select(wanted.c.check_id, *(oldest(x) for x in RESOLUTION_STEP))):
        stamps = [x for x in row[1:] if x is not None]
        if stamps:
            found[row[0]] = min(stamps)
    return found


def _is_published(config: Config, found: Incident, public: Mapping[str, str]) -> bool:
    wanted = config.status_page.severities
    if wanted is not None and found.severity not in wanted:
        return False
    return found.component is None or found.component in public


def build_snapshot(
    engine: Engine,
    config: Config,
    clock: Clock,
    *,
    history: availability.DayHistory | None = None,
) -> Snapshot:
    """The page now. One read transaction; raises the store's errors as they come.

    ``history`` keeps settled days' availability between calls (pass the same one each time;
    a rebuild then reads about two days of rollups instead of 90).
    """
    now = clock.now()
    with engine.begin() as conn:
        return snapshot_from(conn, config, now=now, history=history)


def snapshot_from(
    conn: Connection,
    config: Config,
    *,
    now: datetime,
    history: availability.DayHistory | None = None,
) -> Snapshot:
    """``build_snapshot`` on an open connection (the override write reads the statuses it
    changes in its own transaction)."""
    zone = ZoneInfo(page_timezone(config))
    url = base_url(config)
    public_ids = public_components(config)
    names = {c: config.components[c].name for c in public_ids}
    checks = sorted({check for c in public_ids for check in config.components[c].checks})
    days = availability.day_range(now, zone, n=AVAILABILITY_DAYS)
    read = _read(conn, config, checks=checks, days=days, now=now, history=history)

    held = held_checks(config, now)
    found_maintenances = maintenances(config, public=public_ids, now=now, base_url=url)
    in_maintenance = maintenance_of(found_maintenances)

    incidents: list[IncidentView] = []
    shown: list[tuple[Incident, IncidentView]] = []
    overrides: dict[str, rollup.Override] = {}
    for found in read.incidents:
        result = publish(
            found,
            read.events[found.id],
            names=names,
            impact_status=impact_status(config, found.severity),
        )
        for component_id, status, actor, at in result.overrides:
            known = overrides.get(component_id)
            if known is None or at > known.at:
                overrides[component_id] = rollup.Override(status, found.id, actor, at)
        if _is_published(config, found, names):
            view = _incident_view(config, found, result, names=names, base_url=url)
            incidents.append(view)
            shown.append((found, view))

    open_by_component: dict[str, list[tuple[int, str, str]]] = {}
    spans: dict[str, list[tuple[str, datetime, datetime]]] = {}
    for found, view in shown:
        if found.component is None:
            continue
        spans.setdefault(found.component, []).append(
            (view.id, found.declared_at, found.resolved_at or now)
        )
        if found.is_open:
            severity = config.severities.get(found.severity)
            open_by_component.setdefault(found.component, []).append(
                (found.id, found.severity, severity.status_impact if severity else "none")
            )

    components: list[ComponentView] = []
    for position, component_id in enumerate(public_ids, start=1):
        spec = config.components[component_id]
        inputs = rollup.Inputs(
            checks=[
                (c, read.states[c].state.value)
                for c in spec.checks
                if c in read.states and c not in held
            ],
            incidents=open_by_component.get(component_id, ()),
            maintenance=in_maintenance.get(component_id),
            override=overrides.get(component_id),
        )
        status, cause = rollup.component_status(inputs)
        changes = [read.states[c].changed_at for c in spec.checks if c in read.states]
        changes += [
            u.created_at for x in incidents if component_id in x.components for u in x.updates[:1]
        ]
        changes += [
            m.updates[0].created_at
            for m in found_maintenances
            if component_id in m.components and m.status != "scheduled"
        ]
        first = [read.first_data_at[c] for c in spec.checks if c in read.first_data_at]
        created_at = min(first) if first else (read.first_run_at or now)
        components.append(
            ComponentView(
                id=component_id,
                name=spec.name,
                description=spec.description,
                group_id=None,
                position=position,
                status=status,
                cause=cause,
                created_at=created_at,
                updated_at=max([created_at, *(c for c in changes if c <= now)]),
                availability=availability.component_days(
                    spec.checks,
                    measured=read.measured,
                    days=days,
                    incidents=availability.incident_days(spans.get(component_id, ()), days=days),
                    history=history,
                ),
            )
        )
    components = latency.with_latency(conn, config, components, now=now)
    components, groups = _grouped(config, components)
    unresolved = [x.impact for x in incidents if x.is_unresolved]
    overall = rollup.overall_status([c.status for c in components], incident_impacts=unresolved)
    stamps = [c.updated_at for c in components] + [x.updated_at for x in incidents]
    stamps += [m.updated_at for m in found_maintenances if m.updated_at <= now]
    page = PageInfo(
        id=config.service,
        title=config.status_page.title or config.service,
        base_url=url,
        timezone=page_timezone(config),
        links=tuple(Link(label=x.label, url=x.url) for x in config.status_page.links),
        logo=config.status_page.logo,
        updated_at=max(stamps, default=read.first_run_at or now),
    )
    return Snapshot(
        at=now,
        page=page,
        status=overall,
        components=tuple(components),
        groups=tuple(groups),
        incidents=tuple(incidents),
        maintenances=tuple(found_maintenances),
    )


def _incident_view(
    config: Config,
    found: Incident,
    result: Published,
    *,
    names: Mapping[str, str],
    base_url: str,
) -> IncidentView:
    impacts = [rollup.IMPACT_OF[impact_status(config, found.severity)]]
    impacts += [rollup.IMPACT_OF.get(status, "none") for _, status, _, _ in result.overrides]
    return IncidentView(
        id=str(found.id),
        name=found.title,
        status=found.status.value,
        impact=rollup.worst_impact(impacts),
        created_at=found.declared_at,
        updated_at=result.updates[0].created_at,
        started_at=found.declared_at,
        monitoring_at=result.monitoring_at,
        resolved_at=found.resolved_at,
        shortlink=f"{base_url}/incidents/{found.id}",
        components=(found.component,)
        if found.component is not None and found.component in names
        else (),
        updates=result.updates,
    )


def group_id(name: str, taken: set[str]) -> str:
    """A stable id for a group named ``name`` that no component id shares."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "group"
    candidate, n = f"group-{slug}", 1
    while candidate in taken:
        n += 1
        candidate = f"group-{slug}-{n}"
    return candidate


def _grouped(
    config: Config, components: list[ComponentView]
) -> tuple[list[ComponentView], list[ComponentGroup]]:
    """Components with their ``group_id`` set, and the groups in order of first member."""
    taken = {c.id for c in components}
    ids: dict[str, str] = {}
    members: dict[str, list[ComponentView]] = {}
    out = []
    for view in components:
        name = config.components[view.id].group
        if name is None:
            out.append(view)
            continue
        if name not in ids:
            ids[name] = group_id(name, taken)
            taken.add(ids[name])
        placed = replace(view, group_id=ids[name])
        members.setdefault(name, []).append(placed)
        out.append(placed)
    groups = [
        ComponentGroup(
            id=ids[name],
            name=name,
            position=views[0].position,
            status=rollup.worst(v.status for v in views),
            components=tuple(v.id for v in views),
            created_at=min(v.created_at for v in views),
            updated_at=max(v.updated_at for v in views),
        )
        for name, views in members.items()
    ]
    return out, groups
