"""One metrics observation per HTTP request, and one log line per request except successful
pings, which are summed into a line per interval (uvicorn's access log is off)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsbook.clock import Clock
from opsbook.web.metrics import UNMATCHED_ROUTE, Metrics

log = structlog.get_logger("opsbook.web.request")

SUMMARY_INTERVAL_S = 10.0
SUMMARISED_ROUTES = ("/ping/", "/api/v2/alerts")
"""Route templates (prefixes) whose 2xx answers are summed, not logged one by one."""
READ_STATUSES = frozenset({200, 304})


@dataclass(slots=True)
class _Tally:
    count: int = 0
    duration_s: float = 0.0
    max_duration_s: float = 0.0


class RequestObserver:
    """Pure ASGI middleware: it never buffers bodies, so streaming responses stay streaming.

    Every request is observed in the metrics (``opsbook_http_requests_total`` and its duration
    histogram). Each is logged as ``event="request"`` with method, path (no query string: it may
    carry tokens), route template, status, duration_ms and client, except a 2xx answer of a
    route in ``summarised_routes`` (the ping URLs, ``/api/v2/alerts``), or a GET or HEAD
    answered 200 or 304 by a route in ``summarised_reads`` (the public status page's files):
    those are summed per method, route and status and logged as one ``event="request_summary"``
    line each (count, duration_ms_mean, duration_ms_max, interval_s) at most
    ``summary_interval_s`` after the first, and when the app shuts down. A cron fleet's pings
    are the bulk of a server's requests, and a JSON line each cost about a tenth of a ping's CPU
    (docs/benchmarks.md, bench/pings.py). A request that raises is logged with status 500 and
    the exception is re-raised for the server's error handler.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        clock: Clock,
        router: Router,
        summarised_routes: tuple[str, ...] = SUMMARISED_ROUTES,
        summarised_reads: tuple[str, ...] = (),
        summary_interval_s: float = SUMMARY_INTERVAL_S,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock
        self.router = router
        self.summarised_routes = summarised_routes
        self.summarised_reads = summarised_reads
        self.summary_interval_s = summary_interval_s
        self._fixed_paths: frozenset[str] | None = None
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._summary_started = 0.0
        self._window = 0

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
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flush_at_shutdown(send))
            return
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
            self.record(scope, status, self.clock.monotonic() - started)

    def record(self, scope: Scope, status: int, duration_s: float) -> None:
        """Count and log one request as it ended (``status``; 500 when it raised). Also called
        for the hot routes served outside this layer (web/hot_routes.py)."""
        duration_s = max(duration_s, 0.0)
        route = self._route(scope, status)
        method = str(scope["method"])
        self.metrics.observe_request(
            method=method, route=route, status=status, duration_s=duration_s
        )
        if (200 <= status < 300 and route.startswith(self.summarised_routes)) or (
            method in ("GET", "HEAD")
            and status in READ_STATUSES
            and route.startswith(self.summarised_reads)
        ):
            self._tally(method, route, status, duration_s)
        else:
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
        if self._tallies and self.clock.monotonic() - self._summary_started >= (
            self.summary_interval_s
        ):
            self.flush_summary()

    def _tally(self, method: str, route: str, status: int, duration_s: float) -> None:
        if not self._tallies:
            # The first of a window: its line is due in an interval, even if no request follows
            # (then the loop's timer writes it; otherwise the request that finds it due does).
            self._summary_started = self.clock.monotonic()
            self._window += 1
            window = self._window
            asyncio.get_running_loop().call_later(
                self.summary_interval_s, self._flush_window, window
            )
        tally = self._tallies.get((method, route, status))
        if tally is None:
            tally = self._tallies[(method, route, status)] = _Tally()
        tally.count += 1
        tally.duration_s += duration_s
        tally.max_duration_s = max(tally.max_duration_s, duration_s)

    def _flush_window(self, window: int) -> None:
        if window == self._window:  # not flushed (and so not started again) since
            self.flush_summary()

    def flush_summary(self) -> None:
        """Log the summed requests (one ``request_summary`` line per method, route and status)
        and start a new window."""
        tallies, self._tallies = self._tallies, {}
        self._window += 1
        interval_s = round(max(self.clock.monotonic() - self._summary_started, 0.0), 3)
        for (method, route, status), tally in sorted(tallies.items()):
            log.info(
                "request_summary",
                method=method,
                route=route,
                status=status,
                count=tally.count,
                duration_ms_mean=round(tally.duration_s / tally.count * 1000, 3),
                duration_ms_max=round(tally.max_duration_s * 1000, 3),
                interval_s=interval_s,
            )

    def _flush_at_shutdown(self, send: Send) -> Send:
        async def send_and_flush(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.flush_summary()
            await send(message)

        return send_and_flush
