"""MTTA, MTTM and MTTR per severity over a period: the means of time to acknowledge, to mitigate
and to resolve of the incidents declared in it, and how many met the severity's response target
(``respond_within``). Merged incidents are left out; they are counted in the one they were
merged into."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.incidents.models import Incident
from opsbook.incidents.records import row_to_incident
from opsbook.incidents.tables import incident


@dataclass(frozen=True, slots=True)
class SeverityStats:
    severity: str
    declared: int
    acknowledged: int
    resolved: int
    mtta: timedelta | None
    mttr: timedelta | None
    mttm: timedelta | None = None
    met_target: int = 0
    """Acknowledged within ``respond_within``."""
    missed_target: int = 0
    """Acknowledged late, closed without an acknowledgement, or open and past the target."""


def _mean(values: Sequence[timedelta]) -> timedelta | None:
    return sum(values, timedelta()) / len(values) if values else None


def summarize(
    incidents: Sequence[Incident],
    *,
    targets: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> list[SeverityStats]:
    """Per severity (sorted by name), from incidents already chosen by the caller.
    ``targets`` are the severities' ``respond_within`` (none given: nothing is counted as met
    or missed); ``now`` decides whether an open, unacknowledged incident is late yet."""
    out = []
    for severity in sorted({i.severity for i in incidents}):
        mine = [i for i in incidents if i.severity == severity]
        acks = [i.time_to_acknowledge for i in mine if i.time_to_acknowledge is not None]
        mitigations = [i.time_to_mitigate for i in mine if i.time_to_mitigate is not None]
        fixes = [i.time_to_resolve for i in mine if i.time_to_resolve is not None]
        target = (targets or {}).get(severity)
        states = [i.response(target, now=now or i.updated_at).state for i in mine] if target else []
        out.append(
            SeverityStats(
                severity=severity,
                declared=len(mine),
                acknowledged=len(acks),
                resolved=len(fixes),
                mtta=_mean(acks),
                mttr=_mean(fixes),
                mttm=_mean(mitigations),
                met_target=states.count("met"),
                missed_target=states.count("missed") + states.count("overdue"),
            )
        )
    return out


def incident_stats(
    conn: Connection,
    *,
    since: datetime,
    targets: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> list[SeverityStats]:
    rows = conn.execute(
        sa.select(incident).where(incident.c.declared_at >= since, incident.c.merged_into.is_(None))
    )
    return summarize([row_to_incident(r) for r in rows], targets=targets, now=now)
