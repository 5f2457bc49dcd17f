"""``POST /api/v2/alerts`` answered before FastAPI's routing (issue 15).

Prometheus posts alerts to this one route more often than every other request put together,
and for a one-alert request FastAPI's layers between the middleware and the endpoint (the
exception middleware, the exit-stack middleware, matching every included router, the
request/response wrapper) cost about as much as the endpoint itself. ``LeanIngest`` is a pure
ASGI middleware, the innermost one, that hands this route's requests straight to the endpoint
(``web/api/ingest.py`` ``post_alerts``) and everything else on.

What stays the same: the route is still registered on the ingest router, so ``/openapi.json``
describes it exactly as before; the middleware outside this one (request log and metrics, body
limits, the memory gate, security headers, the 500/503 handler) still sees every request; and
an error the endpoint raises (a 400 naming the field, a 401, a 503 for a store outage) gets
the answer of the handler the app registered for it, as FastAPI's exception middleware would
give.
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from opsbook.web.api.ingest import POST_ALERTS_PATH, post_alerts, post_alerts_route
from opsbook.web.hot_routes import handler_for


class LeanIngest:
    """Pure ASGI middleware: ``POST /api/v2/alerts`` goes to ``post_alerts`` directly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # What the router would have put in scope["route"]: the request log and metrics name
        # the route by it.
        self._route = post_alerts_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or get_route_path(scope) != POST_ALERTS_PATH
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route
        request = Request(scope, receive, send)
        try:
            response = await post_alerts(request)
        except Exception as exc:
            handler = handler_for(scope.get("app"), exc)
            if handler is None:
                raise  # to ServerErrorMiddleware, outside: the Exception handler (500, 503)
            response = await handler(request, exc)
        await response(scope, receive, send)
