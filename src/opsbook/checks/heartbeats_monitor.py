"""Turns stored pings into ``ProbeResult``s, so heartbeat checks flow like every polled check."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from opsbook.checks.heartbeats import STATE_BY_STATUS, PingKind, next_transition_at, verdict
from opsbook.checks.models import Check, ProbeResult, State
from opsbook.checks.pings import Ping, heartbeat_facts, last_ping_id, pings_after
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config.checks import HeartbeatSpec
from opsbook.tasks import finish_then_cancel


class HeartbeatMonitor:
    """Watches heartbeat checks; ``tick()`` returns the results to record since the last tick.

    1. Every completion ping (success, fail, exit status) received since the last tick becomes
       one result: up or down, latency = the run's duration when a start paired with it, else 0.
    2. Then each check's status is computed at ``clock.now()``; where its state differs from
       the last one reported (by a ping or a change), one more result reports the change:
       late -> degraded, down -> down, back -> up. A new check (never pinged) reports nothing.

    Pings received before the first tick are not replayed: a restart does not repeat history.
    ``next_wakeup_at`` says when the next time-driven change is due, for callers that sleep.
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
        self._cursor: int | None = None
        self._states: dict[str, State] = {}
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
        with self._engine.connect() as conn:
            if self._cursor is None:
                self._cursor = last_ping_id(conn)
            for received in pings_after(conn, after_id=self._cursor):
                self._cursor = received.id
                if received.check_id in self._specs:
                    result = _ping_result(received)
                    self._states[received.check_id] = result.state
                    results.append(result)
            for check_id, spec in self._specs.items():
                facts = heartbeat_facts(conn, check_id=check_id)
                found = verdict(spec, facts, now=now, timezone=self._timezone)
                state = STATE_BY_STATUS[found.status]
                if state is not None and state != self._states.get(check_id):
                    self._states[check_id] = state
                    results.append(
                        ProbeResult(
                            check_id=check_id,
                            started_at=now,
                            state=state,
                            latency_ms=0.0,
                            error=found.reason,
                            values={"status": found.status.value},
                        )
                    )
                due = next_transition_at(spec, facts, now=now, timezone=self._timezone)
                if due is not None:
                    wakeups.append(due)
        self.next_wakeup_at = min(wakeups) if wakeups else None
        return results


def _ping_result(received: Ping) -> ProbeResult:
    failed = received.kind == PingKind.FAIL
    if not failed:
        error = None
    elif received.exit_status:
        error = f"the run exited with status {received.exit_status}"
    else:
        error = "the run reported failure (/fail)"
    duration_ms = received.duration_ms or 0.0
    values: dict[str, float | int | str | bool | None] = {"status": "down" if failed else "up"}
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
