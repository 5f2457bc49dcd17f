"""A size limit on every request body FastAPI reads itself (docs/api.md, "Limits").

uvicorn accepts a body of any size and FastAPI buffers all of it before the route runs, so
without this a 1 GB ``POST /api/v1/incidents`` costs 1 GB (and more, parsed). The routes that
read their body themselves keep their own limits and answers, so this layer lets them through:
the ingest routes (web/api/ingest.py: 2 MB, 1 MB, 512 KB, each answering in its sender's
format) and the ping routes (web/pings.py: the first 10,000 bytes are kept and the rest is
never read, as healthchecks.io does).
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsbook.web.errors import error_body

DEFAULT_BODY_LIMIT_BYTES = 64 * 1024
"""The largest text these routes take is a person's: an incident update, a note, a silence's
comment (at most 2,000 characters). 64 KiB is some 10,000 words, far beyond any of them, and
the limit Alertmanager's silence route here had already (``SILENCE_BODY_LIMIT``)."""

OWN_LIMIT_PATHS = re.compile(
    r"/api/v2/alerts|/v2/enqueue|/api/v1/integrations/[^/]+/(?:alertmanager|webhook)/?"
    r"|/ping/.*"
)
"""Paths whose routes read and limit their body themselves (module docstring)."""


def too_large_message(limit_bytes: int) -> str:
    # The words of the ingest routes' own 413 (web/api/ingest.py ``BodyTooLarge``).
    return f"the body is larger than {limit_bytes // 1024} KB"


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` to stop the route after the 413 has gone out. An
    ``HTTPException``, so FastAPI's body parsing passes it on instead of turning it into a 400
    ("If a middleware raises an HTTPException, it should be raised again", fastapi/routing.py)."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413, detail=too_large_message(limit_bytes))


class BodyLimit:
    """Pure ASGI middleware: a request to a path outside ``OWN_LIMIT_PATHS`` whose body is
    larger than ``limit_bytes`` gets 413 with opsbook's error body, before authentication and
    before anything parses it.

    A ``Content-Length`` over the limit is answered at once, with nothing read. A body without
    one (chunked) is counted as the route reads it: the chunk that passes the limit is never
    handed on, the 413 goes out from there, the route is stopped (``_BodyTooLarge``) and
    anything it still sends is dropped. At most ``limit_bytes`` plus one chunk is ever held.
    """

    def __init__(self, app: ASGIApp, *, limit_bytes: int = DEFAULT_BODY_LIMIT_BYTES) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or OWN_LIMIT_PATHS.fullmatch(get_route_path(scope)):
            await self.app(scope, receive, send)
            return
        limit = self.limit_bytes
        if (declared_length(scope) or 0) > limit:
            await _refusal(limit)(scope, receive, send)
            return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        refused = True
                        await _refusal(limit)(scope, receive, send)
                    raise _BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyTooLarge:
            if not refused:
                raise


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` the request declares; None when it declares none (chunked).
    (uvicorn refuses a malformed one with 400 before the app sees it.)"""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _refusal(limit_bytes: int) -> JSONResponse:
    return JSONResponse(
        error_body(too_large_message(limit_bytes), field="$", location="body"), status_code=413
    )
