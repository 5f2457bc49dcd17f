"""The routine task in ``opsbook serve``: opens each routine's run at its due time and queues its
reminders, reading and writing the store (the schedule maths is ``routines``).

Exactly once per due time: the ``routine_run`` row for (routine, due time) is inserted in the
transaction that opens the run and queues the "opened" reminders; a second pass, a restarted
server or a second process inserts nothing for the same due time and opens nothing. The
overdue reminder is claimed the same way (``overdue_at`` set where it is null).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.runbooks.models import Registry, Runbook
from opsbook.runbooks.outcome import RunSettings
from opsbook.runbooks.routines import (
    ACTOR,
    Routine,
    RoutineNotice,
    RoutineStatus,
    is_overdue,
    latest_due,
    next_due,
    routines_of,
)
from opsbook.runbooks.run_models import RunState, StepState, Trigger, TriggerKind
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import start_run
from opsbook.runbooks.tables import routine_run, runbook_run, runbook_run_step
from opsbook.tasks import TaskFailures, describe_error

if TYPE_CHECKING:
    from opsbook.alerts.ingest_writes import IngestReport
    from opsbook.runbooks.routine_alerts import RoutineAlerter

log = structlog.get_logger(__name__)

TASK = "routines"
ORIGIN = "runner"
EVERY = timedelta(seconds=20)
DONE_STATES = (StepState.DONE.value, StepState.OK.value)

EmitRoutine = Callable[[Connection, Sequence[RoutineNotice]], None]


@dataclass(frozen=True)
class Opened:
    routine: Routine
    run_id: int
    due_at: datetime


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(routine_run)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(routine_run)
    raise NotImplementedError(f"no upsert for the {conn.dialect.name} dialect")


def open_due(
    conn: Connection, routine: Routine, *, now: datetime, emit: EmitRoutine | None = None
) -> Opened | None:
    """Open the run for ``routine``'s latest due time at or before ``now``, unless one is
    opened for that time (or a later one) already. Returns what it opened, or None. The
    caller commits; the run is ``pending`` until ``execute_run`` takes it."""
    due = latest_due(routine.schedule, routine.timezone, now)
    later = conn.execute(
        sa.select(routine_run.c.due_at)
        .where(routine_run.c.runbook == routine.name, routine_run.c.due_at >= due)
        .limit(1)
    ).first()
    if later is not None:
        return None
    claimed = conn.execute(
        _insert(conn)
        .values(runbook=routine.name, due_at=due, opened_at=now)
        .on_conflict_do_nothing(index_elements=[routine_run.c.runbook, routine_run.c.due_at])
        .returning(routine_run.c.runbook)
    ).first()
    if claimed is None:
        return None  # another process opened it first
    run_id = start_run(
        conn,
        routine.runbook,
        step_ids=None,
        params={},
        trigger=Trigger(TriggerKind.SCHEDULE, routine.name),
        actor=ACTOR,
        now=now,
        origin=ORIGIN,
    )
    conn.execute(
        routine_run.update()
        .where(routine_run.c.runbook == routine.name, routine_run.c.due_at == due)
        .values(run_id=run_id)
    )
    if emit is not None and routine.runbook.channels:
        total = len(routine.runbook.steps)
        emit(conn, _notices(routine, "opened", due, run_id, (0, total), now))
    return Opened(routine, run_id, due)


def remind_overdue(
    conn: Connection, routines: Sequence[Routine], *, now: datetime, emit: EmitRoutine | None
) -> list[int]:
    """Queue the overdue reminder (once) of each open routine run past its grace; returns the
    run ids reminded. Marks them even when the routine names no channel, so the scan stays
    small."""
    by_name = {r.name: r for r in routines}
    if not by_name:
        return []
    rows = conn.execute(
        sa.select(routine_run.c.runbook, routine_run.c.due_at, routine_run.c.run_id)
        .join(runbook_run, runbook_run.c.id == routine_run.c.run_id)
        .where(
            routine_run.c.overdue_at.is_(None),
            routine_run.c.runbook.in_(list(by_name)),
            runbook_run.c.state.in_(
                [RunState.PENDING.value, RunState.RUNNING.value, RunState.WAITING.value]
            ),
        )
    ).all()
    reminded = []
    for row in rows:
        routine = by_name[row.runbook]
        if not is_overdue(due_at=row.due_at, grace=routine.grace, is_ended=False, now=now):
            continue
        claimed = conn.execute(
            routine_run.update()
            .where(
                routine_run.c.runbook == row.runbook,
                routine_run.c.due_at == row.due_at,
                routine_run.c.overdue_at.is_(None),
            )
            .values(overdue_at=now)
        )
        if claimed.rowcount != 1:
            continue
        run_id = int(row.run_id)
        if emit is not None and routine.runbook.channels:
            counts = step_counts(conn, [run_id]).get(run_id, (0, 0))
            emit(conn, _notices(routine, "overdue", row.due_at, run_id, counts, now))
        reminded.append(run_id)
    return reminded


def _notices(
    routine: Routine,
    kind: str,
    due: datetime,
    run_id: int,
    counts: tuple[int, int],
    now: datetime,
) -> list[RoutineNotice]:
    return [
        RoutineNotice(
            kind="opened" if kind == "opened" else "overdue",
            channel=channel,
            routine=routine.name,
            title=routine.runbook.title,
            timezone=routine.timezone,
            due_at=due,
            run_id=run_id,
            steps_done=counts[0],
            steps_total=counts[1],
            at=now,
        )
        for channel in routine.runbook.channels
    ]


def step_counts(conn: Connection, run_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``run_id -> (steps done or ok, steps)``."""
    if not run_ids:
        return {}
    t = runbook_run_step
    done = sa.func.sum(sa.case((t.c.state.in_(DONE_STATES), 1), else_=0))
    rows = conn.execute(
        sa.select(t.c.run_id, done, sa.func.count())
        .where(t.c.run_id.in_(list(run_ids)))
        .group_by(t.c.run_id)
    ).all()
    return {int(r[0]): (int(r[1] or 0), int(r[2])) for r in rows}


def routine_states(
    conn: Connection, registry: Registry, *, timezone: str, now: datetime
) -> list[RoutineStatus]:
    """Each routine's last opened run (by due time), with its progress and whether it is
    overdue at ``now``."""
    out = []
    for routine in routines_of(registry, timezone=timezone):
        base = RoutineStatus(
            routine=routine.name,
            title=routine.runbook.title,
            schedule=routine.schedule,
            timezone=routine.timezone,
            grace=routine.grace,
            next_due_at=next_due(routine.schedule, routine.timezone, now),
        )
        row = conn.execute(
            sa.select(routine_run.c.due_at, routine_run.c.run_id, runbook_run.c.state)
            .join(runbook_run, runbook_run.c.id == routine_run.c.run_id)
            .where(routine_run.c.runbook == routine.name)
            .order_by(routine_run.c.due_at.desc())
            .limit(1)
        ).first()
        if row is None:
            out.append(base)
            continue
        run_id = int(row.run_id)
        done, total = step_counts(conn, [run_id]).get(run_id, (0, 0))
        ended = RunState(row.state).is_ended
        out.append(
            replace(
                base,
                due_at=row.due_at,
                run_id=run_id,
                state=row.state,
                steps_done=done,
                steps_total=total,
                is_overdue=is_overdue(
                    due_at=row.due_at, grace=routine.grace, is_ended=ended, now=now
                ),
            )
        )
    return out


class RoutineTask:
    """Opens due routine runs and queues their reminders: ``run_once`` is one pass (tests drive
    it), ``run`` the server's loop (every ``every``). ``emit`` queues reminders in the pass's
    transaction; ``after_commit`` wakes the deliverer. ``alerter`` (None: no alerts) keeps each
    alerting routine's ``RoutineOverdue`` alert in step with its run, after the reminders. A
    newly opened run is executed at once: its read steps run until the first manual (or write)
    step, which waits for a person."""

    def __init__(
        self,
        engine: Engine,
        *,
        registry: Registry,
        timezone: str = "UTC",
        emit: EmitRoutine | None = None,
        settings: RunSettings,
        clock: Clock = SYSTEM_CLOCK,
        mask: Sequence[str] = (),
        dsns: dict[str, str] | None = None,
        every: timedelta = EVERY,
        after_commit: Callable[[], None] = lambda: None,
        failures: TaskFailures | None = None,
        alerter: RoutineAlerter | None = None,
    ) -> None:
        self._engine = engine
        self._alerter = alerter
        self._routines = routines_of(registry, timezone=timezone)
        self._emit = emit
        self._settings = settings
        self._clock = clock
        self._mask = list(mask)
        self._dsns = dict(dsns or {})
        self._every = every
        self._after_commit = after_commit
        self._failures = failures

    @property
    def routines(self) -> list[Routine]:
        return list(self._routines)

    async def run_once(self) -> list[Opened]:
        """One pass: open every due run (each in its own transaction, so one routine that
        fails is logged and counted and the others go on), queue overdue reminders, then
        execute the runs opened."""
        opened: list[Opened] = []
        for routine in self._routines:
            try:
                found = await asyncio.to_thread(self._open, routine)
            except Exception as exc:
                # One routine that cannot open (a broken row, a store hiccup) must not stop
                # the others; the next pass tries it again.
                log.error("routine_not_opened", routine=routine.name, reason=describe_error(exc))
                if self._failures is not None:
                    self._failures.item_failed(TASK)
                continue
            if found is not None:
                opened.append(found)
                log.info(
                    "routine_opened",
                    routine=routine.name,
                    run_id=found.run_id,
                    due_at=found.due_at.isoformat(),
                )
        reminded = await asyncio.to_thread(self._remind)
        if opened or reminded:
            self._after_commit()
        if self._alerter is not None:
            try:
                report = await asyncio.to_thread(self._sync_alerts, self._alerter)
            except Exception as exc:
                # The alerts are derived from the runs, so the next pass writes what this one
                # could not; the runs opened above still execute.
                log.error("routine_alerts_not_synced", reason=describe_error(exc))
                if self._failures is not None:
                    self._failures.item_failed(TASK)
            else:
                self._alerter.after_commit(report)
        await asyncio.gather(*(self._execute(o.routine.runbook, o.run_id) for o in opened))
        return opened

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self._every.total_seconds())

    def _open(self, routine: Routine) -> Opened | None:
        with self._engine.begin() as conn:
            return open_due(conn, routine, now=self._clock.now(), emit=self._emit)

    def _remind(self) -> list[int]:
        with self._engine.begin() as conn:
            return remind_overdue(conn, self._routines, now=self._clock.now(), emit=self._emit)

    def _sync_alerts(self, alerter: RoutineAlerter) -> IngestReport:
        with self._engine.begin() as conn:
            return alerter.sync(conn, self._routines, now=self._clock.now())

    async def _execute(self, runbook: Runbook, run_id: int) -> None:
        try:
            await execute_run(
                self._engine,
                run_id,
                runbook,
                settings=self._settings,
                clock=self._clock,
                mask=self._mask,
                dsns=self._dsns,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The run is recorded; a step the executor trips on shows on it, and a person can
            # resume it. The pass goes on.
            log.error("routine_run_failed", run_id=run_id, reason=describe_error(exc))
            if self._failures is not None:
                self._failures.item_failed(TASK)
