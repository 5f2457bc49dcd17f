"""The public status page's cached answers sent before FastAPI's routing (issue 14).

Under 50 clients, ``/api/v2/summary.json`` and ``/status/`` are bytes the cache already holds,
and about half of each request's CPU went to the layers around them: the middleware, FastAPI
matching every route, the dependency and request/response wrapper. ``LeanStatusPage`` is a
pure ASGI middleware, just inside ``RequestObserver``, that answers GET and HEAD of the status
page's paths from a fresh rendering (``SnapshotCache.peek`` / ``SiteCache.peek_site``: markers
read less than 0.5 s ago, nothing to render) with the routes' own ``answer`` functions, so the
status, headers and body are the route's byte for byte.

Everything else goes on to the route unchanged: a cold or due cache (the route reads the
markers or renders in a thread, and serves the last rendering meanwhile), OPTIONS, a file the
page does not have (the route's 404), and a request that declares a body (``BodyLimit``,
inside, may have to refuse it). The route answering a path is found once per method and path
by matching the app's routes as the router would, and put in ``scope["route"]``: the request
log and metrics outside name it as before, and ``SecurityHeaders`` (outermost) adds its
headers to this answer too. The routes stay registered, so ``/openapi.json`` is unchanged.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from opsbook.statuspage import render_json
from opsbook.statuspage.site import PAGE_PREFIX
from opsbook.web import status_site
from opsbook.web.api import statuspage

METHODS = frozenset({"GET", "HEAD"})
JSON_PREFIX = "/api/v2/"


class LeanStatusPage:
    """Pure ASGI middleware: a fresh cached status page file is sent without the router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.served = 0
        """Requests answered here (tests and benchmarks read it)."""
        # The endpoints this layer may stand in for: the JSON documents' GET and HEAD (not
        # the preflight) by document name, and the page's files.
        self._endpoints: dict[Any, str | None] = {}
        for route in statuspage.router.routes:
            name = getattr(route, "name", "")
            if name.startswith("statuspage_") and not name.endswith("_preflight"):
                self._endpoints[getattr(route, "endpoint", None)] = getattr(route, "path", "")
        for endpoint in (
            status_site.status_page,
            status_site.status_history,
            status_site.status_file,
            status_site.status_badge,
        ):
            self._endpoints[endpoint] = None
        self._json_paths = frozenset(JSON_PREFIX + name for name in render_json.NAMES)
        self._candidates = [*statuspage.router.routes, *status_site.router.routes]
        self._routes: dict[tuple[str, str], BaseRoute | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS or _has_body(scope):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path = get_route_path(scope)
        app = scope["app"]
        if path in self._json_paths:
            rendered = statuspage.peek_cached(app)
            route = self._route(method, path) if rendered is not None else None
            if rendered is None or route is None:
                await self.app(scope, receive, send)
                return
            name = path[len(JSON_PREFIX) :]
            headers = Headers(scope=scope)
            response = statuspage.answer(
                rendered,
                name,
                method,
                headers.get("if-none-match"),
                headers.get("accept-encoding"),
            )
        elif path.startswith(PAGE_PREFIX):
            site = status_site.peek_cached(app)
            found = status_site.served_name(site, path) if site is not None else None
            route = self._route(method, path) if found is not None else None
            if site is None or found is None or route is None:
                await self.app(scope, receive, send)
                return
            headers = Headers(scope=scope)
            response = status_site.answer(
                site, found, method, headers.get("if-none-match"), headers.get("accept-encoding")
            )
        else:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        self.served += 1
        await response(scope, receive, send)

    def _route(self, method: str, path: str) -> BaseRoute | None:
        """The status page route that answers ``method path`` (for a JSON document, the one
        serving that path); None otherwise. Matched against the status page routers' own
        routes, as ``LeanPings`` does: those are what the router puts in ``scope["route"]``,
        and no route included before them takes a path the cache serves (``/api/v2/*.json``,
        the page's files). Only paths the cache serves get here, so the memo holds at most
        the page's files."""
        key = (method, path)
        if key in self._routes:
            return self._routes[key]
        probe: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        found: BaseRoute | None = None
        for route in self._candidates:
            if route.matches(probe)[0] == Match.FULL:
                found = route
                break
        endpoint = getattr(found, "endpoint", None)
        if endpoint not in self._endpoints or self._endpoints[endpoint] not in (None, path):
            found = None
        self._routes[key] = found
        return found


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
            return True
    return False
