"""MTTA and MTTR per severity over a period: the means of time to acknowledge and to resolve of
the incidents declared in it. Merged incidents are left out; they are counted in the one they
were merged into."""

from __future__ import annotations

from collections.abc import Sequence
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


def _mean(values: Sequence[timedelta]) -> timedelta | None:
    return sum(values, timedelta()) / len(values) if values else None


def summarize(incidents: Sequence[Incident]) -> list[SeverityStats]:
    """Per severity (sorted by name), from incidents already chosen by the caller."""
    out = []
    for severity in sorted({i.severity for i in incidents}):
        mine = [i for i in incidents if i.severity == severity]
        acks = [i.time_to_acknowledge for i in mine if i.time_to_acknowledge is not None]
        fixes = [i.time_to_resolve for i in mine if i.time_to_resolve is not None]
        out.append(
            SeverityStats(
                severity=severity,
                declared=len(mine),
                acknowledged=len(acks),
                resolved=len(fixes),
                mtta=_mean(acks),
                mttr=_mean(fixes),
            )
        )
    return out


def incident_stats(conn: Connection, *, since: datetime) -> list[SeverityStats]:
    rows = conn.execute(
        sa.select(incident).where(incident.c.declared_at >= since, incident.c.merged_into.is_(None))
    )
    return summarize([row_to_incident(r) for r in rows])
