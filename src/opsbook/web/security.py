"""Security headers on every response (issue 12): a pure ASGI middleware, so streaming responses
(the UI's event stream) stay streaming.

The pages run no inline script and no inline style, so the policy can be strict: everything
from this origin only, no framing, no ``<base>``, forms post only here. ``/docs`` is the one
exception: FastAPI's Swagger UI page starts the bundle with an inline ``<script>`` (whose text
depends on ``root_path``, so a fixed hash would not do), and Swagger UI sets inline styles. It
gets ``'unsafe-inline'`` for those two and nothing else; the files it loads are still local
(web/docs.py), and it shows only the API document.

A header the route already set is left alone (a route that needs another policy says so).

``SecuredApp`` puts the middleware outside Starlette's ``ServerErrorMiddleware``, so the answers
of the ``Exception`` handler (the 500, and the 503 of a store outage) carry the headers too.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
DOCS_PREFIX = "/docs"

_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    # Same-origin requests keep the full Referer (the login form's origin check reads it);
    # other sites never see a path, which can hold an incident title or a setup link.
    (b"referrer-policy", b"same-origin"),
    # For browsers that predate frame-ancestors.
    (b"x-frame-options", b"DENY"),
)


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a request path."""
    if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/"):
        return DOCS_POLICY
    return PAGE_POLICY


_ADDED = {
    policy: ((b"content-security-policy", policy.encode()), *_COMMON)
    for policy in (PAGE_POLICY, DOCS_POLICY)
}


def added_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer to ``path`` gets (unless the route set them itself)."""
    return _ADDED[policy_for(path)]


def secured(response: Response, scope: Scope) -> Response:
    """``response`` with the headers ``SecurityHeaders`` would add (for a hot route, served
    outside it: web/hot_routes.py)."""
    if not isinstance(response, FixedResponse):  # which has them, and is never changed
        _add_missing(response.raw_headers, added_headers(str(scope["path"])))
    return response


class FixedResponse(Response):
    """An answer that is the same every time, made once (at import) with the headers
    ``SecurityHeaders`` adds for ``path`` in it already, so a hot route sends it as it is:
    checking and adding them for each request cost 3 % of a one-alert ``POST /api/v2/alerts``
    (callgrind, docs/benchmarks.md). Every request that gets it shares it: each answer sends a
    copy of its headers, so a layer that edits them in place changes only that answer."""

    def __init__(self, path: str, *, status_code: int = 200) -> None:
        super().__init__(status_code=status_code)
        _add_missing(self.raw_headers, added_headers(path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = list(self.raw_headers)
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _add_missing(
    headers: list[tuple[bytes, bytes]], added: tuple[tuple[bytes, bytes], ...]
) -> None:
    """Append the ``added`` headers ``headers`` does not have yet (the route's own win)."""
    present = {name.lower() for name, _ in headers}
    headers.extend(h for h in added if h[0] not in present)


class SecurityHeaders:
    """Adds CSP, ``nosniff``, ``Referrer-Policy`` and ``X-Frame-Options`` to every HTTP response
    that passes through it (headers the app already set win)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = added_headers(str(scope["path"]))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                _add_missing(headers, added)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SecuredApp(FastAPI):
    """A FastAPI app whose outermost layer is ``SecurityHeaders``.

    Starlette always builds ``ServerErrorMiddleware`` (which sends the response of the handler
    registered for ``Exception``) outside every middleware added with ``add_middleware``: a
    headers middleware added that way never sees an unexpected error's 500. Wrapping the built
    stack covers every answer, the 500 and Starlette's own plain-text fallback included.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())
