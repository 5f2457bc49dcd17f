"""``GET /api/v1/routines``: each routine (a runbook with ``schedule:``), its next due time and
its last opened run with progress and whether it is overdue (what ``opsbook status`` shows)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from opsbook.runbooks.routine_task import routine_states
from opsbook.runbooks.routines import RoutineStatus, describe
from opsbook.web.auth import ALLOW_VIEWER
from opsbook.web.deps import Services, get_services

router = APIRouter(
    prefix="/api/v1/routines", tags=["runbooks"], dependencies=[Depends(ALLOW_VIEWER)]
)


class RoutineRead(BaseModel):
    name: str
    title: str
    schedule: str
    timezone: str
    grace_s: float
    next_due_at: str
    due_at: str | None
    """The due time of the last run opened, RFC 3339 UTC; None before the first."""
    run_id: int | None
    state: str | None
    steps_done: int
    """Steps ticked off (manual) or run ok (read)."""
    steps_total: int
    overdue: bool
    """The last run is not finished ``grace`` after its due time."""
    line: str
    """``routine NAME due 09:00 UTC, open 3h, 2/7 ticked``."""


class RoutineListRead(BaseModel):
    routines: list[RoutineRead]


def _read(status: RoutineStatus, services: Services) -> RoutineRead:
    return RoutineRead(
        name=status.routine,
        title=status.title,
        schedule=status.schedule,
        timezone=status.timezone,
        grace_s=status.grace.total_seconds(),
        next_due_at=status.next_due_at.isoformat(),
        due_at=status.due_at.isoformat() if status.due_at else None,
        run_id=status.run_id,
        state=status.state,
        steps_done=status.steps_done,
        steps_total=status.steps_total,
        overdue=status.is_overdue,
        line=describe(status, now=services.clock.now()),
    )


def states(services: Services) -> list[RoutineStatus]:
    with services.engine.connect() as conn:
        return routine_states(
            conn,
            services.runbooks.registry,
            timezone=services.config.timezone,
            now=services.clock.now(),
        )


@router.get("")
async def routines(request: Request) -> RoutineListRead:
    services = get_services(request)
    found = await asyncio.to_thread(states, services)
    return RoutineListRead(routines=[_read(s, services) for s in found])
