"""The public status page on the server: ``/status/`` (``/status/history/``, the stylesheet, the
feeds, the badges, the logo), no login, the bytes ``statuspage.site.render_site`` made.

``SiteCache`` renders every file once per change, with the same key as the JSON's
``SnapshotCache`` (the UI's change markers, open maintenance windows, the local day; a 30 s
refresh for new results), and the publish task reads the same cache, so what it exports is
what the server answers. Requests are answered on the event loop while the markers are fresh
(``peek_site``), and during a render with the last files. ``/status`` and ``/status/history``
redirect to the folder form: the page's links are relative to its folder.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.errors import NotFound
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.compress import exported, precompress
from opsbook.statuspage.site import PAGE_PREFIX, content_type, render_site, server_path
from opsbook.web.api.statuspage import TTL_S, SnapshotCache, entity_tags, file_answer
from opsbook.web.auth import PUBLIC

PAGE_HEADERS = {"Cache-Control": "public, max-age=0, must-revalidate"}
# Badges are embedded in READMEs and dashboards whose proxies (GitHub's camo) cache them:
# a minute keeps them fresh enough without refetching on every view.
BADGE_HEADERS = {"Cache-Control": "public, max-age=60"}


@dataclass(frozen=True)
class Site:
    files: dict[str, bytes]
    """By export path (``index.html``, ``badge/api/status.svg``, ``api/v2/status.json``...)."""
    by_path: dict[str, str]
    """Server path -> export path."""
    etags: dict[str, str]
    gzipped: dict[str, bytes]
    """The files worth compressing, gzipped once (``statuspage/compress.py``)."""
    answers: dict[tuple[object, ...], Response] = field(default_factory=dict, compare=False)
    """Each answer made once per rendering, as ``statuspage.Rendered.answers``."""

    def exported(self) -> dict[str, bytes]:
        """What an export writes: the files and their ``.gz`` forms, the bytes served."""
        return exported(self.files, self.gzipped)


class SiteCache(SnapshotCache):
    """Every file of the page, rendered when the key changes (see ``SnapshotCache``)."""

    def __init__(self, engine: Engine, config: Config, clock: Clock) -> None:
        super().__init__(engine, config, clock)
        self._site: tuple[Site, tuple[object, ...], float] | None = None

    def peek_site(self, *, claim: bool = False) -> Site | None:
        """The files when they are current without reading the store (``peek``, whose
        ``claim`` this takes too)."""
        key = self.fresh_key(claim=claim)
        seen = self._site
        if key is None or seen is None:
            return None
        if seen[1] == key and self.clock.monotonic() - seen[2] < TTL_S:
            return seen[0]
        return seen[0] if self.serve_last(claim=claim) else None

    def site(self, *, wait: bool = True) -> Site:
        """Every file now; ``wait=False`` serves the last ones while another caller renders
        a change (``SnapshotCache.get``)."""
        try:
            return self._site_now(wait=wait)
        finally:
            self.settled("render")

    def _site_now(self, *, wait: bool) -> Site:
        key = self._key()
        seen = self._site
        if seen is not None and seen[1] == key:
            if self.clock.monotonic() - seen[2] < TTL_S:
                return seen[0]
            if not self._lock.acquire(blocking=False):
                return seen[0]  # another caller is rendering
        elif seen is not None and not wait:
            if not self._lock.acquire(blocking=False):
                return seen[0]  # another caller is rendering the change
        else:
            self._lock.acquire()
        try:
            entry = self._site
            if entry is None or entry is seen or entry[1] != key:
                snapshot = build_snapshot(
                    self.engine, self.config, self.clock, history=self._history
                )
                rendered = render_site(snapshot, self.config)
                last = entry[0] if entry is not None else None
                site = Site(
                    files=rendered,
                    by_path={server_path(p): p for p in rendered},
                    etags=entity_tags(rendered, (last.files, last.etags) if last else None),
                    gzipped=precompress(rendered, (last.files, last.gzipped) if last else None),
                )
                entry = (site, key, self.clock.monotonic())
                self._site = entry
            return entry[0]
        finally:
            self._lock.release()


_CACHE_LOCK = threading.Lock()


def site_cache(app: FastAPI) -> SiteCache:
    """The app's one ``SiteCache`` (requests and the publish task share it), made on first use."""
    with _CACHE_LOCK:
        found: SiteCache | None = getattr(app.state, "status_site", None)
        if found is None:
            services = app.state.services
            found = SiteCache(services.engine, services.config, services.clock)
            app.state.status_site = found
        return found


router = APIRouter(tags=["status page"], dependencies=[PUBLIC])


async def _serve(request: Request, path: str) -> Response:
    cache = site_cache(request.app)
    site = cache.peek_site()
    if site is None:
        site = await run_in_threadpool(partial(cache.site, wait=False))
    name = served_name(site, path)
    if name is None:
        # The API's 404 (JSON, naming no value): the path may be anything a visitor typed.
        raise NotFound("the status page has no such file", field="path")
    headers = request.headers
    return answer(
        site, name, request.method, headers.get("if-none-match"), headers.get("accept-encoding")
    )


def served_name(site: Site, path: str) -> str | None:
    """The export path of the file served at server path ``path``; None for a 404 (the
    JSON documents are ``/api/v2/``'s to serve)."""
    name = site.by_path.get(path)
    return None if name is None or name.startswith("api/") else name


def peek_cached(app: FastAPI) -> Site | None:
    """The app's files when ``peek_site`` has them; None when there is no cache yet or it
    needs the store (then the route answers). For web/lean_status.py."""
    cache: SiteCache | None = getattr(app.state, "status_site", None)
    return cache.peek_site(claim=True) if cache is not None else None


def answer(
    site: Site,
    name: str,
    method: str,
    if_none_match: str | None,
    accept_encoding: str | None = None,
) -> Response:
    """The route's answer for file ``name`` (the lean path's too: web/lean_status.py),
    gzipped when the client accepts it."""
    return file_answer(
        site.answers,
        name,
        (site.files[name], site.gzipped.get(name), site.etags[name]),
        method=method,
        if_none_match=if_none_match,
        accept_encoding=accept_encoding,
        headers=BADGE_HEADERS if name.startswith("badge/") else PAGE_HEADERS,
        media_type=content_type(name),
    )


def _add(
    path: str, endpoint: Callable[..., Awaitable[Response]], summary: str, *types: str
) -> None:
    """GET in the API document with the media ``types`` it answers; HEAD beside it, answered
    the same way without a body."""
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        summary=summary,
        response_class=Response,
        responses={200: {"description": "The file.", "content": {t: {} for t in types}}},
    )
    router.add_api_route(
        path, endpoint, methods=["HEAD"], include_in_schema=False, name=f"{endpoint.__name__}_head"
    )


async def status_page(request: Request) -> Response:
    return await _serve(request, PAGE_PREFIX)


async def status_history(request: Request) -> Response:
    return await _serve(request, PAGE_PREFIX + "history/")


async def status_file(request: Request, name: str, ext: str) -> Response:
    return await _serve(request, f"{PAGE_PREFIX}{name}.{ext}")


async def status_badge(request: Request, component: str, kind: str) -> Response:
    return await _serve(request, f"{PAGE_PREFIX}badge/{component}/{kind}.svg")


_add(PAGE_PREFIX, status_page, "The public status page.", "text/html")
_add(PAGE_PREFIX + "history/", status_history, "Incidents and maintenance by month.", "text/html")
_add(
    PAGE_PREFIX + "{name}.{ext}",
    status_file,
    "The page's stylesheet (status.css), feeds (feed.rss, feed.atom) and logo.",
    "text/css",
    "application/rss+xml",
    "application/atom+xml",
    "image/png",
    "image/svg+xml",
)
_add(
    PAGE_PREFIX + "badge/{component}/{kind}.svg",
    status_badge,
    "A component's badge: status.svg, uptime.svg (30 d) or response.svg (p95, 24 h).",
    "image/svg+xml",
)


@router.get(PAGE_PREFIX.rstrip("/"), include_in_schema=False)
def status_redirect() -> Response:
    # Relative, so a proxy that mounts the server under a path keeps it.
    return RedirectResponse("status/", status_code=308)


@router.get(PAGE_PREFIX + "history", include_in_schema=False)
def history_redirect() -> Response:
    return RedirectResponse("history/", status_code=308)
