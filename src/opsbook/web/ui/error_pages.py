"""The UI's HTML answers for errors (web/errors.py asks ``app.state.error_page`` first).

A browser that asks a page outside ``/api/`` for HTML gets, for a 401, the login form with
``next`` set to where it was going (303), and for another 4xx a page in the layout with the
message (which never repeats a submitted value: web/errors.py). API clients, and anything not
asking for HTML, keep the JSON body.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from opsbook.web.ui.session import login_redirect_target
from opsbook.web.ui.templating import Pages

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
}


def wants_page(request: Request) -> bool:
    """A browser's request for a UI page: not the API, and HTML is what it accepts."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


class ErrorPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def __call__(self, request: Request, status: int, message: str) -> Response | None:
        if not wants_page(request):
            return None
        if status == 401:
            return RedirectResponse(login_redirect_target(request), status_code=303)
        if status == 404 and message == "Not Found":
            message = "There is no page at this address."
        return self.pages.render(
            request,
            "error.html",
            {"title": TITLES.get(status, "Error"), "status": status, "message": message},
            # Set by current_principal when the route got that far (not for an unknown path).
            principal=getattr(request.state, "principal", None),
            status_code=status,
        )


def install(app: FastAPI, pages: Pages) -> None:
    app.state.error_page = ErrorPages(pages)
