"""Heartbeat pings: the ``ping`` table, where a ping URL points, and reading pings back.

``record_ping`` runs in the caller's transaction; the web layer commits it before answering 2xx,
so a ping that was acknowledged survives a crash (kill -9) of the server right after.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.checks.executemany import executemany
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
    batch = PingBatch(conn)
    batch.add(ping_in, at)
    [stored] = batch.insert()
    return stored


class PingBatch:
    """Pings stored in ``conn``'s transaction by one insert, each exactly as if it had been
    inserted alone, in the order added: a run's duration, and the facts of the checks named in
    ``facts_for``, take the batch's earlier pings into account.

    The store is read once per run (check and run id) and once per check in ``facts_for``, the
    first time the batch needs it; after that the batch's own pings keep it up to date (the
    caller holds the write lock, so nothing else changes those pings meanwhile).
    """

    def __init__(self, conn: Connection, *, facts_for: Collection[str] = ()) -> None:
        self._conn = conn
        self._facts_for = facts_for
        # The latest start, success or fail of each run: (kind, received_at), None if none.
        self._runs: dict[tuple[str, str | None], tuple[str, datetime] | None] = {}
        self._checks: dict[str, TrackedFacts] = {}
        self._values: list[dict[str, object]] = []
        self.last_duration_ms: float | None = None
        """The run duration of the ping added last (None if it closed no started run)."""

    def prefetch(self, pings: Iterable[PingIn]) -> None:
        """Read, before they are added, what ``pings`` need (their completions' runs, the
        facts of the checks in ``facts_for``): on SQLite one statement for all runs and one
        for all checks, instead of a few a ping (other stores read lazily)."""
        if self._conn.dialect.name != "sqlite":
            return
        keys = list(
            {
                (p.check_id, str(p.rid) if p.rid is not None else None): None
                for p in pings
                if p.kind in (PingKind.SUCCESS, PingKind.FAIL)
            }
        )
        keys = [k for k in keys if k not in self._runs]
        wanted = [c for c in self._facts_for if c not in self._checks]
        if wanted:
            rows = self._conn.execute(_TRACKED_FACTS_SQLITE, {"ids": json.dumps(wanted)})
            for row in rows:
                self._checks[wanted[row.n]] = TrackedFacts(
                    last_ping_at=row.last_at,
                    last_ping_failed=row.last_kind == PingKind.FAIL.value,
                    exit_status=row.last_exit,
                    start_at=None if row.closed else row.start_at,
                    start_rid=None if row.closed else row.start_rid,
                )
        if not keys:
            return
        found = {
            row.n: (str(row.kind), row.received_at)
            for row in self._conn.execute(_LAST_RUN_EVENTS_SQLITE, {"keys": json.dumps(keys)})
        }
        for n, key in enumerate(keys):
            self._runs[key] = found.get(n)

    def add(self, ping_in: PingIn, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a ping's time must be timezone-aware")
        check_id, kind = ping_in.check_id, ping_in.kind
        if check_id in self._facts_for and check_id not in self._checks:
            self._checks[check_id] = tracked_facts(self._conn, check_id=check_id)
        rid = str(ping_in.rid) if ping_in.rid is not None else None
        duration_ms = None
        if kind in (PingKind.SUCCESS, PingKind.FAIL):
            key = (check_id, rid)
            if key not in self._runs:
                self._runs[key] = _last_run_event(self._conn, check_id=check_id, rid=rid)
            before = self._runs[key]
            # healthchecks.io's ``Ping.duration``: only when the run's latest event is a start
            # within ``MAX_RUN``.
            if (
                before is not None
                and before[0] == PingKind.START.value
                and at - before[1] < MAX_RUN
            ):
                duration_ms = max((at - before[1]).total_seconds() * 1000, 0.0)
        if kind in (PingKind.START, PingKind.SUCCESS, PingKind.FAIL):
            self._runs[(check_id, rid)] = (kind.value, at)
        self.last_duration_ms = duration_ms
        tracked = self._checks.get(check_id)
        if tracked is not None:
            tracked.add(kind, at=at, rid=rid, exit_status=ping_in.exit_status)
        self._values.append(
            {
                "check_id": check_id,
                "kind": kind.value,
                "exit_status": ping_in.exit_status,
                "rid": rid,
                "received_at": at,
                "duration_ms": duration_ms,
                "method": ping_in.method,
                "remote_addr": ping_in.remote_addr,
                "user_agent": (ping_in.user_agent or "")[:200] or None,
                "body": ping_in.body,
            }
        )

    def facts(self, check_id: str) -> HeartbeatFacts:
        """What the pings so far (stored and added) say about ``check_id``, one of
        ``facts_for``."""
        if check_id not in self._checks:  # none of its pings added yet: the store's
            self._checks[check_id] = tracked_facts(self._conn, check_id=check_id)
        return self._checks[check_id].facts()

    def insert(self) -> list[Ping]:
        """Insert the pings added, in order, and return them with their ids."""
        if not self._values:
            return []
        if self._conn.dialect.name == "sqlite":
            ids = self._insert_sqlite()
        else:
            ids = [int(row[0]) for row in self._conn.execute(_INSERT_RETURNING_ID, self._values)]
        if len(ids) != len(self._values):  # pragma: no cover - both ways give every id
            raise RuntimeError("the store did not return the new ping ids")
        stored = [
            _to_ping({"id": ping_id, **values})
            for ping_id, values in zip(ids, self._values, strict=True)
        ]
        self._values = []
        return stored

    def _insert_sqlite(self) -> list[int]:
        """On SQLite, ``INSERT ... RETURNING`` in parameter order runs one statement a row
        (SQLAlchemy cannot rely on the order of SQLite's RETURNING rows). Instead: one
        executemany, then the ids above the highest before it, in order. They are exactly this
        batch's: a rowid table gives each new row an id above every other, and no other
        connection inserts in between (from the first insert this transaction holds the write
        lock; a commit by another between the ``max`` and that insert makes it fail with
        ``SQLITE_BUSY_SNAPSHOT`` rather than write)."""
        before = last_ping_id(self._conn)
        executemany(self._conn, _INSERT, self._values)
        return list(self._conn.scalars(_IDS_AFTER, {"after": before}))


# ``_last_run_event`` for many runs at once: ``:keys`` is a JSON array of [check_id, rid]
# pairs; a row per run that has an event, ``n`` its index. Each lookup is the same indexed
# (check_id, rid, id) probe as ``_last_run_event``'s (SQLite's ``IS`` matches NULL to NULL).
_IN_COMPLETIONS = ", ".join(f"'{kind}'" for kind in _COMPLETIONS)
_LAST_RUN_EVENTS_SQLITE = sa.text(
    f"""
    SELECT k.key AS n, p.kind AS kind, p.received_at AS received_at
    FROM json_each(:keys) AS k
    JOIN ping AS p ON p.id = (
        SELECT r.id FROM ping AS r
        WHERE r.check_id = json_extract(k.value, '$[0]')
          AND r.rid IS json_extract(k.value, '$[1]')
          AND r.kind IN ({", ".join(f"'{kind}'" for kind in _RUN_EVENTS)})
        ORDER BY r.id DESC
        LIMIT 1
    )
    """
).columns(n=sa.Integer(), kind=sa.String(), received_at=UTCDateTime())

# ``tracked_facts`` for many checks at once: ``:ids`` is a JSON array of check ids, a row for
# each (``n`` its index). The same indexed probes as ``tracked_facts``'s three queries.
_TRACKED_FACTS_SQLITE = sa.text(
    f"""
    SELECT k.key AS n, c.received_at AS last_at, c.kind AS last_kind, c.exit_status AS last_exit,
        s.received_at AS start_at, s.rid AS start_rid,
        s.id IS NOT NULL AND EXISTS (
            SELECT 1 FROM ping AS x
            WHERE x.check_id = k.value AND x.id > s.id AND x.kind IN ({_IN_COMPLETIONS})
              AND (x.rid IS s.rid OR x.kind = '{PingKind.FAIL.value}' OR x.rid IS NULL)
        ) AS closed
    FROM json_each(:ids) AS k
    LEFT JOIN ping AS c ON c.id = (
        SELECT r.id FROM ping AS r
        WHERE r.check_id = k.value AND r.kind IN ({_IN_COMPLETIONS})
        ORDER BY r.id DESC LIMIT 1
    )
    LEFT JOIN ping AS s ON s.id = (
        SELECT r.id FROM ping AS r
        WHERE r.check_id = k.value AND r.kind = '{PingKind.START.value}'
        ORDER BY r.id DESC LIMIT 1
    )
    """
).columns(
    n=sa.Integer(),
    last_at=UTCDateTime(),
    last_kind=sa.String(),
    last_exit=sa.Integer(),
    start_at=UTCDateTime(),
    start_rid=sa.String(),
    closed=sa.Boolean(),
)

_INSERT_RETURNING_ID = ping.insert().returning(ping.c.id, sort_by_parameter_order=True)
_INSERT = ping.insert()
_IDS_AFTER = sa.select(ping.c.id).where(ping.c.id > sa.bindparam("after")).order_by(ping.c.id)


@dataclass(slots=True)
class TrackedFacts:
    """``HeartbeatFacts`` kept up to date ping by ping (``add``, in id order), with the open
    start's run id: what ``heartbeat_facts`` would read back after those pings."""

    last_ping_at: datetime | None
    last_ping_failed: bool
    exit_status: int | None
    start_at: datetime | None
    start_rid: str | None

    def add(
        self, kind: PingKind, *, at: datetime, rid: str | None, exit_status: int | None
    ) -> None:
        if kind is PingKind.START:
            self.start_at, self.start_rid = at, rid
        elif kind in (PingKind.SUCCESS, PingKind.FAIL):
            self.last_ping_at, self.last_ping_failed = at, kind is PingKind.FAIL
            self.exit_status = exit_status
            # ``_open_start``'s rule: same run id (none matching none), a failure, or no run id.
            if self.start_at is not None and (
                rid == self.start_rid or kind is PingKind.FAIL or rid is None
            ):
                self.start_at = self.start_rid = None

    def facts(self) -> HeartbeatFacts:
        return HeartbeatFacts(
            last_ping_at=self.last_ping_at,
            last_ping_failed=self.last_ping_failed,
            last_start_at=self.start_at,
            exit_status=self.exit_status,
        )


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
    # A constant statement: each group of pings asks, and building it cost more than running it.
    top = conn.execute(_LAST_ID).scalar_one()
    return 0 if top is None else int(top)


_LAST_ID = sa.select(sa.func.max(ping.c.id))


def pings_between(conn: Connection, *, after_id: int, up_to: int) -> list[Any]:
    """The pings with an id above ``after_id`` and at most ``up_to``, oldest first: rows of
    check_id, kind, rid, received_at and exit_status (what ``TrackedFacts.add`` takes)."""
    p = ping.c
    query = (
        sa.select(p.check_id, p.kind, p.rid, p.received_at, p.exit_status)
        .where(p.id > after_id, p.id <= up_to)
        .order_by(p.id)
    )
    return list(conn.execute(query))


def heartbeat_facts(conn: Connection, *, check_id: str) -> HeartbeatFacts:
    """What the stored pings say about ``check_id``: last completion and any open start."""
    return tracked_facts(conn, check_id=check_id).facts()


def tracked_facts(conn: Connection, *, check_id: str) -> TrackedFacts:
    """``heartbeat_facts``, to be kept up to date with ``TrackedFacts.add``."""
    last = conn.execute(
        sa.select(ping.c.received_at, ping.c.kind, ping.c.exit_status)
        .where(ping.c.check_id == check_id, ping.c.kind.in_(_COMPLETIONS))
        .order_by(ping.c.id.desc())
        .limit(1)
    ).first()
    start_at, start_rid = _open_start(conn, check_id=check_id)
    return TrackedFacts(
        last_ping_at=last.received_at if last is not None else None,
        last_ping_failed=last is not None and last.kind == PingKind.FAIL.value,
        exit_status=last.exit_status if last is not None else None,
        start_at=start_at,
        start_rid=start_rid,
    )


def _same_rid(rid: str | None) -> sa.ColumnElement[bool]:
    # A run without an id is a run of its own: it pairs only with events that have none either.
    return ping.c.rid.is_(None) if rid is None else ping.c.rid == rid


def _last_run_event(
    conn: Connection, *, check_id: str, rid: str | None
) -> tuple[str, datetime] | None:
    """The kind and time of the run's latest start, success or fail (run id ``rid``, none
    matching none), or None.

    A completion's duration runs from this event when it is a start within ``MAX_RUN``, as
    healthchecks.io's ``Ping.duration`` does.
    https://github.com/healthchecks/healthchecks/blob/master/hc/api/models.py (Ping.duration)
    """
    before = conn.execute(
        sa.select(ping.c.kind, ping.c.received_at)
        .where(ping.c.check_id == check_id, _same_rid(rid), ping.c.kind.in_(_RUN_EVENTS))
        .order_by(ping.c.id.desc())
        .limit(1)
    ).first()
    if before is None:
        return None
    return str(before.kind), before.received_at


def _open_start(conn: Connection, *, check_id: str) -> tuple[datetime | None, str | None]:
    """The check's latest start and its run id, unless a later completion ended the running
    state (then ``(None, None)``).

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
        return None, None
    ends = sa.or_(_same_rid(start.rid), ping.c.kind == PingKind.FAIL.value, ping.c.rid.is_(None))
    closing = sa.select(ping.c.id).where(
        ping.c.check_id == check_id,
        ping.c.id > start.id,
        ping.c.kind.in_(_COMPLETIONS),
        ends,
    )
    if conn.execute(closing.limit(1)).first() is not None:
        return None, None
    received_at: datetime = start.received_at
    return received_at, start.rid


def _to_ping(row: Mapping[str, object]) -> Ping:
    return Ping(**{**row, "kind": PingKind(str(row["kind"]))})  # type: ignore[arg-type]
