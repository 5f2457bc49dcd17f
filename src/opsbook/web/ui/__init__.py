"""The web UI: server-rendered pages (Jinja2 templates in ``web/templates``, CSS and a little
JS in ``web/static/ui``), the login and its session cookie, and the live-update event stream.

Pages call the domains' services directly, as the API routes do. ``install(app)`` adds the
routes and answers an anonymous visitor of a page with a redirect to the login form.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from opsbook.web.ui import (
    alerts,
    audit,
    checks,
    error_pages,
    events,
    incidents,
    login,
    notifications,
    oncall,
    overview,
    runbooks,
    runs,
    silences,
)
from opsbook.web.ui.events import EventHub
from opsbook.web.ui.overview_data import StatsCache
from opsbook.web.ui.session import LoginRequired
from opsbook.web.ui.templating import Pages

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the UI's routes to ``app`` (built by ``create_app``). ``app.state.ui_events`` is the
    event hub; its ``close()`` ends every open event stream."""
    engine = app.state.services.engine
    pages, login_routes, page_routes = _shared()
    hub = EventHub(engine)
    app.state.ui_events = hub
    app.include_router(login_routes)
    app.include_router(overview.router(pages, StatsCache(clock=app.state.services.clock)))
    # The busiest page is matched first: the router tries its entries in order, and reaching
    # "/" after every API router cost 9 % of the overview's CPU (py-spy). It matches "/" alone.
    app.router.routes.insert(0, app.router.routes.pop())
    app.include_router(events.router(hub))
    for routes in page_routes:
        app.include_router(routes)
    error_pages.install(app, pages)

    async def to_login(request: Request, exc: Exception) -> Response:
        location = exc.location if isinstance(exc, LoginRequired) else "/login"
        return RedirectResponse(location, status_code=303)

    app.add_exception_handler(LoginRequired, to_login)


@functools.cache
def _shared() -> tuple[Pages, APIRouter, tuple[APIRouter, ...]]:
    """The page renderer, the login's routes and the pages' routes (in matching order): they
    hold nothing of one app (each page reads the config, engine and clock from its request),
    so a process builds them once, as the API's module-level routers. FastAPI analyses every
    route's signature as it is added, ~60 ms for these; a server builds one app, but the
    tests build ~1,500."""
    pages = Pages()
    page_routes = (
        alerts,
        silences,
        oncall,
        runbooks,
        runs,
        notifications,
        audit,
        checks,
        incidents,
    )
    return pages, login.router(pages), tuple(module.router(pages) for module in page_routes)
