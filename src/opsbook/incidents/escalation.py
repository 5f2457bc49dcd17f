"""Escalation timers: each run of a policy is an ``escalation`` row with the step to page next
and when it is due. The rows are the only timers, so a restart continues where it stopped.

``oncall`` says what a policy's levels are and who is on call when (pure); this module decides
when to page and writes the pages, the timeline and the timer in the caller's transaction.
Each incident is handled in its own savepoint when one fails (``isolation.handle_each``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.config.units import format_duration
from opsbook.incidents.isolation import handle_each
from opsbook.incidents.models import (
    EmitIncident,
    Escalation,
    Incident,
    IncidentEvent,
    IncidentNotice,
    LinkedAlert,
    Page,
)
from opsbook.incidents.notices import linked_alerts, person_channels, recipient
from opsbook.incidents.overrides import schedule_overrides
from opsbook.incidents.records import add_event, row_to_incident
from opsbook.incidents.tables import escalation, incident, incident_event
from opsbook.oncall import Level, escalation_levels, who
from opsbook.tasks import TaskFailures

ACTOR = "system:incidents"
ORIGIN = "runner"
BATCH = 200
ACTIVE = "active"


def row_to_escalation(row: Any) -> Escalation:
    return Escalation(
        id=int(row.id),
        incident_id=int(row.incident_id),
        policy=row.policy,
        state=row.state,
        step=int(row.step),
        next_at=row.next_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        ended_reason=row.ended_reason,
    )


def list_escalations(conn: Connection, incident_id: int) -> list[Escalation]:
    """The incident's escalations, oldest first."""
    rows = conn.execute(
        sa.select(escalation)
        .where(escalation.c.incident_id == incident_id)
        .order_by(escalation.c.started_at, escalation.c.id)
    )
    return [row_to_escalation(r) for r in rows]


def policy_levels(config: Config, policy: str) -> list[Level] | None:
    """The policy's levels, repeats unrolled; None when it is no longer configured."""
    if policy not in config.oncall.escalation:
        return None
    return escalation_levels(config, policy)


def escalation_policies(config: Config) -> dict[str, str | None]:
    """Each severity's escalation policy, None where it names none (or one no longer
    configured): who may be escalated to (``service.escalate``, the incident page)."""
    return {
        name: severity.escalation
        if severity.escalation is not None and severity.escalation in config.oncall.escalation
        else None
        for name, severity in config.severities.items()
    }


def active_escalations(conn: Connection, incident_id: int) -> list[Escalation]:
    return [e for e in list_escalations(conn, incident_id) if e.is_active]


def start_escalation(conn: Connection, found: Incident, *, policy: str, now: datetime) -> int:
    """Start paging ``policy`` for the incident: an active escalation whose first level is due
    ``now``, and ``escalation_started`` on the timeline. Returns the escalation's id."""
    result = conn.execute(
        escalation.insert().values(
            incident_id=found.id,
            policy=policy,
            state=ACTIVE,
            step=0,
            next_at=now,
            started_at=now,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new escalation id")
    escalation_id = int(key[0])
    add_event(
        conn,
        found.id,
        kind="escalation_started",
        actor=ACTOR,
        message=f"escalation {policy} started",
        now=now,
        origin=ORIGIN,
        detail={"escalation_id": escalation_id, "policy": policy},
        handled=True,
    )
    return escalation_id


def stop_escalation(
    conn: Connection,
    esc: Escalation,
    *,
    state: str,
    message: str,
    now: datetime,
    by: str | None = None,
) -> None:
    """End an active escalation as ``state`` (acknowledged, resolved, merged, cancelled) with
    ``escalation_stopped`` on the timeline. No-op if it already ended (a concurrent pass)."""
    ended = conn.execute(
        escalation.update()
        .where(escalation.c.id == esc.id, escalation.c.state == ACTIVE)
        .values(state=state, next_at=None, ended_at=now, ended_reason=message)
    ).rowcount
    if ended != 1:
        return
    detail: dict[str, Any] = {"escalation_id": esc.id, "reason": state}
    if by is not None:
        detail["by"] = by
    add_event(
        conn,
        esc.incident_id,
        kind="escalation_stopped",
        actor=ACTOR,
        message=f"escalation {esc.policy} stopped: {message}",
        now=now,
        origin=ORIGIN,
        detail=detail,
        handled=True,
    )


def stop_reason(found: Incident, *, policy: str, config: Config) -> tuple[str, str] | None:
    """Why an escalation of ``found`` must not page any more (state, message), or None."""
    if found.merged_into is not None:
        return "merged", f"merged into incident {found.merged_into}"
    if not found.is_open:
        return "resolved", "resolved"
    if found.acknowledged_at is not None:
        return "acknowledged", "acknowledged"
    if policy not in config.oncall.escalation:
        return "cancelled", f"policy {policy!r} is no longer configured"
    return None


def run_escalations(
    conn: Connection,
    *,
    config: Config,
    emit: EmitIncident,
    now: datetime,
    failures: TaskFailures | None = None,
) -> int:
    """Page every level that is due; returns how many notices were queued.

    For each active escalation with ``next_at <= now`` (a bounded batch, oldest first):

    1. lock its incident row (PostgreSQL: a concurrent acknowledge waits, or we see it);
    2. end it if the incident is acknowledged, resolved or merged, or its policy is gone;
    3. page each due level in turn (several after downtime), each at its own due time, never
       the same person on the same channel twice in one pass; one ``paged`` event per level;
    4. store the next step and its due time (this level's due time plus its wait, so a late
       pass does not drift), or end it as exhausted after the last level.

    The notices go to ``emit`` in this transaction, once unless an escalation fails: it is
    rolled back alone (still due, so the next pass retries it), counted in ``failures`` and
    marked on its incident's timeline (``isolation.handle_each``, stage ``escalation``).
    """
    due = conn.execute(
        sa.select(escalation.c.id, escalation.c.incident_id)
        .where(escalation.c.state == ACTIVE, escalation.c.next_at <= now)
        .order_by(escalation.c.next_at, escalation.c.id)
        .limit(BATCH)
    ).all()
    return handle_each(
        conn,
        due,
        lambda row: _advance(conn, int(row.id), config=config, now=now),
        incident_of=lambda row: int(row.incident_id),
        emit=emit,
        stage="escalation",
        now=now,
        failures=failures,
    )


def _advance(
    conn: Connection, escalation_id: int, *, config: Config, now: datetime
) -> list[IncidentNotice]:
    owner = sa.select(escalation.c.incident_id).where(escalation.c.id == escalation_id)
    # The incident first, as acknowledge and update do: its lock orders us against them.
    found_row = conn.execute(
        sa.select(incident).where(incident.c.id == owner.scalar_subquery()).with_for_update()
    ).first()
    row = conn.execute(
        sa.select(escalation).where(escalation.c.id == escalation_id).with_for_update()
    ).first()
    if found_row is None or row is None:  # pragma: no cover - cascade-deleted meanwhile
        return []
    esc = row_to_escalation(row)
    if not esc.is_active or esc.next_at is None or esc.next_at > now:
        return []  # another pass got here first
    found = row_to_incident(found_row)
    stop = stop_reason(found, policy=esc.policy, config=config)
    if stop is not None:
        stop_escalation(conn, esc, state=stop[0], message=stop[1], now=now)
        return []
    levels = escalation_levels(config, esc.policy)
    alerts = linked_alerts(conn, found.id)
    seen: set[tuple[str, str]] = set()
    notices: list[IncidentNotice] = []
    step, due = esc.step, esc.next_at
    exhausted = False
    while step < len(levels) and due <= now:
        level = levels[step]
        paged = _page(
            conn, config, esc, found, alerts, level, step=step, due=due, now=now, seen=seen
        )
        notices += paged
        _record_page(conn, esc, level, paged, now=now)
        step += 1
        if level.wait is None:
            exhausted = True
            break
        due = due + level.wait
    # Past the last level: its wait ran out too (or the policy shrank) with nobody acking.
    exhausted = exhausted or (step >= len(levels) and due <= now)
    if exhausted:
        _exhaust(conn, esc, now=now)
    else:
        conn.execute(
            escalation.update().where(escalation.c.id == esc.id).values(step=step, next_at=due)
        )
    return notices


def _page(
    conn: Connection,
    config: Config,
    esc: Escalation,
    found: Incident,
    alerts: tuple[LinkedAlert, ...],
    level: Level,
    *,
    step: int,
    due: datetime,
    now: datetime,
    seen: set[tuple[str, str]],
    tag: str = "",
) -> list[IncidentNotice]:
    """The notices for one level: each person by each of their channels, each channel target
    once; schedules resolve to whoever is on call at the level's due time, stored overrides
    included (``overrides.py``). ``tag`` sets apart the keys of a page sent early
    (``escalate_after``) from the timer's page of that step."""
    out: list[IncidentNotice] = []
    for target in level.notify:
        via = str(target)
        page = Page(escalation_id=esc.id, level=level.number, round=level.round, via=via)
        pairs: list[tuple[str | None, str]]
        if target.kind == "channel":
            pairs = [(None, target.name)]
        else:
            if target.kind == "schedule":
                stored = schedule_overrides(conn, target.name, after=due)
                person = who(config, target.name, due, overrides=stored).person
            else:
                person = target.name
            pairs = [(person, channel) for channel in person_channels(config, person)]
        for person_id, channel in pairs:
            if (person_id or "-", channel) in seen:
                continue
            seen.add((person_id or "-", channel))
            out.append(
                IncidentNotice(
                    kind="page",
                    channel=channel,
                    key=f"page:{esc.id}:{step}{tag}:{channel}:{person_id or '-'}",
                    incident=found,
                    alerts=alerts,
                    person=recipient(config, person_id) if person_id is not None else None,
                    page=page,
                    at=now,
                )
            )
    return out


def _record_page(
    conn: Connection,
    esc: Escalation,
    level: Level,
    paged: Sequence[IncidentNotice],
    *,
    now: datetime,
    why: str = "",
) -> None:
    """One ``paged`` event per level: "level 1: paged Ana (schedule:l1) via pager, email"."""
    people: dict[str, tuple[str, str, list[str]]] = {}
    channels: list[str] = []
    for notice in paged:
        if notice.page is None:  # pragma: no cover - pages always carry one
            continue
        if notice.person is None:
            channels.append(notice.channel)
            continue
        entry = people.setdefault(notice.person.id, (notice.person.name, notice.page.via, []))
        entry[2].append(notice.channel)
    parts = [f"{name} ({via}) via {', '.join(vias)}" for name, via, vias in people.values()]
    parts += [f"channel {name}" for name in channels]
    label = f"level {level.number}" + (f" (round {level.round + 1})" if level.round else "")
    said = "; ".join(parts) if parts else "nobody new (already paged in this pass)"
    add_event(
        conn,
        esc.incident_id,
        kind="paged",
        actor=ACTOR,
        message=(f"{label}: paged {said}" if parts else f"{label}: {said}") + why,
        now=now,
        origin=ORIGIN,
        detail={
            "escalation_id": esc.id,
            "level": level.number,
            "round": level.round,
            "people": [*people],
            "channels": [*sorted({n.channel for n in paged})],
            "targets": [str(t) for t in level.notify],
        },
        handled=True,
    )


def _exhaust(conn: Connection, esc: Escalation, *, now: datetime) -> None:
    conn.execute(
        escalation.update()
        .where(escalation.c.id == esc.id)
        .values(
            state="exhausted",
            next_at=None,
            ended_at=now,
            ended_reason="every level was paged and nobody acknowledged",
        )
    )
    add_event(
        conn,
        esc.incident_id,
        kind="escalation_exhausted",
        actor=ACTOR,
        message=f"escalation {esc.policy} exhausted: every level paged, nobody acknowledged",
        now=now,
        origin=ORIGIN,
        detail={"escalation_id": esc.id},
        handled=True,
    )


ESCALATED = "escalated"


def escalate_unmitigated(
    conn: Connection,
    *,
    config: Config,
    emit: EmitIncident,
    now: datetime,
    failures: TaskFailures | None = None,
) -> int:
    """``severities.<name>.escalate_after``: page the next level of every open incident that is
    still not mitigated that long after it was declared, acknowledged or not; once per
    incident (an ``escalated`` event marks it). Returns how many notices were queued.

    The next level is the one its latest escalation would page next (the last one again when
    every level was paged). An active escalation moves on from there, its timer restarting
    from now. An incident that fails is rolled back alone, counted in ``failures`` and marked
    on its timeline (``isolation.handle_each``, stage ``escalate_after``); the next pass
    retries it.
    """
    due: list[tuple[Any, str]] = []
    for name, severity in config.severities.items():
        if severity.escalate_after is None or severity.escalation is None:
            continue
        done = sa.select(incident_event.c.incident_id).where(incident_event.c.kind == ESCALATED)
        rows = conn.execute(
            sa.select(incident)
            .where(
                incident.c.severity == name,
                incident.c.status != "resolved",
                incident.c.merged_into.is_(None),
                incident.c.mitigated_at.is_(None),
                incident.c.declared_at <= now - severity.escalate_after,
                incident.c.id.not_in(done),
            )
            .order_by(incident.c.id)
            .limit(BATCH)
            .with_for_update()
        ).all()
        after = format_duration(severity.escalate_after)
        due += [(row, after) for row in rows]
    return handle_each(
        conn,
        due,
        lambda item: _escalate_now(
            conn, row_to_incident(item[0]), config=config, after=item[1], now=now
        ),
        incident_of=lambda item: int(item[0].id),
        emit=emit,
        stage="escalate_after",
        now=now,
        failures=failures,
    )


def _escalate_now(
    conn: Connection, found: Incident, *, config: Config, after: str, now: datetime
) -> list[IncidentNotice]:
    runs = [e for e in list_escalations(conn, found.id) if policy_levels(config, e.policy)]
    if not runs:
        add_event(
            conn,
            found.id,
            kind=ESCALATED,
            actor=ACTOR,
            message=f"not mitigated after {after}, but no escalation ran to escalate",
            now=now,
            origin=ORIGIN,
            handled=True,
        )
        return []
    why = f" (not mitigated after {after}: escalated without waiting)"
    paged, level = page_next_level(
        conn, found, runs[-1], config=config, now=now, why=why, tag=":early"
    )
    add_event(
        conn,
        found.id,
        kind=ESCALATED,
        actor=ACTOR,
        message=f"not mitigated after {after}: level {level.number} paged without waiting",
        now=now,
        origin=ORIGIN,
        detail={"escalation_id": runs[-1].id, "level": level.number, "round": level.round},
        handled=True,
    )
    return paged


def escalate_on_request(
    conn: Connection, found: Incident, *, config: Config, request: IncidentEvent, now: datetime
) -> list[IncidentNotice]:
    """A person asked to escalate (``service.escalate``, the ``escalate`` event ``request``):
    page the next level of the incident's latest escalation now, acknowledged or not, its
    timer restarting from now; with no escalation yet, start the severity's policy and page
    its first level. Each request pages once (its keys carry its id). An acknowledged
    incident's escalation pages nothing more by itself afterwards."""
    by = request.actor
    runs = [e for e in list_escalations(conn, found.id) if policy_levels(config, e.policy)]
    if not runs:
        policy = escalation_policies(config).get(found.severity)
        if policy is None:
            # The severity changed (or the config did) since the request was accepted.
            add_event(
                conn,
                found.id,
                kind="note",
                actor=ACTOR,
                message=f"escalation asked for by {by}, but {found.severity} has no policy",
                now=now,
                origin=ORIGIN,
                handled=True,
            )
            return []
        start_escalation(conn, found, policy=policy, now=now)
        runs = list_escalations(conn, found.id)
    why = f" (escalated by {by} without waiting)"
    paged, _ = page_next_level(
        conn, found, runs[-1], config=config, now=now, why=why, tag=f":asked{request.id}"
    )
    return paged


def page_next_level(
    conn: Connection,
    found: Incident,
    esc: Escalation,
    *,
    config: Config,
    now: datetime,
    why: str,
    tag: str,
) -> tuple[list[IncidentNotice], Level]:
    """Page the level ``esc`` would page next (the last one again when every level was paged)
    now, with ``why`` on its ``paged`` event. An active escalation moves on from there, its
    timer restarting from now; a stopped or exhausted one stays as it is. ``tag`` sets its
    pages' keys apart from the timer's own."""
    levels = escalation_levels(config, esc.policy)
    step = min(esc.step, len(levels) - 1)
    level = levels[step]
    alerts = linked_alerts(conn, found.id)
    paged = _page(
        conn,
        config,
        esc,
        found,
        alerts,
        level,
        step=step,
        due=now,
        now=now,
        seen=set(),
        tag=tag,
    )
    _record_page(conn, esc, level, paged, now=now, why=why)
    if esc.is_active:
        if level.wait is None:
            _exhaust(conn, esc, now=now)
        else:
            conn.execute(
                escalation.update()
                .where(escalation.c.id == esc.id)
                .values(step=step + 1, next_at=now + level.wait)
            )
    return paged, level
