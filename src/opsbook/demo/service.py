"""The demo service's aiohttp app: the endpoints the seed runbooks probe, the fault API, and the
inbox where the demo config's pages land.

Every request except ``/_faults`` and ``/_inbox`` passes through ``_fault_middleware``, which
applies the current faults in the order a real outage shows them: a crashed backend (no answer at
all), then slowness, then errors, then whatever the endpoint itself says (its forced status or
body). The fault and inbox endpoints are the demo's controls, not the service being watched, so
faults never touch them and the request metrics never count them.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from opsbook.demo.faults import Faults
from opsbook.demo.inbox import Inbox, render_html
from opsbook.demo.metrics import DemoMetrics
from opsbook.demo.state import DemoState
from opsbook.errors import InputError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE_KEY = web.AppKey("demo_state", DemoState)
METRICS_KEY = web.AppKey("demo_metrics", DemoMetrics)
INBOX_KEY = web.AppKey("demo_inbox", Inbox)

# The seeds quote compact bodies (LiLove: {"status":"healthy"}); match them byte for byte.
_dumps = functools.partial(json.dumps, separators=(",", ":"))
# Levqor's example answer reports a 0.03 ms database ping; the demo has no database to time.
UPTIME_RESPONSE_TIME_MS = 0.03
VERSION = "1.0.0"
UNMATCHED_PATH = "unmatched"


def _json(payload: object, *, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


def _health(request: web.Request, payload: object, *, status: int = 200) -> web.Response:
    """Answer a health endpoint, letting the ``status`` and ``body`` faults override it."""
    faults = request.app[STATE_KEY].faults
    status = faults.status if faults.status is not None else status
    if faults.body is None:
        return _json(payload, status=status)
    try:
        json.loads(faults.body)
    except ValueError:
        return web.Response(text=faults.body, status=status, content_type="text/plain")
    return web.Response(text=faults.body, status=status, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return _health(request, {"status": "healthy"})


async def api_health(request: web.Request) -> web.Response:
    now = request.app[STATE_KEY].clock.now()
    return _health(request, {"ok": True, "ts": int(now.timestamp())})


async def health(request: web.Request) -> web.Response:
    # Liveness: the process answers. The database belongs to readiness (/ready), as in Kubernetes.
    return _health(request, {"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    checks = {"database": faults.database, "queue": "ok"}
    is_ready = faults.database == "ok"
    return _health(request, {"ready": is_ready, "checks": checks}, status=200 if is_ready else 503)


async def ops_uptime(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    database = "operational" if faults.database == "ok" else "down"
    # Levqor answers 200 with "degraded" in the body; only a body condition catches it.
    payload = {
        "status": "operational" if database == "operational" else "degraded",
        "services": {"api": "operational", "database": database},
        "response_time_ms": UPTIME_RESPONSE_TIME_MS,
        "version": VERSION,
    }
    return _health(request, payload)


async def ops_queue_health(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    return _health(request, {"mode": "async", "depth": faults.queue_depth, "dlq": faults.dlq})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].render()
    # The 0.0.4 text format; aiohttp wants the charset apart from the content type.
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def get_faults(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].faults.to_json())


async def _change_faults(request: web.Request, *, merge: bool) -> web.Response:
    try:
        payload: object = json.loads(await request.text() or "{}")
    except ValueError as exc:
        return _error(InputError(f"the fault payload is not valid JSON: {exc}", field="$"))
    try:
        faults = request.app[STATE_KEY].update(payload, merge=merge)
    except InputError as exc:
        return _error(exc)
    return _json(faults.to_json())


async def post_faults(request: web.Request) -> web.Response:
    """Replace every fault: the payload is the whole fault set, ``{}`` a healthy service."""
    return await _change_faults(request, merge=False)


async def patch_faults(request: web.Request) -> web.Response:
    """Merge into the current faults (RFC 7396): ``null`` resets a key, ``{}`` changes nothing."""
    return await _change_faults(request, merge=True)


async def post_inbox(request: web.Request) -> web.Response:
    inbox = request.app[INBOX_KEY]
    try:
        inbox.add(request.match_info["box"], headers=request.headers, raw=await request.read())
    except InputError as exc:
        return _error(exc)
    return _json({"ok": True})


def _wants_html(request: web.Request) -> bool:
    # Browsers list text/html first in Accept; curl sends */* and scripts ask for JSON.
    accept = request.headers.get("Accept", "")
    html = accept.find("text/html")
    json_at = accept.find("application/json")
    return html != -1 and (json_at == -1 or html < json_at)


INBOX_FORMATS = ("json", "html")


async def get_inbox(request: web.Request) -> web.Response:
    """The inbox as JSON or as a page: ``?format=json|html`` decides, else the Accept header."""
    box = request.query.get("box") or None
    shown = request.query.get("format")
    if shown is not None and shown not in INBOX_FORMATS:
        message = f"format must be one of {', '.join(INBOX_FORMATS)}, not {shown!r}"
        return _error(InputError(message, field="format"))
    messages = request.app[INBOX_KEY].messages(box=box)
    if shown == "html" or (shown is None and _wants_html(request)):
        return web.Response(text=render_html(messages, box=box), content_type="text/html")
    return _json({"messages": [m.to_json() for m in messages]})


def _error(exc: InputError) -> web.Response:
    return _json({"error": {"message": exc.message, "field": exc.field}}, status=400)


def _route_path(request: web.Request) -> str:
    # The route template, not the raw path: scanning random URLs must not explode label cardinality.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_PATH


def _abort(request: web.Request) -> web.Response:
    """Drop the connection with no response, which is what a prober sees from a crashed backend."""
    if request.transport is not None:
        request.transport.abort()
    # Returned only to satisfy aiohttp; the transport is gone, so nothing is written.
    return web.Response(status=503)


async def _answer(request: web.Request, handler: Handler, faults: Faults) -> web.StreamResponse:
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if request.app[STATE_KEY].sampler_for(_route_path(request)).should_fail():
        message = f"injected error (error_rate {faults.error_rate})"
        return _json({"error": {"message": message}}, status=500)
    return await handler(request)


def _is_control(path: str) -> bool:
    return path in ("/_faults", "/_inbox") or path.startswith("/_inbox/")


@web.middleware
async def _fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_control(request.path):
        return await handler(request)
    state = request.app[STATE_KEY]
    faults = state.faults
    if faults.down:
        return _abort(request)
    # /metrics shows the outage rather than suffering it, so scrapes stay fast and uncounted.
    if request.path == "/metrics":
        return await handler(request)
    started = state.clock.monotonic()
    observe = functools.partial(
        request.app[METRICS_KEY].observe, method=request.method, path=_route_path(request)
    )
    try:
        response = await _answer(request, handler, faults)
    except web.HTTPException as exc:
        observe(code=exc.status, duration_s=state.clock.monotonic() - started)
        raise
    observe(code=response.status, duration_s=state.clock.monotonic() - started)
    return response


def create_demo_app(
    state: DemoState | None = None, *, inbox: Inbox | None = None
) -> web.Application:
    """Build a demo app. Pass ``state`` to read or stage its faults from outside (tests, demo),
    and ``inbox`` to read what it received (default: a new one on ``state``'s clock)."""
    state = state or DemoState()
    app = web.Application(middlewares=[_fault_middleware])
    app[STATE_KEY] = state
    app[METRICS_KEY] = DemoMetrics(state)
    app[INBOX_KEY] = inbox if inbox is not None else Inbox(clock=state.clock)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/health", api_health)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/ops/uptime", ops_uptime)
    app.router.add_get("/ops/queue_health", ops_queue_health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/_faults", get_faults)
    app.router.add_post("/_faults", post_faults)
    app.router.add_patch("/_faults", patch_faults)
    app.router.add_get("/_inbox", get_inbox)
    app.router.add_post("/_inbox/{box}", post_inbox)
    return app
