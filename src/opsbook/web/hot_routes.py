"""Hot routes: a route answered ahead of the whole middleware stack (issue 15).

Prometheus posts to ``/api/v2/alerts`` more often than every other request put together, and a
one-alert post cost about as much in the eleven layers around the endpoint (Starlette's and
FastAPI's error, telemetry and body-limit layers, our request log, status page, body limits,
memory gate and ping shortcut, each a coroutine and a wrapped ``send``) as in the endpoint.
``HotApp.__call__`` hands a hot route's request to ``HotRoutes.serve``, one coroutine that
does what those layers do for this route, and everything else to the stack as before.

What ``serve`` keeps, layer by layer:

- the request log and metrics: the app's one ``RequestObserver`` records it, under the route's
  template, as if the request had passed through it (``RequestObserver.record``);
- the security headers (``security.secured``), on every answer, the 500 included;
- an error the endpoint raises gets the answer of the handler registered for its class, as
  Starlette's ``ExceptionMiddleware`` would give; anything else gets the ``Exception``
  handler's answer (the 500, the 503 of a store outage) and is raised again for the server to
  log, as ``ServerErrorMiddleware`` does;
- the body limits: a hot route reads and limits its body itself (``BodyLimit`` lets it through
  anyway); a body larger than ``max_body`` or of no declared length takes the full stack, so
  ``LargeBodyGate`` still sees every large body.

The route stays registered on its router, so ``/openapi.json`` describes it, and a request the
hot path declines is served by the stack exactly as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from opsbook.web.body_limit import declared_length
from opsbook.web.middleware import RequestObserver
from opsbook.web.security import SecuredApp, secured

if TYPE_CHECKING:
    from starlette.applications import Starlette

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    route: Any
    """What the router would put in ``scope["route"]``: the log and metrics name it by it."""
    endpoint: Endpoint
    max_body: int
    """Declared bodies up to this size are served here; larger ones take the stack."""


class HotRoutes:
    """The app's hot routes, by method and path, and the one coroutine that serves them."""

    def __init__(self, app: Starlette) -> None:
        self._app = app
        self._routes: dict[tuple[str, str], HotRoute] = {}
        self._observer: tuple[object, RequestObserver | None] = (None, None)

    def add(self, method: str, path: str, hot: HotRoute) -> None:
        self._routes[(method, path)] = hot

    def clear(self) -> None:
        """No hot routes: every request takes the stack (tests compare the two)."""
        self._routes.clear()

    def find(self, scope: Scope) -> HotRoute | None:
        """The hot route for this request, or None when the stack should serve it."""
        if not self._routes or scope["type"] != "http":
            return None
        hot = self._routes.get((scope["method"], get_route_path(scope)))
        if hot is None:
            return None
        length = declared_length(scope)
        return hot if length is not None and length <= hot.max_body else None

    async def serve(self, scope: Scope, receive: Receive, send: Send, hot: HotRoute) -> None:
        app = self._app
        observer = self._find_observer()
        clock = observer.clock if observer is not None else None
        started = clock.monotonic() if clock is not None else 0.0
        status = 500
        scope["app"] = app
        scope["route"] = hot.route
        request = Request(scope, receive, send)
        try:
            try:
                response = await hot.endpoint(request)
            except Exception as exc:
                handler = handler_for(app, exc)
                if handler is None:
                    # ServerErrorMiddleware's part: the Exception handler's answer, then the
                    # error again, for the server to log.
                    response = await _answer(_server_error_handler(app), request, exc)
                    status = response.status_code
                    await secured(response, scope)(scope, receive, send)
                    raise
                response = await _answer(handler, request, exc)
            status = response.status_code
            await secured(response, scope)(scope, receive, send)
        finally:
            if observer is not None and clock is not None:
                observer.record(scope, status, clock.monotonic() - started)

    def _find_observer(self) -> RequestObserver | None:
        """The app's ``RequestObserver`` in the built stack (found once per stack)."""
        stack = self._app.middleware_stack
        built, observer = self._observer
        if built is stack:
            return observer
        node: Any = stack
        while node is not None and not isinstance(node, RequestObserver):
            node = getattr(node, "app", None)
        self._observer = (stack, node)
        return node


def handler_for(app: object, exc: Exception) -> Any:
    """The app's handler for ``exc`` (by class, most specific first), as Starlette's
    ``ExceptionMiddleware`` finds it; None for ``Exception`` itself, which is
    ``ServerErrorMiddleware``'s to answer."""
    handlers: dict[Any, Any] = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _server_error_handler(app: Starlette) -> Any:
    """What ``ServerErrorMiddleware`` answers with (see ``Starlette.build_middleware_stack``)."""
    handlers = app.exception_handlers
    return handlers.get(500) or handlers.get(Exception) or _plain_500


def _plain_500(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Internal Server Error", status_code=500)


async def _answer(handler: Any, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        response: Response = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    return response


class HotApp(SecuredApp):
    """The app: ``SecuredApp`` whose hot routes (``hot_routes``) skip the middleware stack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hot_routes = HotRoutes(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.root_path:
            scope["root_path"] = self.root_path
        # Until the stack is built (the first request, or the lifespan), the stack's own path
        # builds it: the observer is found in it.
        hot = self.hot_routes.find(scope) if self.middleware_stack is not None else None
        if hot is None:
            await super().__call__(scope, receive, send)
            return
        await self.hot_routes.serve(scope, receive, send, hot)
