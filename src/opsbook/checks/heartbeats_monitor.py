"""Turns pings and the passing of time into ``ProbeResult``s, so heartbeat checks flow like every
polled check.

A ping changes its check's state in the transaction that stores it (``accept_ping``), so the
state an API reader sees after the ``200`` already includes the ping, as on healthchecks.io.
The monitor only reports what time alone changes: late, and down when a deadline passes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.checks.heartbeats import (
    STATE_BY_STATUS,
    HeartbeatStatus,
    PingKind,
    Verdict,
    next_transition_at,
    verdict,
)
from opsbook.checks.models import Check, ProbeResult, State
from opsbook.checks.pings import (
    Ping,
    PingBatch,
    PingIn,
    TrackedFacts,
    last_ping_id,
    pings_between,
    tracked_facts,
)
from opsbook.checks.service import current_states, record_results
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config.checks import HeartbeatSpec
from opsbook.tasks import finish_then_cancel


def accept_ping(
    conn: Connection,
    *,
    ping_in: PingIn,
    at: datetime,
    spec: HeartbeatSpec,
    interval: timedelta,
    timezone: str,
) -> tuple[Ping, list[ProbeResult]]:
    """Store a ping and the results it causes, in ``conn``'s transaction; the caller commits.

    ``accept_pings`` with one ping. Returns the stored ping and the results, for the caller to
    hand to the alert engine after the commit.
    """
    [accepted] = accept_pings(
        conn,
        [(ping_in, at)],
        specs={ping_in.check_id: spec},
        intervals={ping_in.check_id: interval},
        timezone=timezone,
    )
    return accepted


def accept_pings(
    conn: Connection,
    pings: Sequence[tuple[PingIn, datetime]],
    *,
    specs: Mapping[str, HeartbeatSpec],
    intervals: Mapping[str, timedelta],
    timezone: str,
) -> list[tuple[Ping, list[ProbeResult]]]:
    """Store pings and the results they cause, in ``conn``'s transaction, each as if it had
    been accepted alone in order; the caller commits.

    1. Pings of one check are serialised (PostgreSQL: a transaction-scoped advisory lock per
       check, taken in id order; SQLite: the caller holds the store's write lock, so the state
       is read and written under it).
    2. The pings are inserted (one insert), each with its run's duration (``PingBatch``).
    3. A success or failure becomes one result: up or down, latency = the run's duration when a
       start of the same run preceded it, else 0. A start becomes a result only when it changes
       the state (a late check that starts is up again). Logs and ignored pings change nothing.
    4. The results go into ``check_result``, the rollups and ``check_state`` (one
       ``record_results``, which takes each check's results in time order).

    Returns each ping, stored, with the results it caused, in the order given.
    """
    check_ids = sorted({p.check_id for p, _ in pings})
    if conn.dialect.name == "postgresql":
        for check_id in check_ids:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(check_id))))
    starting = {p.check_id for p, _ in pings if p.kind is PingKind.START}
    batch = PingBatch(conn, facts_for=starting)
    batch.prefetch(p for p, _ in pings)
    # What check_state says, kept up to date with the results decided so far.
    stored: dict[str, State] = {}
    if starting:
        stored = {s.check_id: s.state for s in current_states(conn, check_ids=sorted(starting))}
    caused: list[list[ProbeResult]] = []
    for ping_in, at in pings:
        batch.add(ping_in, at)
        results: list[ProbeResult] = []
        if ping_in.kind in (PingKind.SUCCESS, PingKind.FAIL):
            results.append(_completion_result(ping_in, at, batch.last_duration_ms))
        elif ping_in.kind is PingKind.START:
            found = verdict(
                specs[ping_in.check_id], batch.facts(ping_in.check_id), now=at, timezone=timezone
            )
            change = _change(ping_in.check_id, found, at=at, stored=stored.get(ping_in.check_id))
            if change is not None:
                results.append(change)
        for result in results:
            stored[result.check_id] = result.state
        caused.append(results)
    received = batch.insert()
    record_results(
        conn,
        results=[r for results in caused for r in results],
        intervals={c: intervals[c] for c in check_ids if c in intervals},
    )
    return list(zip(received, caused, strict=True))


class HeartbeatMonitor:
    """Watches heartbeat checks; ``tick()`` returns the state changes that time alone caused.

    Each check's status is computed at ``clock.now()`` from its stored pings and compared with
    its stored state; where they differ, one result reports the change: late -> degraded,
    down -> down, and up again if the store still says otherwise. A new check (never pinged)
    reports nothing. Pings report themselves (``accept_ping``), so nothing here is counted twice,
    and a restart repeats nothing that is stored.

    A ping that lands between a tick and the write of that tick's result is written first; the
    tick's result (a deadline that really passed) then follows it, and the next tick sees the
    stored state differ from the pings and reports the recovery. ``next_wakeup_at`` says when
    the next time-driven change is due, for callers that sleep.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        *,
        engine: Engine,
        clock: Clock = SYSTEM_CLOCK,
        timezone: str = "UTC",
    ) -> None:
        self._specs: dict[str, HeartbeatSpec] = {
            c.id: c.spec.heartbeat for c in checks if c.spec.heartbeat is not None
        }
        self._engine = engine
        self._clock = clock
        self._timezone = timezone
        self.next_wakeup_at: datetime | None = None
        # On SQLite, each check's facts as of ping id ``_seen``: a ping's id is taken under the
        # store's write lock, so ids are committed in order and a tick reads only the pings
        # above ``_seen``. PostgreSQL's ids may commit out of order: every tick reads every
        # check's facts there.
        self._facts: dict[str, TrackedFacts] = {}
        self._seen: int | None = None

    async def tick(self) -> list[ProbeResult]:
        """``tick_sync`` in a worker thread. Cancelling waits for the thread to finish.

        A thread cannot be interrupted; returning early would leave it holding a pooled
        connection while the caller shuts down and disposes of the engine.
        """
        return await finish_then_cancel(asyncio.to_thread(self.tick_sync))

    def tick_sync(self) -> list[ProbeResult]:
        """``tick`` on the calling thread; it reads the store."""
        results: list[ProbeResult] = []
        now = self._clock.now()
        wakeups: list[datetime] = []
        if not self._specs:
            return results
        # begin(): current_states may write back a check_state row it had to rebuild.
        with self._engine.begin() as conn:
            stored = {s.check_id: s.state for s in current_states(conn, check_ids=self._specs)}
            self._refresh_facts(conn)
            for check_id, spec in self._specs.items():
                facts = self._facts[check_id].facts()
                found = verdict(spec, facts, now=now, timezone=self._timezone)
                change = _change(check_id, found, at=now, stored=stored.get(check_id))
                if change is not None:
                    results.append(change)
                due = next_transition_at(spec, facts, now=now, timezone=self._timezone)
                if due is not None:
                    wakeups.append(due)
        self.next_wakeup_at = min(wakeups) if wakeups else None
        return results

    def _refresh_facts(self, conn: Connection) -> None:
        """Bring ``_facts`` up to date: on SQLite, the pings stored since the last tick, folded
        in (one indexed range read of ``ping``); on PostgreSQL or at the first tick, every
        check's facts read again."""
        if conn.dialect.name != "sqlite":
            self._facts = {c: tracked_facts(conn, check_id=c) for c in self._specs}
            return
        # The top id first: a ping committed after it has a higher id, seen next tick.
        top = last_ping_id(conn)
        if self._seen is None:
            self._facts = {c: tracked_facts(conn, check_id=c) for c in self._specs}
        else:
            for row in pings_between(conn, after_id=self._seen, up_to=top):
                tracked = self._facts.get(row.check_id)
                if tracked is not None:
                    tracked.add(
                        PingKind(row.kind),
                        at=row.received_at,
                        rid=row.rid,
                        exit_status=row.exit_status,
                    )
        self._seen = top


def _change(
    check_id: str, found: Verdict, *, at: datetime, stored: State | None
) -> ProbeResult | None:
    state = STATE_BY_STATUS[found.status]
    if state is None or state == stored:
        return None
    return ProbeResult(
        check_id=check_id,
        started_at=at,
        state=state,
        latency_ms=0.0,
        error=found.reason,
        values={"status": found.status.value},
    )


def _completion_result(ping_in: PingIn, at: datetime, duration_ms: float | None) -> ProbeResult:
    failed = ping_in.kind is PingKind.FAIL
    if not failed:
        error = None
    elif ping_in.exit_status:
        error = f"the run exited with status {ping_in.exit_status}"
    else:
        error = "the run reported failure (/fail)"
    status = HeartbeatStatus.DOWN if failed else HeartbeatStatus.UP
    values: dict[str, float | int | str | bool | None] = {"status": status.value}
    if ping_in.exit_status is not None:
        values["exit_status"] = ping_in.exit_status
    return ProbeResult(
        check_id=ping_in.check_id,
        started_at=at,
        state=State.DOWN if failed else State.UP,
        latency_ms=duration_ms or 0.0,
        error=error,
        values=values,
    )


def _lock_key(check_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; a stable hash of the id serialises
    # one check's pings without blocking any other check's.
    digest = hashlib.blake2b(check_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
