"""Heartbeat pings: the ``ping`` table, where a ping URL points, and reading pings back.

``record_ping`` runs in the caller's transaction; the web layer commits it before answering 2xx,
so a ping that was acknowledged survives a crash (kill -9) of the server right after.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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
    sa.Column("body", sa.Text(), nullable=True),
    sa.Index(None, "check_id", "id"),
)

_COMPLETIONS = (PingKind.SUCCESS.value, PingKind.FAIL.value)


@dataclass(frozen=True, slots=True)
class PingIn:
    check_id: str
    kind: PingKind
    method: str
    exit_status: int | None = None
    rid: UUID | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    body: str | None = None


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
    body: str | None


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
        started = _open_start(conn, check_id=ping_in.check_id, rid=rid)
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
    open_start = _open_start(conn, check_id=check_id, rid=None, any_rid=True)
    if last is None:
        return HeartbeatFacts(last_start_at=open_start)
    return HeartbeatFacts(
        last_ping_at=last.received_at,
        last_ping_failed=last.kind == PingKind.FAIL.value,
        last_start_at=open_start,
        exit_status=last.exit_status,
    )


def _open_start(
    conn: Connection, *, check_id: str, rid: str | None, any_rid: bool = False
) -> datetime | None:
    """The latest start of ``check_id`` that no completion has closed yet.

    A completion closes a start when their run ids match or either has none, like healthchecks.io
    pairs ``/start?rid=`` with its ``/0?rid=``. With ``any_rid`` the start may have any run id.
    """
    query = sa.select(ping.c.id, ping.c.rid, ping.c.received_at).where(
        ping.c.check_id == check_id, ping.c.kind == PingKind.START.value
    )
    if not any_rid and rid is not None:
        query = query.where(ping.c.rid == rid)
    start = conn.execute(query.order_by(ping.c.id.desc()).limit(1)).first()
    if start is None:
        return None
    closing = sa.select(ping.c.id).where(
        ping.c.check_id == check_id, ping.c.kind.in_(_COMPLETIONS), ping.c.id > start.id
    )
    if start.rid is not None:
        closing = closing.where(sa.or_(ping.c.rid.is_(None), ping.c.rid == start.rid))
    if conn.execute(closing.limit(1)).first() is not None:
        return None
    received_at: datetime = start.received_at
    return received_at


def _to_ping(row: Mapping[str, object]) -> Ping:
    return Ping(**{**row, "kind": PingKind(str(row["kind"]))})  # type: ignore[arg-type]
