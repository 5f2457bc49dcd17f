"""Ping URLs answered before FastAPI's routing (issue 15).

A cron wrapper's ping is the smallest request opsbook serves, and FastAPI's layers between the
middleware and the endpoint (the exception and exit-stack middleware, matching every included
router, solving the route's dependencies, the request/response wrapper) cost more than the
endpoint. ``LeanPings`` is a pure ASGI middleware, next to ``LeanIngest``, that matches the
ping paths itself and hands them straight to ``web/pings.py``'s ``answer_ping``; everything
else goes on.

What stays the same: the routes are still registered on the pings router, so a method they do
not take (405), a path they do not match (404) and ``/openapi.json`` are as before; the
middleware outside this one (request log and metrics, body limits, the memory gate, security
headers, the 500/503 handler) still sees every ping. ``answer_ping`` raises nothing that one of
the app's exception handlers other than the catch-all answers (a store outage is its own 503),
so an unexpected error goes to that catch-all, outside, as it did through the router.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from opsbook.web.pings import METHODS, answer_ping, router


class LeanPings:
    """Pure ASGI middleware: ``/ping/<a>[/<b>[/<c>]][/]`` goes to ``answer_ping`` directly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # What the router would have put in scope["route"] (the request log and metrics name
        # the route by it), by segment count and trailing slash.
        self._routes: dict[tuple[int, bool], BaseRoute] = {}
        for route in router.routes:
            path: str = getattr(route, "path", "")
            if path.startswith("/ping/"):
                shape = (path.count("/") - 1 - path.endswith("/"), path.endswith("/"))
                self._routes.setdefault(shape, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        if not path.startswith("/ping/"):
            await self.app(scope, receive, send)
            return
        slash = path.endswith("/")
        segments = path[6 : -1 if slash else None].split("/")
        route = self._routes.get((len(segments), slash))
        # Each segment is a path parameter: one or more characters, no "/" (Starlette's
        # ``{name}``); anything else is the router's to answer (404).
        if route is None or "" in segments:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive, send)
        response = await answer_ping(request, segments)
        await response(scope, receive, send)
