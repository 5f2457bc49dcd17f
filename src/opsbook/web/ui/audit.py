"""``/audit`` (admin): the newest audit events, optionally only one actor's.

``list_audit`` has no actor filter, so the filtered read is a query on ``audit_event`` here (the
same order: newest first, ties by insertion)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from opsbook.accounts import Role
from opsbook.store.audit import AuditEvent, audit_event, list_audit
from opsbook.web.deps import EngineDep
from opsbook.web.ui.session import PageDep, needs_role
from opsbook.web.ui.templating import Pages

SHOWN = 200
ACTORS_SHOWN = 200


def events_of(conn: Connection, *, actor: str | None, limit: int) -> list[AuditEvent]:
    """The newest ``limit`` events, only ``actor``'s when given."""
    if actor is None:
        return list_audit(conn, limit=limit)
    rows = conn.execute(
        sa.select(audit_event)
        .where(audit_event.c.actor == actor)
        .order_by(audit_event.c.at.desc(), audit_event.c.id.desc())
        .limit(limit)
    )
    return [AuditEvent(**row._asdict()) for row in rows]


def actors(conn: Connection) -> list[str]:
    """Every actor in the log (the filter's choices), by name."""
    query = (
        sa.select(audit_event.c.actor).distinct().order_by(audit_event.c.actor).limit(ACTORS_SHOWN)
    )
    return [row.actor for row in conn.execute(query)]


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/audit")
    def audit(
        request: Request,
        principal: PageDep,
        engine: EngineDep,
        actor: Annotated[str, Query(max_length=200)] = "",
    ) -> Response:
        needs_role(principal, Role.ADMIN)
        with engine.begin() as conn:
            known = actors(conn)
            found = events_of(conn, actor=actor or None, limit=SHOWN)
        return pages.render(
            request,
            "audit.html",
            {
                "title": "Audit",
                "events": found,
                "actors": known,
                # Only a known actor is shown back in the filter (never an arbitrary value).
                "actor": actor if actor in known else "",
                "filtered": bool(actor),
                "shown": SHOWN,
            },
            principal=principal,
        )

    return routes
