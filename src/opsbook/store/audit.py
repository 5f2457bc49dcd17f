"""The audit trail: who did what, to what, when, and from where (DESIGN.md invariants).

Every write by a person or an automation calls ``record_audit`` in the same transaction as the
write itself, so the trail and the change commit or roll back together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata
from opsbook.types import JSONValue

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    # "user:ana", "token:ci", "system:scheduler": the kind of actor is part of its name.
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("detail", json_type(), nullable=False),
    # Where the write came from: "cli", "api 10.0.0.7", "runner".
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Index(None, "at"),
)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, JSONValue]
    origin: str


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, JSONValue],
    origin: str,
    at: datetime,
) -> int:
    """Append one event in ``conn``'s transaction and return its id.

    ``detail`` must already be free of secrets; callers pass redacted values. Raises
    ``ValueError`` if ``at`` is naive.
    """
    result = conn.execute(
        audit_event.insert().values(
            at=at, actor=actor, action=action, subject=subject, detail=detail, origin=origin
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new audit_event id")
    return int(key[0])


def list_audit(conn: Connection, *, limit: int = 100) -> list[AuditEvent]:
    """The newest ``limit`` events, newest first (ties broken by insertion order)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    rows = conn.execute(
        sa.select(audit_event)
        .order_by(audit_event.c.at.desc(), audit_event.c.id.desc())
        .limit(limit)
    )
    return [AuditEvent(**row._asdict()) for row in rows]
