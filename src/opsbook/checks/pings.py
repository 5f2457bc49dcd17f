"""Heartbeat pings: the ``ping`` table, where a ping URL points, and reading pings back.

``record_ping`` runs in the caller's transaction; the web layer commits it before answering 2xx,
so a ping that was acknowledged survives a crash (kill -9) of the server right after.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.checks.heartbeats import HeartbeatFacts, PingKind, heartbeat_uuid
from opsbook.config import Config
from opsbook.config.checks import HeartbeatSpec
from opsbook.store.metadata import UTCDateTime, id_type, metadata

ping = sa.Table(
    "ping",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("exit_status", sa.Integer(), nullable=True),
    # The client's run id (?rid=), pairing a start with its completion when runs overlap.
    sa.Column("rid", sa.String(36), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    # Start to completion of the same run; null when no start preceded it.
    sa.Column("duration_ms", sa.Float(), nullable=True),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("remote_addr", sa.String(100), nullable=True),
    sa.Column("user_agent", sa.String(200), nullable=True),
    # The bytes as sent: job output need not be UTF-8 (healthchecks.io keeps ``body_raw`` too).
    sa.Column("body", sa.LargeBinary(), nullable=True),
    sa.Index(None, "check_id", "id"),
    sa.Index(None, "check_id", "kind", "id"),
    sa.Index(None, "check_id", "rid", "id"),
)

_COMPLETIONS = (PingKind.SUCCESS.value, PingKind.FAIL.value)
_RUN_EVENTS = (PingKind.START.value, *_COMPLETIONS)

MAX_RUN = timedelta(hours=72)
"""A completion pairs with a start at most this long before it (healthchecks' MAX_DURATION)."""


@dataclass(frozen=True, slots=True)
class PingIn:
    check_id: str
    kind: PingKind
    method: str
    exit_status: int | None = None
    rid: UUID | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    id: int
    check_id: str
    kind: PingKind
    exit_status: int | None
    rid: str | None
    received_at: datetime
    duration_ms: float | None
    method: str
    remote_addr: str | None
    user_agent: str | None
    body: bytes | None

    @property
    def body_text(self) -> str | None:
        """The body for display: UTF-8, with any other byte shown escaped (``\\xff``)."""
        return None if self.body is None else self.body.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class PingTargets:
    """Which heartbeat check a ping URL names: by UUID, or by ping key and check id (slug)."""

    by_uuid: Mapping[UUID, str]
    specs: Mapping[str, HeartbeatSpec]
    key: str | None

    @classmethod
    def from_config(cls, config: Config) -> PingTargets:
        specs = {cid: c.heartbeat for cid, c in config.checks.items() if c.heartbeat is not None}
        by_uuid = {
            spec.uuid or heartbeat_uuid(service=config.service, check_id=cid): cid
            for cid, spec in specs.items()
        }
        key = config.pings.key.reveal() if config.pings.key is not None else None
        return cls(by_uuid=by_uuid, specs=specs, key=key)

    def by_slug(self, key: str, slug: str) -> str | None:
        """The check id for ``/ping/<key>/<slug>``; None for a wrong key or an unknown slug."""
        # Constant-time comparison: the key is a credential.
        if self.key is None or not hmac.compare_digest(key.encode(), self.key.encode()):
            return None
        return slug if slug in self.specs else None


def record_ping(conn: Connection, *, ping_in: PingIn, at: datetime) -> Ping:
    """Insert one ping in ``conn``'s transaction and return it, with its run duration.

    The caller commits. Raises ``ValueError`` if ``at`` is naive.
    """
    rid = str(ping_in.rid) if ping_in.rid is not None else None
    duration_ms = None
    if ping_in.kind in (PingKind.SUCCESS, PingKind.FAIL):
        started = _run_start(conn, check_id=ping_in.check_id, rid=rid, at=at)
        if started is not None:
            duration_ms = max((at - started).total_seconds() * 1000, 0.0)
    values = {
        "check_id": ping_in.check_id,
        "kind": ping_in.kind.value,
        "exit_status": ping_in.exit_status,
        "rid": rid,
        "received_at": at,
        "duration_ms": duration_ms,
        "method": ping_in.method,
        "remote_addr": ping_in.remote_addr,
        "user_agent": (ping_in.user_agent or "")[:200] or None,
        "body": ping_in.body,
    }
    key = conn.execute(ping.insert().values(**values)).inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new ping id")
    return _to_ping({"id": int(key[0]), **values})


def list_pings(
    conn: Connection, *, check_id: str, limit: int = 50, before_id: int | None = None
) -> list[Ping]:
    """The check's pings, newest first; ``before_id`` pages back past an earlier page's last id."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    query = sa.select(ping).where(ping.c.check_id == check_id)
    if before_id is not None:
        query = query.where(ping.c.id < before_id)
    rows = conn.execute(query.order_by(ping.c.id.desc()).limit(limit))
    return [_to_ping(row._asdict()) for row in rows]


def pings_after(conn: Connection, *, after_id: int, limit: int = 1000) -> list[Ping]:
    """Completions (success and fail) with an id above ``after_id``, oldest first."""
    rows = conn.execute(
        sa.select(ping)
        .where(ping.c.id > after_id, ping.c.kind.in_(_COMPLETIONS))
        .order_by(ping.c.id)
        .limit(limit)
    )
    return [_to_ping(row._asdict()) for row in rows]


def last_ping_id(conn: Connection) -> int:
    """The highest ping id, or 0 for an empty table."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(ping.c.id), 0))).scalar_one())


def heartbeat_facts(conn: Connection, *, check_id: str) -> HeartbeatFacts:
    """What the stored pings say about ``check_id``: last completion and any open start."""
    last = conn.execute(
        sa.select(ping.c.received_at, ping.c.kind, ping.c.exit_status)
        .where(ping.c.check_id == check_id, ping.c.kind.in_(_COMPLETIONS))
        .order_by(ping.c.id.desc())
        .limit(1)
    ).first()
    open_start = _open_start(conn, check_id=check_id)
    if last is None:
        return HeartbeatFacts(last_start_at=open_start)
    return HeartbeatFacts(
        last_ping_at=last.received_at,
        last_ping_failed=last.kind == PingKind.FAIL.value,
        last_start_at=open_start,
        exit_status=last.exit_status,
    )


def _same_rid(rid: str | None) -> sa.ColumnElement[bool]:
    # A run without an id is a run of its own: it pairs only with events that have none either.
    return ping.c.rid.is_(None) if rid is None else ping.c.rid == rid


def _run_start(
    conn: Connection, *, check_id: str, rid: str | None, at: datetime
) -> datetime | None:
    """When the run a completion with ``rid`` closes started, or None if it has no start.

    healthchecks.io's ``Ping.duration``: the latest start, success or fail with the same run id
    (none matching none), within ``MAX_RUN``; a duration only if that event is a start.
    https://github.com/healthchecks/healthchecks/blob/master/hc/api/models.py (Ping.duration)
    """
    before = conn.execute(
        sa.select(ping.c.kind, ping.c.received_at)
        .where(ping.c.check_id == check_id, _same_rid(rid), ping.c.kind.in_(_RUN_EVENTS))
        .order_by(ping.c.id.desc())
        .limit(1)
    ).first()
    if before is None or before.kind != PingKind.START.value:
        return None
    started: datetime = before.received_at
    return started if at - started < MAX_RUN else None


def _open_start(conn: Connection, *, check_id: str) -> datetime | None:
    """The check's latest start, unless a later completion ended the running state.

    healthchecks.io's ``Check.ping`` keeps only the last start and its run id. A completion ends
    it when the run ids match (none matching none), when it is a failure whatever its run id, or
    when it is a success without a run id; a success of another run leaves it running.
    https://github.com/healthchecks/healthchecks/blob/master/hc/api/models.py (Check.ping)
    """
    start = conn.execute(
        sa.select(ping.c.id, ping.c.rid, ping.c.received_at)
        .where(ping.c.check_id == check_id, ping.c.kind == PingKind.START.value)
        .order_by(ping.c.id.desc())
        .limit(1)
    ).first()
    if start is None:
        return None
    ends = sa.or_(_same_rid(start.rid), ping.c.kind == PingKind.FAIL.value, ping.c.rid.is_(None))
    closing = sa.select(ping.c.id).where(
        ping.c.check_id == check_id,
        ping.c.id > start.id,
        ping.c.kind.in_(_COMPLETIONS),
        ends,
    )
    if conn.execute(closing.limit(1)).first() is not None:
        return None
    received_at: datetime = start.received_at
    return received_at


def _to_ping(row: Mapping[str, object]) -> Ping:
    return Ping(**{**row, "kind": PingKind(str(row["kind"]))})  # type: ignore[arg-type]
