"""Turns pings and the passing of time into ``ProbeResult``s, so heartbeat checks flow like every
polled check.

A ping changes its check's state in the transaction that stores it (``accept_ping``), so the
state an API reader sees after the ``200`` already includes the ping, as on healthchecks.io.
The monitor only reports what time alone changes: late, and down when a deadline passes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
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
from opsbook.checks.pings import Ping, PingIn, heartbeat_facts, record_ping
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

    1. Pings of one check are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite:
       the insert takes the store's write lock, so the state is read and written under it).
    2. The ping is inserted, with its run's duration.
    3. A success or failure becomes one result: up or down, latency = the run's duration when a
       start of the same run preceded it, else 0. A start becomes a result only when it changes
       the state (a late check that starts is up again). Logs and ignored pings change nothing.
    4. The results go into ``check_result``, the rollups and ``check_state`` (``record_results``).

    Returns the stored ping and the results, for the caller to hand to the alert engine after
    the commit.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(ping_in.check_id))))
    received = record_ping(conn, ping_in=ping_in, at=at)
    results: list[ProbeResult] = []
    if received.kind in (PingKind.SUCCESS, PingKind.FAIL):
        results.append(_ping_result(received))
    elif received.kind is PingKind.START:
        facts = heartbeat_facts(conn, check_id=received.check_id)
        found = verdict(spec, facts, now=at, timezone=timezone)
        stored = {s.check_id: s.state for s in current_states(conn, check_ids=[received.check_id])}
        change = _change(received.check_id, found, at=at, stored=stored.get(received.check_id))
        if change is not None:
            results.append(change)
    record_results(conn, results=results, intervals={received.check_id: interval})
    return received, results


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
            for check_id, spec in self._specs.items():
                facts = heartbeat_facts(conn, check_id=check_id)
                found = verdict(spec, facts, now=now, timezone=self._timezone)
                change = _change(check_id, found, at=now, stored=stored.get(check_id))
                if change is not None:
                    results.append(change)
                due = next_transition_at(spec, facts, now=now, timezone=self._timezone)
                if due is not None:
                    wakeups.append(due)
        self.next_wakeup_at = min(wakeups) if wakeups else None
        return results


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


def _ping_result(received: Ping) -> ProbeResult:
    failed = received.kind == PingKind.FAIL
    if not failed:
        error = None
    elif received.exit_status:
        error = f"the run exited with status {received.exit_status}"
    else:
        error = "the run reported failure (/fail)"
    duration_ms = received.duration_ms or 0.0
    status = HeartbeatStatus.DOWN if failed else HeartbeatStatus.UP
    values: dict[str, float | int | str | bool | None] = {"status": status.value}
    if received.exit_status is not None:
        values["exit_status"] = received.exit_status
    return ProbeResult(
        check_id=received.check_id,
        started_at=received.received_at,
        state=State.DOWN if failed else State.UP,
        latency_ms=duration_ms,
        error=error,
        values=values,
    )


def _lock_key(check_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; a stable hash of the id serialises
    # one check's pings without blocking any other check's.
    digest = hashlib.blake2b(check_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
