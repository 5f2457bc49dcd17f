"""The healthchecks.io-compatible ping API, so cron wrappers keep working with a new host.

    /ping/<uuid>[/start|/fail|/log|/<exit-status>][/]            GET, POST or HEAD
    /ping/<ping-key>/<check-id>[/start|/fail|/log|/<exit-status>][/]

Answers are plain text like healthchecks.io's ("OK", "not found", "invalid url format"). A 200
is sent only after the ping, and the check state it causes, are committed: an acknowledged ping
survives a crash right after, and a reader sees its effect as soon as the 200 arrives.
https://healthchecks.io/docs/http_api/
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel
from starlette.background import BackgroundTask

from opsbook.checks.heartbeats import PING_BODY_LIMIT_BYTES, PingKind, parse_action
from opsbook.checks.models import ProbeResult
from opsbook.checks.ping_writer import PingWriter
from opsbook.checks.pings import PingIn, PingTargets, list_pings
from opsbook.errors import NotFound
from opsbook.web.api.checks import Milliseconds
from opsbook.web.auth import ALLOW_VIEWER, PUBLIC
from opsbook.web.deps import IdQuery, Services, ServicesDep, get_services
from opsbook.web.errors import (
    RETRY_AFTER_SECONDS,
    STORE_ERRORS,
    log_store_outage,
    store_outage,
)

router = APIRouter(tags=["pings"])

METHODS = ("GET", "POST", "HEAD")
_HEADERS = {
    "Ping-Body-Limit": str(PING_BODY_LIMIT_BYTES),
    # Browsers ping with fetch() from any page (healthchecks.io sends the same), and no cache
    # between the job and opsbook may answer a ping in opsbook's place: Django's never_cache,
    # which healthchecks.io's ping view wears, sends this Cache-Control.
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private",
}


# healthchecks.io's is_valid_uuid_string: the canonical form only, in either case (UUID() would
# also take braces, "urn:uuid:" and no hyphens).
_RID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@runtime_checkable
class _ResultsListener(Protocol):
    """The alert engine's ``on_results``: what the scheduler's sink calls after a write."""

    async def on_results(self, results: Sequence[ProbeResult]) -> None: ...


class PingRead(BaseModel):
    id: int
    kind: str
    exit_status: int | None
    rid: str | None
    received_at: datetime
    duration_ms: Milliseconds | None
    method: str
    remote_addr: str | None
    user_agent: str | None
    body: str | None
    """UTF-8 text; bytes that are not UTF-8 are kept in the store and shown escaped (``\\xff``)."""


PING_STORE_UNAVAILABLE = "store unavailable, retry"
_RETRY = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _text(
    body: str,
    status: int,
    *,
    background: BackgroundTask | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return PlainTextResponse(
        body, status_code=status, headers={**_HEADERS, **(headers or {})}, background=background
    )


def _targets(request: Request, services: Services) -> PingTargets:
    # Built once per app: deriving a uuid5 per heartbeat on every ping would cost O(checks).
    targets = getattr(request.app.state, "ping_targets", None)
    if not isinstance(targets, PingTargets):
        targets = PingTargets.from_config(services.config)
        request.app.state.ping_targets = targets
    return targets


def _as_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Awaitable[Response]])


def _ping_route(path: str) -> Callable[[_Endpoint], _Endpoint]:
    """Routes ``path`` and ``path/``: healthchecks.io answers ``/ping/<uuid>/`` like
    ``/ping/<uuid>``, and a redirect (307, empty body) would pass ``curl -fsS`` unrecorded."""

    def register(endpoint: _Endpoint) -> _Endpoint:
        for each in (path, path + "/"):
            router.api_route(
                each, methods=list(METHODS), include_in_schema=False, dependencies=[PUBLIC]
            )(endpoint)
        return endpoint

    return register


# What runs is ``answer_ping``, called by ``web/lean_pings.py`` before FastAPI's routing; these
# routes say which paths and methods are pings (405 and 404 come from them), and answer when
# the app runs without that middleware.
@_ping_route("/ping/{code}")
async def ping_uuid(request: Request, code: str) -> Response:
    return await answer_ping(request, [code])


@_ping_route("/ping/{code}/{second}")
async def ping_two(request: Request, code: str, second: str) -> Response:
    return await answer_ping(request, [code, second])


@_ping_route("/ping/{key}/{slug}/{action}")
async def ping_slug(request: Request, key: str, slug: str, action: str) -> Response:
    return await answer_ping(request, [key, slug, action])


async def answer_ping(request: Request, segments: Sequence[str]) -> Response:
    """The answer to a ping whose path after ``/ping/`` is ``segments`` (1 to 3, none empty),
    as the routes below give it (``web/lean_pings.py`` calls this without them)."""
    services = get_services(request)
    if len(segments) == 1:
        return await _ping(request, services, code=segments[0], slug=None, action=None)
    if len(segments) == 2:
        code, second = segments
        # /ping/<uuid>/<action> and /ping/<key>/<slug> share a shape; a UUID first segment
        # decides.
        if _as_uuid(code) is not None:
            return await _ping(request, services, code=code, slug=None, action=second)
        return await _ping(request, services, code=code, slug=second, action=None)
    key, slug, action = segments
    return await _ping(request, services, code=key, slug=slug, action=action)


async def _ping(
    request: Request, services: Services, *, code: str, slug: str | None, action: str | None
) -> Response:
    # The order of healthchecks.io's views: a mixed-case slug, then an unknown check, then a bad
    # action, then a bad run id.
    targets = _targets(request, services)
    if slug is None:
        uuid = _as_uuid(code)
        check_id = targets.by_uuid.get(uuid) if uuid is not None else None
    elif slug != slug.lower():
        return _text("invalid url format", 400)
    else:
        check_id = targets.by_slug(code, slug)
    if check_id is None:
        return _text("not found", 404)
    try:
        kind, exit_status = parse_action(action)
    except ValueError:
        return _text("invalid url format", 400)
    rid_text = request.query_params.get("rid")
    rid = None
    if rid_text is not None:
        if not _RID.fullmatch(rid_text):
            return _text("invalid uuid format", 400)
        rid = UUID(rid_text)
    if targets.specs[check_id].methods == "POST" and request.method != "POST":
        kind, exit_status = PingKind.IGNORED, None
    body = await _read_body(request)
    ping_in = PingIn(
        check_id=check_id,
        kind=kind,
        method=request.method,
        exit_status=exit_status,
        rid=rid,
        remote_addr=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        body=body,
    )
    # The commit happens before the answer: a 200 promises the ping, and the state it causes,
    # are on disk. The alert engine then judges the results, after the answer has gone out.
    try:
        results = await _writer(request, services).accept(ping_in, services.clock.now())
    except STORE_ERRORS as exc:
        if not store_outage(exc):
            raise
        # Not stored, so not acknowledged: a 503 makes the job's curl --retry (or the next
        # run) send it again, and the app-wide 503 would be JSON where pings answer text.
        log_store_outage(request, exc)
        return _text(PING_STORE_UNAVAILABLE, 503, headers=_RETRY)
    alerts = services.alerts
    background = None
    if results and isinstance(alerts, _ResultsListener):
        background = BackgroundTask(alerts.on_results, results)
    return _text("OK", 200, background=background)


async def _read_body(request: Request) -> bytes | None:
    """The first ``PING_BODY_LIMIT_BYTES`` of the body, as sent; the rest is never held in
    memory."""
    kept = bytearray()
    async for chunk in request.stream():
        kept += chunk[: PING_BODY_LIMIT_BYTES - len(kept)]
        if len(kept) >= PING_BODY_LIMIT_BYTES:
            break
    return bytes(kept) if kept else None


def _writer(request: Request, services: Services) -> PingWriter:
    """The app's one ping writer (made at the first ping): pings that arrive while one
    transaction runs share the next one, and each is answered after its commit."""
    writer = getattr(request.app.state, "ping_writer", None)
    if not isinstance(writer, PingWriter):
        writer = request.app.state.ping_writer = PingWriter(services.engine, services.config)
    return writer


@router.get(
    "/api/v1/checks/{check_id}/pings",
    summary="A heartbeat check's pings, newest first.",
    dependencies=[Depends(ALLOW_VIEWER)],
)
def read_pings(
    services: ServicesDep,
    check_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: IdQuery = None,
) -> list[PingRead]:
    check = services.config.checks.get(check_id)
    if check is None or check.heartbeat is None:
        raise NotFound("no heartbeat check with this id in the config", field="check_id")
    with services.engine.connect() as conn:
        found = list_pings(conn, check_id=check_id, limit=limit, before_id=before)
    return [
        PingRead(
            id=p.id,
            kind=p.kind.value,
            exit_status=p.exit_status,
            rid=p.rid,
            received_at=p.received_at,
            duration_ms=p.duration_ms,
            method=p.method,
            remote_addr=p.remote_addr,
            user_agent=p.user_agent,
            body=p.body_text,
        )
        for p in found
    ]
