"""The memory that large request bodies cost is handed back to the operating system once a
burst of them is over (docs/ingest.md, "Memory").

A 1.9 MB Alertmanager body of 1000 alerts costs tens of MB while it is decoded, validated,
written and dispatched; glibc keeps the freed heap, so RSS stayed at the burst's level
(bench/memory_burst.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

LARGE_BODY_BYTES = 256 * 1024
"""A request whose body grows past this size arms a trim when it ends."""
TRIM_DELAY_S = 2.0
"""Quiet time after the last large body before the trim: the alert engine works on what that
body brought right after the answer, and a trim before that work would miss its garbage."""


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_MALLOC_TRIM = _glibc_malloc_trim()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim(0)``, which
    walks every arena and also releases free pages inside the heap, not only at its top). A
    no-op where the C library is not glibc. Returns whether anything was released."""
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))


class LargeBodyGate:
    """Pure ASGI middleware: when the last request of a burst whose body grew past
    ``threshold`` bytes ends, ``trim`` runs ``delay_s`` later, unless another such request
    started meanwhile. Small requests (nearly all: Prometheus' batches are a few KB) only pass
    through a byte count, so the trim costs nothing at steady load.

    Why not trim after every large request, or on a timer: ``malloc_trim`` walks the whole heap
    (milliseconds at a few hundred MB) with the arena locked, so it runs once per burst, and
    never while the server is idle with nothing to give back.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        threshold: int = LARGE_BODY_BYTES,
        delay_s: float = TRIM_DELAY_S,
        trim: Callable[[], bool] = release_free_memory,
    ) -> None:
        self.app = app
        self.threshold = threshold
        self.delay_s = delay_s
        self.trim = trim
        self._large_in_flight = 0
        self._pending_trim: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        is_large = False

        async def counting_receive() -> Message:
            nonlocal received, is_large
            message = await receive()
            if message["type"] == "http.request" and not is_large:
                received += len(message.get("body", b""))
                if received > self.threshold:
                    is_large = True
                    self._started_large()
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            if is_large:
                self._ended_large()

    def _started_large(self) -> None:
        self._large_in_flight += 1
        if self._pending_trim is not None:
            self._pending_trim.cancel()
            self._pending_trim = None

    def _ended_large(self) -> None:
        self._large_in_flight -= 1
        if self._large_in_flight == 0:
            loop = asyncio.get_running_loop()
            self._pending_trim = loop.call_later(self.delay_s, self._run_trim)

    def _run_trim(self) -> None:
        self._pending_trim = None
        log.debug("memory_trimmed", released=self.trim())
