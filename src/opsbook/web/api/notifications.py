"""``/api/v1/notifications``: the dead letters (notifications the outbox gave up on) with the
reason, and sending one again (``notify.outbox.requeue``: due now, a fresh attempt count,
audited as ``notification.retry`` in the same transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from opsbook.notify import Notification, list_dead_letters, requeue
from opsbook.web.auth import ALLOW_VIEWER, ResponderDep
from opsbook.web.deps import ClockDep, EngineDep, IdPath

router = APIRouter(
    prefix="/api/v1/notifications",
    tags=["notifications"],
    dependencies=[Depends(ALLOW_VIEWER)],
)

MAX_LIMIT = 10_000


class NotificationRead(BaseModel):
    """A notification without its payload (that can carry what a channel's URL hides)."""

    id: int
    channel: str
    kind: str
    state: str
    """``pending``, ``delivered`` or ``dead``."""
    attempts: int
    created_at: datetime
    due_at: datetime
    dead_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    """Why the last attempt failed (URLs redacted); for a dead letter, why it was given up."""


class DeadLettersRead(BaseModel):
    dead_letters: list[NotificationRead]


def _read(item: Notification) -> NotificationRead:
    return NotificationRead(
        id=item.id,
        channel=item.channel,
        kind=item.kind,
        state=item.state,
        attempts=item.attempts,
        created_at=item.created_at,
        due_at=item.due_at,
        dead_at=item.dead_at,
        delivered_at=item.delivered_at,
        last_error=item.last_error,
    )


@router.get("/dead-letters", response_model=DeadLettersRead)
def dead_letters(
    engine: EngineDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100
) -> DeadLettersRead:
    """Dead notifications, the most recently given up first."""
    with engine.connect() as conn:
        dead = list_dead_letters(conn, limit=limit)
    return DeadLettersRead(dead_letters=[_read(n) for n in dead])


@router.post("/{notification_id}/retry", response_model=NotificationRead)
def retry(
    notification_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
) -> NotificationRead:
    """Queue a dead notification again; 404 for an unknown id, 409 for one that is not dead."""
    origin = f"api {request.client.host}" if request.client else "api"
    with engine.begin() as conn:
        queued = requeue(
            conn, notification_id, now=clock.now(), actor=principal.actor, origin=origin
        )
    return _read(queued)
