"""The status page's Statuspage-compatible JSON at ``/api/v2/<name>.json``, and a responder's
component status override (``POST /api/v1/incidents/{id}/component-status``).

The JSON routes are public and sit at the root, where consumers (Statuspage's widget, status
aggregators, client libraries) look whatever base path they were given; their names end in
``.json``, so they never meet the Alertmanager-compatible ``/api/v2/alerts`` and ``/status``.
Browsers on other sites read them (``Access-Control-Allow-Origin: *``).

One rendering serves every client until something it shows changes (``SnapshotCache``): the
store's change markers (the UI's ``read_version``: check state changes, incident events, audited
writes) are read at most every ``CHECK_EVERY_S``, and the open maintenance windows and the
local day are part of the key, so a change shows within a second; new results alone (the
uptime figures) refresh it every ``TTL_S``. The routes are async and answer from ``peek`` on
the event loop while the markers are fresh; only reading the markers or rendering goes to a
thread, and requests that arrive during a render get the last rendering (bench/status_page.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from opsbook.alerts.maintenance import open_windows
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.errors import InputError, NotFound, StoreError
from opsbook.statuspage import render_json
from opsbook.statuspage.availability import DayHistory
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.compress import choose, precompress
from opsbook.statuspage.overrides import set_component_status
from opsbook.web.auth import PUBLIC, ResponderDep
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath, get_services
from opsbook.web.errors import STORE_ERRORS
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.overview_gzip import accepts_gzip

log = structlog.get_logger(__name__)

CHECK_EVERY_S = 0.5
STALE_OK_S = 1.0
"""While one request reads new markers, the others are answered with markers up to this old
(the last ones read) instead of each going to the route and a thread to wait for them."""
TTL_S = 30.0
CLAIM_S = 0.25
"""How long the first request to find the markers due, or the rendering out of date, has to
take that on (through the route, in a thread) before the next request goes too. Requests in
between are answered on the event loop with what is cached. Without it every request that
came in before the first one's thread began went the same way, through the router to a
thread, only to find the work taken: with 50 clients back to back that was ~50 requests twice
a second, a percent of the requests and the slowest of them."""
HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # Pollers revalidate every time (a 304 when the ETag still holds): a status must never
    # be answered from a cache after it changed.
    "Cache-Control": "public, max-age=0, must-revalidate",
}
PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


@dataclass(frozen=True)
class Rendered:
    documents: dict[str, bytes]
    etags: dict[str, str]
    gzipped: dict[str, bytes]
    """The documents worth compressing, gzipped once (``statuspage/compress.py``)."""
    answers: dict[tuple[object, ...], Response] = field(default_factory=dict, compare=False)
    """Each answer made once per rendering (``answer``): a Response is sent as it is, so
    thousands of requests a second share a few objects instead of building one each."""


@dataclass(frozen=True)
class _Entry:
    rendered: Rendered
    key: tuple[object, ...]
    at_monotonic: float


class SnapshotCache:
    """The last rendering and the key it was made at (module docstring)."""

    def __init__(self, engine: Engine, config: Config, clock: Clock) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._entry: _Entry | None = None
        self._version: tuple[str, float] | None = None
        self._history = DayHistory()
        self._claims: dict[str, float] = {}

    def claim(self, what: str) -> bool:
        """Whether this caller is the first to find ``what`` ("markers", "render") due, and so
        goes to the route to do it; later callers get False until it is done (``settled``) or
        ``CLAIM_S`` has passed. For the event loop (``peek``)."""
        mono = self.clock.monotonic()
        at = self._claims.get(what)
        if at is not None and mono - at < CLAIM_S:
            return False
        self._claims[what] = mono
        return True

    def settled(self, what: str) -> None:
        """``what`` is done (or failed): the next caller to find it due takes it on."""
        self._claims.pop(what, None)

    def _marker(self) -> str:
        mono = self.clock.monotonic()
        seen = self._version
        if seen is not None and mono - seen[1] < CHECK_EVERY_S:
            return seen[0]
        # One reader at a time: the others take the markers being replaced (a few ms old)
        # instead of queueing for store connections, dozens at a time under load.
        if seen is not None:
            if not self._reading.acquire(blocking=False):
                return seen[0]
        else:
            self._reading.acquire()
        try:
            found = self._version
            if found is not None and found is not seen and mono - found[1] < CHECK_EVERY_S:
                return found[0]
            with self.engine.connect() as conn:
                marker = read_version(conn)[0]
            self._version = (marker, self.clock.monotonic())
            return marker
        finally:
            self._reading.release()
            self.settled("markers")

    def _key(self, marker: str | None = None) -> tuple[object, ...]:
        now = self.clock.now()
        windows = tuple((w.name, w.start) for w in open_windows(self.config, now))
        return (marker if marker is not None else self._marker(), windows, now.date())

    def fresh_key(self, *, claim: bool = False) -> tuple[object, ...] | None:
        """The key from markers read less than ``CHECK_EVERY_S`` ago (or ``STALE_OK_S`` while
        another caller is reading new ones), without the store; None when they are due to be
        read again. With ``claim``, only the first caller to find them due gets None
        (``claim``); the others get the key from the last ones meanwhile."""
        seen = self._version
        if seen is None:
            return None
        age = self.clock.monotonic() - seen[1]
        if age >= CHECK_EVERY_S:
            if age >= STALE_OK_S:
                return None
            if not self._reading.locked() and (not claim or self.claim("markers")):
                return None
        return self._key(seen[0])

    def peek(self, *, claim: bool = False) -> Rendered | None:
        """The rendering when it is current and nothing needs the store or a render, else
        None (then call ``get``). Cheap enough for the event loop: a route answers most
        requests from here without a thread.

        ``claim`` (the lean path, ``peek_cached``): when the markers are due or the rendering
        is out of date, only the first caller gets None and goes to the route; the others get
        the last rendering, as the route would give them while that one works."""
        key = self.fresh_key(claim=claim)
        entry = self._entry
        if key is None or entry is None:
            return None
        if entry.key == key and self.clock.monotonic() - entry.at_monotonic < TTL_S:
            return entry.rendered
        return entry.rendered if self.serve_last(claim=claim) else None

    def serve_last(self, *, claim: bool) -> bool:
        """Whether a caller that found the rendering out of date gets the last one: another
        caller is rendering (a change, or the TTL's refresh), as the route would serve it
        meanwhile (``get(wait=False)``), or, with ``claim``, has taken the render on."""
        return self._lock.locked() or (claim and not self.claim("render"))

    def get(self, *, wait: bool = True) -> Rendered:
        """The current rendering. While the store cannot answer, the last one is served (a
        status page must outlive the trouble it reports); without one the error propagates.

        With ``wait=False``, while another caller renders a change the last rendering is
        served instead of waiting for it (the render takes a fraction of the second a change
        has to show in); the caller that saw the change first renders and waits.
        """
        try:
            return self._get(wait=wait)
        except (StoreError, *STORE_ERRORS):
            stale = self._entry
            if stale is None:
                raise
            log.warning("statuspage_served_stale")
            return stale.rendered
        finally:
            self.settled("render")

    def _get(self, *, wait: bool) -> Rendered:
        key = self._key()
        seen = self._entry
        if seen is not None and seen.key == key:
            if self.clock.monotonic() - seen.at_monotonic < TTL_S:
                return seen.rendered
            if not self._lock.acquire(blocking=False):
                return seen.rendered  # another request is rendering
        elif seen is not None and not wait:
            if not self._lock.acquire(blocking=False):
                return seen.rendered  # another request is rendering the change
        else:
            self._lock.acquire()
        try:
            entry = self._entry
            if entry is None or entry is seen or entry.key != key:
                snapshot = build_snapshot(
                    self.engine, self.config, self.clock, history=self._history
                )
                documents = render_json.render(snapshot)
                last = entry.rendered if entry is not None else None
                before = (last.documents, last.etags, last.gzipped) if last else None
                rendered = Rendered(
                    documents,
                    entity_tags(documents, before[:2] if before else None),
                    precompress(documents, (before[0], before[2]) if before else None),
                )
                entry = _Entry(rendered, key, self.clock.monotonic())
                self._entry = entry
            return entry.rendered
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        """Forget the markers read, so the next request reads them (after a write here)."""
        self._version = None


_CACHE_LOCK = threading.Lock()


def snapshot_cache(request: Request) -> SnapshotCache:
    """The app's cache, made on first use (one per app)."""
    state = request.app.state
    found: SnapshotCache | None = getattr(state, "statuspage_cache", None)
    if found is None:
        with _CACHE_LOCK:
            found = getattr(state, "statuspage_cache", None)
            if found is None:
                services = get_services(request)
                found = SnapshotCache(services.engine, services.config, services.clock)
                state.statuspage_cache = found
    return found


def entity_tags(
    files: Mapping[str, bytes], before: tuple[Mapping[str, bytes], Mapping[str, str]] | None
) -> dict[str, str]:
    """Each file's ETag (a digest of its bytes). ``before``: the last rendering's files and
    tags; a file with the same bytes keeps its tag instead of being hashed again."""
    old_files, old_tags = before if before is not None else ({}, {})
    out = {}
    for name, body in files.items():
        if old_files.get(name) == body:
            out[name] = old_tags[name]
        else:
            out[name] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return out


router = APIRouter(tags=["status page"])


async def _serve(request: Request, name: str) -> Response:
    cache = snapshot_cache(request)
    rendered = cache.peek()
    if rendered is None:
        rendered = await run_in_threadpool(partial(cache.get, wait=False))
    headers = request.headers
    return answer(
        rendered,
        name,
        request.method,
        headers.get("if-none-match"),
        headers.get("accept-encoding"),
    )


def answer(
    rendered: Rendered,
    name: str,
    method: str,
    if_none_match: str | None,
    accept_encoding: str | None = None,
) -> Response:
    """The route's answer for document ``name`` of ``rendered`` (the lean path's too:
    web/lean_status.py), gzipped when the client accepts it."""
    return file_answer(
        rendered.answers,
        name,
        (rendered.documents[name], rendered.gzipped.get(name), rendered.etags[name]),
        method=method,
        if_none_match=if_none_match,
        accept_encoding=accept_encoding,
        headers=HEADERS,
        media_type="application/json",
    )


def file_answer(
    answers: dict[tuple[object, ...], Response],
    name: str,
    file: tuple[bytes, bytes | None, str],
    *,
    method: str,
    if_none_match: str | None,
    accept_encoding: str | None,
    headers: Mapping[str, str],
    media_type: str,
) -> Response:
    """The answer for a rendered file (its bytes, gzipped bytes or None, and ETag), made once
    per rendering and kept in ``answers``: the gzipped form when the client accepts it, a 304
    for the ETag of the form it would get, no body for HEAD. The JSON documents' and the
    page's files' answers (web/status_site.py) alike."""
    body, packed, plain_etag = file
    body, etag, extra = choose(
        body, packed, plain_etag, gzip_ok=accepts_gzip(accept_encoding or "")
    )
    key = (name, etag, method == "HEAD", if_none_match == etag)
    found = answers.get(key)
    if found is not None:
        return found
    sent = {**headers, "ETag": etag, **extra}
    if if_none_match == etag:
        sent.pop("Content-Encoding", None)
        found = Response(status_code=304, headers=sent)
    else:
        found = Response(body if method != "HEAD" else b"", media_type=media_type, headers=sent)
    answers[key] = found
    return found


def peek_cached(app: Any) -> Rendered | None:
    """The app's rendering when ``peek`` has it (fresh, nothing to read or render); None
    when there is no cache yet or it needs the store (then the route answers)."""
    cache: SnapshotCache | None = getattr(app.state, "statuspage_cache", None)
    return cache.peek(claim=True) if cache is not None else None


def _route(name: str) -> None:
    path = f"/api/v2/{name}"

    async def serve(request: Request) -> Response:
        return await _serve(request, name)

    async def preflight() -> Response:
        return Response(status_code=204, headers=PREFLIGHT)

    summary = f"Statuspage v2 {name} (public, CORS)."
    router.add_api_route(
        path,
        serve,
        methods=["GET"],
        dependencies=[PUBLIC],
        summary=summary,
        response_class=Response,
        responses={200: {"content": {"application/json": {}}}},
        name=f"statuspage_{name}",
    )
    router.add_api_route(
        path,
        serve,
        methods=["HEAD"],
        dependencies=[PUBLIC],
        include_in_schema=False,
        name=f"statuspage_{name}_head",
    )
    router.add_api_route(
        path,
        preflight,
        methods=["OPTIONS"],
        dependencies=[PUBLIC],
        include_in_schema=False,
        name=f"statuspage_{name}_preflight",
    )


for _name in render_json.NAMES:
    _route(_name)


class ComponentStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    component: str = Field(min_length=1, max_length=200)
    status: str | None
    message: str = ""


def _parse(body: Any) -> ComponentStatusUpdate:
    try:
        return ComponentStatusUpdate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in tuple(first["loc"])
        )
        message = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(
            first["type"], first["msg"]
        )
        raise InputError(f"{path}: {message}", field=path, location="body") from None


@router.post(
    "/api/v1/incidents/{incident_id}/component-status",
    tags=["incidents"],
    summary="Override a component's status on the status page while the incident is open.",
)
def override_component_status(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    """``{"component": "api", "status": "major_outage", "message": "..."}``; ``status`` null
    gives the component back its derived status. Recorded on the incident's timeline."""
    update_in = _parse(body)
    origin = f"api {request.client.host}" if request.client else "api"
    try:
        with engine.begin() as conn:
            event_id = set_component_status(
                conn,
                incident_id,
                component=update_in.component,
                status=update_in.status,
                message=update_in.message,
                config=config,
                actor=principal.actor,
                now=clock.now(),
                origin=origin,
            )
    except (InputError, NotFound) as exc:
        if exc.field in ("component", "status", "message"):
            raise InputError(f"$.{exc.message}", field=f"$.{exc.field}", location="body") from None
        raise
    cache = snapshot_cache(request)
    cache.invalidate()
    shown = json.loads(cache.get().documents["components.json"])
    component = next(
        (c for c in shown["components"] if c["id"] == update_in.component),
        None,
    )
    return {
        "incident_id": incident_id,
        "event_id": event_id,
        "component": update_in.component,
        "override": update_in.status,
        "status": component["status"] if component is not None else None,
    }
