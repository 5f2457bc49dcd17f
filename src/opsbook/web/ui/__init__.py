"""The web UI: server-rendered pages (Jinja2 templates in ``web/templates``, CSS and a little
JS in ``web/static/ui``), the login and its session cookie, and the live-update event stream.

Pages call the domains' services directly, as the API routes do. ``install(app)`` adds the
routes and answers an anonymous visitor of a page with a redirect to the login form.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
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
    pages = Pages()
    hub = EventHub(engine)
    app.state.ui_events = hub
    app.include_router(login.router(pages))
    app.include_router(overview.router(pages, StatsCache(clock=app.state.services.clock)))
    # The busiest page is matched first: the router tries its entries in order, and reaching
    # "/" after every API router cost 9 % of the overview's CPU (py-spy). It matches "/" alone.
    app.router.routes.insert(0, app.router.routes.pop())
    app.include_router(events.router(hub))
    app.include_router(alerts.router(pages))
    app.include_router(silences.router(pages))
    app.include_router(oncall.router(pages))
    app.include_router(runbooks.router(pages))
    app.include_router(runs.router(pages))
    app.include_router(notifications.router(pages))
    app.include_router(audit.router(pages))
    app.include_router(checks.router(pages))
    app.include_router(incidents.router(pages))
    error_pages.install(app, pages)

    async def to_login(request: Request, exc: Exception) -> Response:
        location = exc.location if isinstance(exc, LoginRequired) else "/login"
        return RedirectResponse(location, status_code=303)

    app.add_exception_handler(LoginRequired, to_login)
