"""The incidents domain's records. No I/O here; ``service.py`` builds them from rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from opsbook.types import JSONValue


class IncidentStatus(StrEnum):
    """Statuspage's incident statuses, which the seeds' update templates use."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Role(StrEnum):
    COMMANDER = "commander"
    COMMS = "comms"


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    severity: str
    status: IncidentStatus
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    declared_by: str
    commander: str | None
    comms: str | None
    summary: str
    merged_into: int | None
    component: str | None
    root_alert_id: int | None
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return _since(self.declared_at, self.acknowledged_at)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return _since(self.declared_at, self.mitigated_at)

    @property
    def time_to_resolve(self) -> timedelta | None:
        return _since(self.declared_at, self.resolved_at)


def _since(start: datetime, end: datetime | None) -> timedelta | None:
    return end - start if end is not None else None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One line of the timeline. ``actor`` is ``user:ana`` or ``system:incidents``."""

    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    message: str
    detail: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionItem:
    """A follow-up from an incident's postmortem. ``due`` is a calendar day (or none)."""

    id: int
    incident_id: int
    title: str
    owner: str
    due: date | None
    done_at: datetime | None
    created_at: datetime
    created_by: str

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    def is_overdue(self, today: date) -> bool:
        """Open and past its due day (due today is not overdue yet)."""
        return self.done_at is None and self.due is not None and self.due < today
