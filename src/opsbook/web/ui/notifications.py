"""``/notifications``: dead letters (notifications the outbox gave up on) with the reason, and a
retry button that queues one again (``notify.outbox.requeue``: due now, a fresh attempt count,
audited as ``notification.retry``). Retrying needs the responder role.

The list carries the change markers of ``/ui/events``; they move with alert and incident events,
not with a delivery dying, so a letter that dies while nothing else happens shows on the next
such event or reload."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.accounts import Role
from opsbook.notify import list_dead_letters, requeue
from opsbook.web.deps import ClockDep, EngineDep, IdPath
from opsbook.web.ui.actions import back_to, ui_origin
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import FormDep, PageDep, needs_role
from opsbook.web.ui.templating import Pages

SHOWN = 200


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/notifications")
    def dead_letters(
        request: Request, principal: PageDep, engine: EngineDep, clock: ClockDep
    ) -> Response:
        with engine.begin() as conn:
            dead = list_dead_letters(conn, limit=SHOWN)
            version, results = read_version(conn)
        return pages.render(
            request,
            "notifications.html",
            {
                "title": "Notifications",
                "now": clock.now(),
                "dead": dead,
                "shown": SHOWN,
                "can_write": principal.role.allows(Role.RESPONDER),
                "live_version": version,
                "results_version": results,
            },
            principal=principal,
        )

    @routes.post("/notifications/{notification_id}/retry")
    def retry(
        notification_id: IdPath,
        request: Request,
        principal: FormDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        needs_role(principal, Role.RESPONDER)
        with engine.begin() as conn:
            requeue(
                conn,
                notification_id,
                now=clock.now(),
                actor=principal.actor,
                origin=ui_origin(request),
            )
        return back_to("/notifications")

    return routes
