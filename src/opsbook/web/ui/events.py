"""``GET /ui/events``: server-sent events that tell an open page its data changed.

One poller per app reads the change markers (``overview_data.read_version``, one round trip)
every ``POLL_S`` while at least one page listens, and none when nobody does: ten open tabs cost
the store what one does. Each event carries the markers; the page compares them with the ones it
was rendered with and fetches itself again when they differ (static/ui/live.js).

Each stream ends after ``STREAM_S`` and the browser reconnects (``retry``): uvicorn's graceful
shutdown waits for open responses to finish, so a stream must not outlive a few seconds, and a
reconnect also re-checks the session (a logged-out or disabled person stops getting events).
``close()`` ends every stream at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine

from opsbook.errors import StoreError
from opsbook.web.errors import STORE_ERRORS
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import PageDep

log = structlog.get_logger(__name__)

POLL_S = 1.0
STREAM_S = 5.0
RETRY_MS = 500

Version = tuple[str, int]


class EventHub:
    """Watches the store's change markers for every open stream of one app."""

    def __init__(self, engine: Engine, *, poll_s: float = POLL_S) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.version: Version | None = None
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._changed is None or self._closed is None:
            self._changed, self._closed = asyncio.Event(), asyncio.Event()
        return self._changed, self._closed

    def close(self) -> None:
        """End every open stream now (the app is stopping)."""
        _, closed = self._events()
        closed.set()

    async def watch(self, *, lifetime_s: float) -> AsyncIterator[Version]:
        """Yields the current markers, then each change, for ``lifetime_s`` at most."""
        _, closed = self._events()
        self._listeners += 1
        idle = self._task is None or self._task.done()
        if idle:
            self._task = asyncio.create_task(self._poll(), name="ui-events")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime_s
        sent: Version | None = None
        try:
            if idle:
                await self._read()  # markers kept while nobody listened may be old
            while True:
                if self.version is not None and self.version != sent:
                    sent = self.version
                    yield sent
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or closed.is_set():
                    return
                changed, _ = self._events()
                waiters = {
                    asyncio.ensure_future(changed.wait()),
                    asyncio.ensure_future(closed.wait()),
                }
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            self._listeners -= 1

    async def _read(self) -> None:
        try:
            version = await asyncio.to_thread(_read_version, self.engine)
        except (StoreError, *STORE_ERRORS) as exc:
            # The store is down: pages keep what they show; /ready says why.
            log.warning("ui_events_store_unavailable", error=type(exc).__name__)
            return
        if version != self.version:
            self.version = version
            changed, _ = self._events()
            # Wake this round's waiters; the next round waits on a fresh event.
            self._changed = asyncio.Event()
            changed.set()

    async def _poll(self) -> None:
        while self._listeners > 0:
            await asyncio.sleep(self.poll_s)
            await self._read()


def _read_version(engine: Engine) -> Version:
    with engine.connect() as conn:
        return read_version(conn)


def _event(name: str, version: Version) -> str:
    data = json.dumps({"version": version[0], "results": version[1]})
    return f"event: {name}\ndata: {data}\n\n"


def router(hub: EventHub) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/ui/events")
    async def events(request: Request, principal: PageDep) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            yield f"retry: {RETRY_MS}\n\n"
            async for version in hub.watch(lifetime_s=STREAM_S):
                yield _event("change", version)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return routes
