"""The incidents domain's records. No I/O here; ``service.py`` builds them from rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from sqlalchemy.engine import Connection

from opsbook.types import JSONValue

UPDATE_FIELDS = ("impact", "eta", "workaround", "next_update", "root_cause", "fix")
"""Optional parts of a status update, beside its message, that the seeds' templates show
(``Impact:``, ``ETA:``, ``Workaround:``, ``Next update:``, ``Root cause:``, ``Fix:``). Stored in
the status event's ``detail["fields"]``."""

NOTIFIED_KINDS = frozenset({"declared", "status", "severity", "reopened", "merged"})
"""The timeline events that a severity's ``notify`` channels hear about."""


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

    def response(self, respond_within: timedelta, *, now: datetime) -> Response:
        """How the acknowledgement did against the severity's ``respond_within``."""
        due_at = self.declared_at + respond_within
        state: Literal["met", "missed", "due", "overdue"]
        if self.acknowledged_at is not None:
            state = "met" if self.acknowledged_at <= due_at else "missed"
        elif not self.is_open:
            state = "missed"  # resolved without anyone acknowledging it
        else:
            state = "due" if now <= due_at else "overdue"
        return Response(target=respond_within, due_at=due_at, state=state)


@dataclass(frozen=True, slots=True)
class Response:
    """The response target of an incident: acknowledged by ``due_at`` (``met``), after it
    (``missed``), not yet and still in time (``due``) or not yet and late (``overdue``)."""

    target: timedelta
    due_at: datetime
    state: Literal["met", "missed", "due", "overdue"]


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


@dataclass(frozen=True, slots=True)
class Escalation:
    """One run of an escalation policy for an incident. ``step`` indexes the policy's levels
    with repeats unrolled (``oncall.escalation_levels``); ``next_at`` is when that level is
    due, None once ``state`` is no longer "active"."""

    id: int
    incident_id: int
    policy: str
    state: str
    step: int
    next_at: datetime | None
    started_at: datetime
    ended_at: datetime | None
    ended_reason: str | None

    @property
    def is_active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person being paged, from ``oncall.people``."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class LinkedAlert:
    """An alert of the incident, as notifications show it."""

    id: int
    name: str
    status: str
    severity: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class Page:
    """Which step of an escalation a page belongs to: ``level`` is the configured level
    (1-based), ``round`` the repetition (0 first), ``via`` how the person was chosen
    (``schedule:l1``, ``person:ana``, ``channel:slack``)."""

    escalation_id: int
    level: int
    round: int
    via: str


@dataclass(frozen=True, slots=True)
class IncidentNotice:
    """One message for one channel about one incident.

    ``kind`` "page": a person (``person``, None when the level names a channel directly) is
    paged at escalation step ``page``. ``kind`` "incident": ``event`` happened (declared, a
    status update, ...) and the severity's ``notify`` channels are told.

    ``key`` is the idempotency key: unique per step, channel and person, or per event and
    channel, so the same page or update is never queued twice.
    """

    kind: Literal["page", "incident"]
    channel: str
    key: str
    incident: Incident
    alerts: tuple[LinkedAlert, ...] = ()
    event: IncidentEvent | None = None
    person: Recipient | None = None
    page: Page | None = None
    at: datetime | None = None


class EmitIncident(Protocol):
    """Queues incident notices in the caller's transaction (``notify.IncidentEmitter``), so a
    page commits with the escalation step that caused it."""

    def __call__(self, conn: Connection, notices: Sequence[IncidentNotice]) -> None: ...
