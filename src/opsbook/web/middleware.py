"""One log line and one metrics observation per HTTP request (uvicorn's access log is off)."""

from __future__ import annotations

import structlog
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsbook.clock import Clock
from opsbook.web.metrics import UNMATCHED_ROUTE, Metrics

log = structlog.get_logger("opsbook.web.request")


class RequestObserver:
    """Pure ASGI middleware: it never buffers bodies, so streaming responses stay streaming.

    Logs ``event="request"`` with method, path (no query string: it may carry tokens), route
    template, status, duration_ms and client. A request that raises is logged with status 500
    and the exception is re-raised for the server's error handler.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, clock: Clock, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock
        self.router = router
        self._fixed_paths: frozenset[str] | None = None

    def _route(self, scope: Scope, status: int) -> str:
        template = getattr(scope.get("route"), "path", None)
        if isinstance(template, str):
            return template
        # FastAPI does not put plain Starlette routes (/openapi.json, /docs) in scope["route"].
        # A path with no parameters is its own template, and the route table bounds the set.
        if self._fixed_paths is None:
            paths = (getattr(route, "path", "") for route in self.router.routes)
            self._fixed_paths = frozenset(p for p in paths if p and "{" not in p)
        path = str(scope["path"])
        return path if status != 404 and path in self._fixed_paths else UNMATCHED_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock.monotonic()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            duration_s = max(self.clock.monotonic() - started, 0.0)
            route = self._route(scope, status)
            method = str(scope["method"])
            self.metrics.observe_request(
                method=method, route=route, status=status, duration_s=duration_s
            )
            client = scope.get("client")
            log.info(
                "request",
                method=method,
                path=str(scope["path"]),
                route=route,
                status=status,
                duration_ms=round(duration_s * 1000, 3),
                client=client[0] if client else None,
            )
