"""Exception handlers: each error family becomes one status and one JSON body shape (R13).

    {"error": {"message": "...", "field": "body.checks[0].url" | null, "location": "body" | null}}

No stack traces and no input values are echoed back: a rejected value may be a secret. That is
the raising code's promise (its message names the field and what it accepts), not a filter here:
a filter cannot know every form a value takes in a sentence.

A store outage met by any route (the connection refused, dropped or timed out; SQLite busy or
unable to open its file) is a 503 with ``Retry-After`` and one warning line, not a 500 with a
traceback: it is not a bug, and the sender should retry.

A browser asking a UI page (not ``/api/``) for HTML gets the UI's page for a 4xx instead
(``app.state.error_page``, installed by web/ui/error_pages.py), so this module imports no UI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from opsbook.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InputError,
    NotFound,
    OpsbookError,
    StoreError,
    Throttled,
    Unauthenticated,
)
from opsbook.store.engine import unreachable

log = structlog.get_logger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[OpsbookError], int], ...] = (
    (InputError, 400),
    (ConfigError, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (Throttled, 429),
    (StoreError, 503),
)

AUTH_CHALLENGE = 'Bearer realm="opsbook"'


RETRY_AFTER_SECONDS = 5
"""What a 503 for a store outage asks the sender to wait (``Retry-After``)."""
STORE_UNAVAILABLE = "the store is unavailable; retry later"

# sqlite3 raises OperationalError for a syntax error too (a bug, so a 500); these result codes
# are the ones that mean the file cannot be used right now.
_SQLITE_OUTAGES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


STORE_ERRORS = (sa_exc.DBAPIError, sa_exc.TimeoutError)
"""What a store call can raise; ``store_outage`` says which of them is an outage."""


def store_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the store cannot be reached or used now, not that the request or
    the code is wrong: psycopg's OperationalError (refused, terminated, admin shutdown, no such
    database), a connection SQLAlchemy invalidated, a pool timeout, or SQLite busy or unable
    to open its file."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        name = getattr(exc.orig, "sqlite_errorname", "") or ""
        return name.startswith(_SQLITE_OUTAGES)
    return True


def log_store_outage(request: Request, exc: BaseException) -> None:
    """One structured warning line naming the route, the store (password masked) and the
    driver's reason, without a traceback."""
    services = getattr(request.app.state, "services", None)
    engine = getattr(services, "engine", None)
    if isinstance(exc, sa_exc.DBAPIError) and isinstance(engine, Engine):
        error = str(unreachable(engine, exc))
    else:
        error = f"store unreachable: {type(exc).__name__}"
    log.warning("store_unavailable", path=request.url.path, error=error)


ErrorPage = Callable[[Request, int, str], Response | None]
"""``app.state.error_page``: the UI's HTML answer for a 4xx (status, message), or None."""


def _page(request: Request, status: int, message: str) -> Response | None:
    render: ErrorPage | None = getattr(request.app.state, "error_page", None)
    return render(request, status, message) if render is not None and status < 500 else None


def error_body(
    message: str, *, field: str | None = None, location: str | None = None
) -> dict[str, dict[str, str | None]]:
    return {"error": {"message": message, "field": field or None, "location": location or None}}


def json_path(loc: Sequence[str | int]) -> str:
    """``("body", "checks", 0, "url")`` -> ``body.checks[0].url``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


async def _opsbook_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, OpsbookError):  # pragma: no cover - registered for OpsbookError only
        raise exc
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
    field = getattr(exc, "field", None)
    location = getattr(exc, "location", None)
    if status >= 500:
        log.warning("request_failed", error=str(exc), error_type=type(exc).__name__)
    # The message goes out as it is: an error a request can cause names the field and what it
    # accepts, never the value sent (tests/web/test_api_no_echo.py, test_api_body_no_echo.py).
    message = str(exc)
    page = _page(request, status, message)
    if page is not None:
        return page
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = AUTH_CHALLENGE
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(
        error_body(message, field=field, location=location), status_code=status, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = tuple(first.get("loc", ()))
    field = json_path(loc)
    message = f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    location = str(loc[0]) if loc else None
    page = _page(request, 400, message)
    if page is not None:
        return page
    return JSONResponse(error_body(message, field=field, location=location), status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    page = _page(request, exc.status_code, str(exc.detail))
    if page is not None:
        return page
    return JSONResponse(
        error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if store_outage(exc):
        log_store_outage(request, exc)
        return JSONResponse(
            error_body(STORE_UNAVAILABLE),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal error; see the server log"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(OpsbookError, _opsbook_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
