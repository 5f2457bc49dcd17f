"""The alerts domain's plain data: alerts, their events, silences, and the notices that leave.

No I/O here. Rows of ``tables.py`` become these dataclasses in ``service.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, TypeAlias

from sqlalchemy.engine import Connection

from opsbook.types import JSONValue


class AlertStatus(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    INACTIVE = "inactive"
    """A pending alert whose expression went false before ``for`` was met; it never fired."""


OPEN_STATUSES = frozenset({AlertStatus.PENDING, AlertStatus.FIRING})


class AlertSource(StrEnum):
    RULE = "rule"
    PROMETHEUS = "prometheus"
    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Alert:
    """One episode of one alert (see ``tables.alert``).

    ``labels`` always carry ``alertname`` (the rule name, or the ingested alertname/summary) and
    ``severity``; rule alerts also carry ``check`` and the check's labels (``component``...).
    """

    id: int
    fingerprint: str
    source: AlertSource
    rule: str | None
    integration: str | None
    dedup_key: str | None
    check_id: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    severity: str
    status: AlertStatus
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    ends_at: datetime | None
    last_seen_at: datetime
    updated_at: datetime
    values: Mapping[str, JSONValue]
    flapping: bool = False
    acknowledged_at: datetime | None = None
    suppressed_by: int | None = None
    suppressed_reason: str | None = None
    silenced_by: tuple[str, ...] = ()
    maintenance: str | None = None

    @property
    def is_muted(self) -> bool:
        """Firing but held back: suppressed by a dependency, silenced, or in maintenance."""
        return bool(self.suppressed_reason or self.silenced_by or self.maintenance)


EventKind: TypeAlias = Literal[
    "pending",
    "firing",
    "resolved",
    "inactive",
    "flapping",
    "stable",
    "suppressed",
    "unsuppressed",
    "silenced",
    "unsilenced",
    "maintenance",
    "acknowledged",
    "received",
    "notified",
]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One line of an alert's history: a transition, or something that happened to it."""

    id: int
    alert_id: int
    at: datetime
    kind: str
    from_status: AlertStatus | None
    to_status: AlertStatus | None
    values: Mapping[str, JSONValue]
    message: str


@dataclass(frozen=True, slots=True)
class Matcher:
    """Alertmanager's matcher: ``name`` ``=``/``!=``/``=~``/``!~`` ``value``."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def __str__(self) -> str:
        op = (
            ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        )
        return f'{self.name}{op}"{self.value}"'


SilenceState: TypeAlias = Literal["pending", "active", "expired"]


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> SilenceState:
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"


NoticeReason: TypeAlias = Literal[
    "first notification",
    "new alerts added",
    "some alerts resolved",
    "all alerts resolved",
    "repeat interval elapsed",
    "flapping",
]
"""Alertmanager's ``notification_reason`` words, plus ``flapping``."""


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One notification of one group to one receiver (a channel name from config).

    ``status`` is ``resolved`` only when every alert in it is resolved (as in Alertmanager).
    ``key`` is unique per notice and stable across retries of the same pass:
    ``"<group_key>#<sequence>"``; notify uses it (with the channel) as the idempotency key.
    """

    key: str
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    status: Literal["firing", "resolved"]
    reason: NoticeReason
    alerts: tuple[Alert, ...]
    at: datetime
    external_url: str | None = None
    extra: Mapping[str, JSONValue] = field(default_factory=dict)


class Emit(Protocol):
    """Hand notices to whatever delivers them, inside the caller's transaction ``conn``.

    The composition root passes notify's outbox writer here, so a notice is stored in the same
    transaction as the alert transition that caused it (the transactional outbox).
    """

    def __call__(self, conn: Connection, notices: Sequence[AlertNotice]) -> None: ...
