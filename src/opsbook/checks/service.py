"""Reading and writing check results. Synchronous SQLAlchemy Core; callers on the event loop use
``asyncio.to_thread``. Every function takes the connection (and its transaction) from the caller.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from opsbook.checks import rollups
from opsbook.checks.executemany import executemany
from opsbook.checks.models import Check, ProbeResult, State, Value
from opsbook.checks.tables import check_result, check_rollup, check_state, opsbook_run
from opsbook.clock import SYSTEM_CLOCK, Clock

# SQLite allows 32766 bound parameters per statement; a rollup row binds 12.
_ROLLUP_CHUNK = 1000


@dataclass(frozen=True)
class CheckStatus:
    """The latest result of one check, from ``check_state`` (rebuilt from results if missing)."""

    check_id: str
    state: State
    changed_at: datetime
    last_result_at: datetime
    last_latency_ms: float | None
    last_error: str | None


@dataclass(frozen=True)
class StoredResult:
    id: int
    check_id: str
    started_at: datetime
    state: State
    latency_ms: float | None
    status: int | None
    error: str | None
    failed_conditions: tuple[str, ...]
    values: Mapping[str, Value]
    timings_ms: Mapping[str, float]
    is_change: bool


def _insert(conn: Connection, table: sa.Table) -> Any:
    return _insert_for(conn.dialect.name, table)


def _insert_for(dialect_name: str, table: sa.Table) -> Any:
    # Both dialects spell upserts the same way (INSERT ... ON CONFLICT DO UPDATE).
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect_name} dialect")


def record_results(
    conn: Connection,
    *,
    results: Sequence[ProbeResult],
    intervals: Mapping[str, timedelta],
) -> None:
    """Store ``results`` and fold them into rollups and ``check_state``, in ``conn``'s transaction.

    1. For each check, results are taken in time order against its current state, which marks
       failures and state changes (``is_change``) and says how much time each result covers
       (``rollups.covered_seconds``; ``intervals`` gives each check's ``every``, default 30 s).
    2. The raw rows go in with one executemany insert.
    3. Minute, hour and day rollups are upserted: counts, times and histograms add up in SQL
       (``_upsert_rollups``), so no rollup row is read and the cost does not grow with history.
    4. ``check_state`` is upserted to each check's last result.
    """
    if not results:
        return
    ordered = sorted(results, key=lambda r: (r.check_id, r.started_at))
    check_ids = sorted({r.check_id for r in ordered})
    states = {s.check_id: s for s in current_states(conn, check_ids=check_ids)}
    rows: list[dict[str, object]] = []
    deltas: dict[tuple[str, str, datetime], rollups.RollupDelta] = {}
    new_states: dict[str, dict[str, object]] = {}
    for result in ordered:
        before = states.get(result.check_id)
        is_change = before is None or before.state != result.state
        covered = rollups.covered_seconds(
            started_at=result.started_at,
            previous_at=before.last_result_at if before else None,
            every=intervals.get(result.check_id, timedelta(seconds=30)),
        )
        rows.append(_result_row(result, is_change=is_change or result.state is not State.UP))
        for resolution in rollups.RESOLUTION_STEP:
            key = (result.check_id, resolution, rollups.bucket_start(result.started_at, resolution))
            deltas.setdefault(key, rollups.RollupDelta()).add(
                state=result.state, latency_ms=result.latency_ms, covered_s=covered
            )
        changed_at = result.started_at if is_change or before is None else before.changed_at
        states[result.check_id] = CheckStatus(
            check_id=result.check_id,
            state=result.state,
            changed_at=changed_at,
            last_result_at=result.started_at,
            last_latency_ms=result.latency_ms,
            last_error=result.error,
        )
        new_states[result.check_id] = {
            "check_id": result.check_id,
            "state": result.state.value,
            "changed_at": changed_at,
            "last_result_at": result.started_at,
            "last_latency_ms": result.latency_ms,
            "last_error": result.error,
        }
    executemany(conn, _INSERT_RESULT, rows)
    _upsert_rollups(conn, deltas)
    executemany(conn, _state_upsert(conn.dialect.name), list(new_states.values()))


_INSERT_RESULT = check_result.insert()


@functools.cache
def _state_upsert(dialect_name: str) -> Any:
    stmt = _insert_for(dialect_name, check_state)
    columns = ("state", "changed_at", "last_result_at", "last_latency_ms", "last_error")
    return stmt.on_conflict_do_update(
        index_elements=[check_state.c.check_id], set_={c: stmt.excluded[c] for c in columns}
    )


def _result_row(result: ProbeResult, *, is_change: bool) -> dict[str, object]:
    return {
        "check_id": result.check_id,
        "started_at": result.started_at,
        "state": result.state.value,
        "latency_ms": result.latency_ms,
        "status": result.status,
        "error": result.error,
        "failed_conditions": list(result.failed_conditions),
        "values": dict(result.values),
        "timings": dict(result.timings_ms),
        "is_change": is_change,
    }


def _upsert_rollups(
    conn: Connection, deltas: Mapping[tuple[str, str, datetime], rollups.RollupDelta]
) -> None:
    """Add ``deltas`` to their rollup rows without reading them: the store adds counts, times
    and histograms itself (``INSERT ... ON CONFLICT DO UPDATE``), one primary-key probe a row.

    Reading the rows first cost a full scan of ``check_rollup`` per flush on SQLite, which
    keeps 14 days of minute rows for every check, so each probe cost more as history grew
    (issue 10). Merging in the store is also cheaper than a primary-key read and a merge in
    Python: about 105 against 130 us per result on SQLite (docs/benchmarks.md).
    """
    values = [
        {
            "check_id": key[0],
            "resolution": key[1],
            "bucket_start": key[2],
            "n_up": delta.n_up,
            "n_degraded": delta.n_degraded,
            "n_down": delta.n_down,
            "up_seconds": delta.up_seconds,
            "degraded_seconds": delta.degraded_seconds,
            "down_seconds": delta.down_seconds,
            "histogram": rollups.to_json(delta.histogram or {}),
            "latency_sum_ms": delta.latency_sum_ms,
            "latency_max_ms": delta.latency_max_ms,
        }
        for key, delta in deltas.items()
    ]
    upsert = _rollup_upsert(conn.dialect.name)
    for i in range(0, len(values), _ROLLUP_CHUNK):
        executemany(conn, upsert, values[i : i + _ROLLUP_CHUNK])


@functools.cache
def _rollup_upsert(dialect_name: str) -> Any:
    t = check_rollup
    stmt = _insert_for(dialect_name, t)
    x = stmt.excluded
    additive = ("n_up", "n_degraded", "n_down", "up_seconds", "degraded_seconds", "down_seconds")
    set_: dict[str, object] = {c: t.c[c] + x[c] for c in (*additive, "latency_sum_ms")}
    set_["histogram"] = _MERGED_HISTOGRAM[dialect_name]
    set_["latency_max_ms"] = sa.case(
        (x.latency_max_ms > t.c.latency_max_ms, x.latency_max_ms), else_=t.c.latency_max_ms
    )
    return stmt.on_conflict_do_update(
        index_elements=[t.c.check_id, t.c.resolution, t.c.bucket_start], set_=set_
    )


# The stored histogram plus the incoming one, key by key (``rollups.merge`` in SQL), for the
# DO UPDATE of ``_upsert_rollups``. Both sides are objects of {bucket index: count}.
_MERGED_HISTOGRAM: dict[str, sa.ColumnElement[Any]] = {
    # Only the incoming buckets (a group adds one or two a row) are walked: each becomes its
    # sum with the stored count, patched into the stored object. Walking both sides and
    # grouping them cost ~10 % of a ping writer's CPU (issue 15), and grew with the stored size.
    "sqlite": sa.literal_column(
        "json_patch(check_rollup.histogram, (SELECT json_group_object(i.key, i.value + "
        "coalesce(json_extract(check_rollup.histogram, '$.\"' || i.key || '\"'), 0)) "
        "FROM json_each(excluded.histogram) AS i))"
    ),
    "postgresql": sa.literal_column(
        "(SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM ("
        "SELECT key, sum(value::bigint) AS total FROM ("
        "SELECT key, value FROM jsonb_each_text(check_rollup.histogram) UNION ALL "
        "SELECT key, value FROM jsonb_each_text(excluded.histogram)) AS side GROUP BY key"
        ") AS summed)"
    ),
}


def current_states(
    conn: Connection, *, check_ids: Iterable[str] | None = None
) -> list[CheckStatus]:
    """The latest state of each check that has results (all checks when ``check_ids`` is None).

    ``check_state`` is a cache (R20): a check with results but no row there is rebuilt from
    ``check_result`` and the row is written back.
    """
    wanted = None if check_ids is None else list(check_ids)
    if wanted is None:
        rows = conn.execute(sa.select(check_state))
    else:
        rows = conn.execute(_STATES_OF, {"ids": wanted})
    found = {row.check_id: _status(row) for row in rows}
    missing_query = sa.select(check_result.c.check_id).distinct()
    if wanted is not None:
        # Every flush asks for its checks: when all have a state (the usual case) the results
        # are not looked at, as even an indexed DISTINCT reads each check's whole history.
        missing = [c for c in wanted if c not in found]
        if not missing:
            return [found[k] for k in sorted(found)]
        missing_query = missing_query.where(check_result.c.check_id.in_(missing))
    elif found:
        missing_query = missing_query.where(check_result.c.check_id.not_in(list(found)))
    for check_id in conn.scalars(missing_query).all():
        rebuilt = _rebuild_state(conn, check_id)
        if rebuilt is not None:
            found[check_id] = rebuilt
    return [found[k] for k in sorted(found)]


# A constant statement: each group of pings asks for its checks' states, and a fresh ``in_()``
# list cost a cache-key walk and a compilation lookup per call.
_STATES_OF = sa.select(check_state).where(
    check_state.c.check_id.in_(sa.bindparam("ids", expanding=True))
)


def _status(row: Any) -> CheckStatus:
    return CheckStatus(
        check_id=row.check_id,
        state=State(row.state),
        changed_at=row.changed_at,
        last_result_at=row.last_result_at,
        last_latency_ms=row.last_latency_ms,
        last_error=row.last_error,
    )


def _rebuild_state(conn: Connection, check_id: str) -> CheckStatus | None:
    r = check_result.c
    last = conn.execute(
        sa.select(r.state, r.started_at, r.latency_ms, r.error)
        .where(r.check_id == check_id)
        .order_by(r.started_at.desc(), r.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    # The state began just after the last result that had another state.
    other = conn.scalar(
        sa.select(sa.func.max(r.started_at)).where(r.check_id == check_id, r.state != last.state)
    )
    since_query = sa.select(sa.func.min(r.started_at)).where(
        r.check_id == check_id, r.state == last.state
    )
    if other is not None:
        since_query = since_query.where(r.started_at > other)
    changed_at = conn.scalar(since_query) or last.started_at
    status = CheckStatus(
        check_id=check_id,
        state=State(last.state),
        changed_at=changed_at,
        last_result_at=last.started_at,
        last_latency_ms=last.latency_ms,
        last_error=last.error,
    )
    conn.execute(
        check_state.insert().values(
            check_id=check_id,
            state=status.state.value,
            changed_at=changed_at,
            last_result_at=status.last_result_at,
            last_latency_ms=status.last_latency_ms,
            last_error=status.last_error,
        )
    )
    return status


def window(
    conn: Connection, *, check_id: str, start: datetime, end: datetime
) -> rollups.WindowStats:
    """Statistics of ``check_id`` over ``[start, end)``, from rollups (never raw rows)."""
    t = check_rollup
    plan = rollups.window_plan(start, end)
    if not plan:
        return rollups.window_stats([], start=start, end=end)
    # One indexed range scan per segment; an OR of ranges makes SQLite scan the whole check.
    query = sa.union_all(
        *(
            sa.select(t).where(
                t.c.check_id == check_id,
                t.c.resolution == res,
                t.c.bucket_start >= lo,
                t.c.bucket_start < hi,
            )
            for res, lo, hi in plan
        )
    )
    rows = [
        rollups.RollupRow(
            bucket_start=row.bucket_start,
            n_up=row.n_up,
            n_degraded=row.n_degraded,
            n_down=row.n_down,
            up_seconds=row.up_seconds,
            degraded_seconds=row.degraded_seconds,
            down_seconds=row.down_seconds,
            histogram=rollups.from_json(row.histogram),
            latency_sum_ms=row.latency_sum_ms,
            latency_max_ms=row.latency_max_ms,
        )
        for row in conn.execute(query)
    ]
    return rollups.window_stats(rows, start=start, end=end)


def recent_results(
    conn: Connection, *, check_id: str, limit: int, before: int | None = None
) -> list[StoredResult]:
    """Newest first; ``before`` is the ``id`` of the last result of the previous page."""
    r = check_result.c
    query = sa.select(check_result).where(r.check_id == check_id)
    if before is not None:
        query = query.where(r.id < before)
    query = query.order_by(r.id.desc()).limit(limit)
    return [
        StoredResult(
            id=row.id,
            check_id=row.check_id,
            started_at=row.started_at,
            state=State(row.state),
            latency_ms=row.latency_ms,
            status=row.status,
            error=row.error,
            failed_conditions=tuple(row.failed_conditions or ()),
            values=dict(row.values or {}),
            timings_ms=dict(row.timings or {}),
            is_change=row.is_change,
        )
        for row in conn.execute(query)
    ]


def start_run(conn: Connection, *, host: str, pid: int, now: datetime) -> int:
    """Record that this process started watching; returns the run id for ``touch_run``."""
    run_id = conn.execute(
        opsbook_run.insert()
        .values(host=host, pid=pid, started_at=now, last_seen_at=now)
        .returning(opsbook_run.c.id)
    ).scalar_one()
    return int(run_id)


def touch_run(conn: Connection, *, run_id: int, now: datetime, stopped: bool = False) -> None:
    values: dict[str, datetime] = {"last_seen_at": now}
    if stopped:
        values["stopped_at"] = now
    conn.execute(opsbook_run.update().where(opsbook_run.c.id == run_id).values(**values))


def running_seconds(conn: Connection, *, start: datetime, end: datetime) -> float:
    """How long any opsbook process was watching during ``[start, end)``, from ``opsbook_run``."""
    t = opsbook_run.c
    rows = conn.execute(
        sa.select(t.started_at, t.last_seen_at)
        .where(t.started_at < end, t.last_seen_at > start)
        .order_by(t.started_at)
    ).all()
    total = 0.0
    cursor = start
    for row in rows:
        lo = max(row.started_at, cursor)
        hi = min(row.last_seen_at, end)
        if hi > lo:
            total += (hi - lo).total_seconds()
            cursor = hi
    return total


class StoreSink:
    """The scheduler's sink: one transaction per batch, and this process's ``opsbook_run`` row."""

    def __init__(
        self,
        engine: Engine,
        *,
        checks: Sequence[Check],
        clock: Clock = SYSTEM_CLOCK,
        after_write: Callable[[Sequence[ProbeResult]], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._after_write = after_write
        self._intervals = {c.id: c.spec.every for c in checks}
        self._run_id: int | None = None

    async def write(self, results: Sequence[ProbeResult]) -> None:
        await asyncio.to_thread(self._write, results)
        # Committed first: whatever runs next (alert evaluation) reads these results back.
        if self._after_write is not None:
            await self._after_write(results)

    def _write(self, results: Sequence[ProbeResult]) -> None:
        with self._engine.begin() as conn:
            record_results(conn, results=results, intervals=self._intervals)

    async def alive(self, *, stopping: bool = False) -> None:
        await asyncio.to_thread(self._alive, stopping)

    def _alive(self, stopping: bool) -> None:
        now = self._clock.now()
        with self._engine.begin() as conn:
            if self._run_id is None:
                self._run_id = start_run(conn, host=socket.gethostname(), pid=os.getpid(), now=now)
            else:
                touch_run(conn, run_id=self._run_id, now=now, stopped=stopping)
