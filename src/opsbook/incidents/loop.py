"""The server's incidents task: every ``alerting.evaluate_every``, or at once when woken, one
pass of ``sync_alerts`` + ``react`` + ``run_escalations`` in one transaction, so an
auto-declared incident's first page commits with its declaration. The server wakes it when a
paging alert starts firing (the alert engine's ``on_page``, an ingest that opens one) and after
incident writes; the interval is for timers (escalation waits, ``escalate_after``).

The store work is blocking SQLAlchemy, so each pass runs in a thread; a pass that raises ends the
task and the web runner restarts it with backoff (the runner is the supervisor, R13).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.engine import Engine

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.incidents.autodeclare import sync_alerts
from opsbook.incidents.escalation import escalate_unmitigated, run_escalations
from opsbook.incidents.models import EmitIncident
from opsbook.incidents.reactions import react
from opsbook.store.group_commit import begin_immediate
from opsbook.tasks import TaskFailures, finish_then_cancel, set_from_any_thread

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PassReport:
    declared: list[int]
    notices: int


def run_pass(
    engine: Engine,
    *,
    config: Config,
    emit: EmitIncident,
    now: datetime,
    failures: TaskFailures | None = None,
) -> PassReport:
    """One pass in its own transaction: declare, react to events, page what is due. An alert
    that cannot be handled is rolled back alone and counted in ``failures``."""
    with engine.begin() as conn:
        # SQLite: the write lock now. Each alert and escalation runs in a SAVEPOINT, which
        # starts a deferred transaction; reading first and writing after another writer's
        # commit then fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no
        # busy_timeout wait), and the page waited for the next pass (bench/detection.py:
        # pages 10-17 s late, one not within 30 s).
        begin_immediate(conn)
        declared = sync_alerts(conn, config=config, now=now, failures=failures)
        queued = react(conn, config=config, emit=emit, now=now, failures=failures)
        queued += run_escalations(conn, config=config, emit=emit, now=now, failures=failures)
        queued += escalate_unmitigated(conn, config=config, emit=emit, now=now, failures=failures)
    if declared:
        log.info("incidents_declared", incident_ids=declared)
    return PassReport(declared=declared, notices=queued)


class IncidentsTask:
    """The loop, with ``wake()`` for whoever wants a pass now rather than at the next interval:
    a paging alert that started firing (its incident and first page), an acknowledge, an
    update. ``after_commit`` runs after a pass that queued notices (to wake the deliverer).
    ``failures`` counts the alerts a pass could not handle; ``on_pass(None)`` is called after
    each good pass (a failed one raises to the runner, which counts it)."""

    def __init__(
        self,
        engine: Engine,
        *,
        config: Config,
        emit: EmitIncident,
        after_commit: Callable[[], None] = lambda: None,
        clock: Clock = SYSTEM_CLOCK,
        failures: TaskFailures | None = None,
        on_pass: Callable[[BaseException | None], None] = lambda _exc: None,
    ) -> None:
        self._engine = engine
        self._failures = failures
        self._on_pass = on_pass
        self._config = config
        self._emit = emit
        self._after_commit = after_commit
        self._clock = clock
        # One pass at a time per process: a wake during a pass asks for one more, not a second.
        self._lock = threading.Lock()
        self._woken = False
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run_once(self, now: datetime) -> PassReport:
        with self._lock:
            report = run_pass(
                self._engine,
                config=self._config,
                emit=self._emit,
                now=now,
                failures=self._failures,
            )
        if report.notices:
            self._after_commit()
        return report

    def wake(self) -> None:
        """Ask for a pass now; safe to call from any thread, and before the loop runs."""
        self._woken = True
        set_from_any_thread(self._loop, self._event)

    async def run(self) -> None:
        """A pass now (timers may have run out while opsbook was stopped), then one every
        ``alerting.evaluate_every`` or when woken, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        every = self._config.alerting.evaluate_every.total_seconds()
        try:
            while True:
                self._woken = False
                self._event.clear()
                # A shutdown waits for the pass: its thread holds a connection of the engine.
                await finish_then_cancel(asyncio.to_thread(self.run_once, self._clock.now()))
                # A good pass after failed ones: the server's /ready is green again at once.
                self._on_pass(None)
                if not self._woken:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._event.wait(), timeout=every)
        finally:
            self._loop = None


async def incidents_loop(
    engine: Engine,
    *,
    config: Config,
    emit: EmitIncident,
    after_commit: Callable[[], None] = lambda: None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """``IncidentsTask(...).run()`` for callers that need no ``wake``."""
    task = IncidentsTask(engine, config=config, emit=emit, after_commit=after_commit, clock=clock)
    await task.run()
