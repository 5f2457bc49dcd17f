"""Who a page is for, and the checks a browser's form post must pass.

* Pages use ``PageDep``: ViewerDep's rule (any logged-in role reads), but an anonymous visitor
  is sent to ``/login?next=<this page>`` (303) instead of getting a JSON 401.
* A form that changes something carries a hidden ``csrf_token`` field equal to the session's
  token (the synchronizer token pattern, as the API's ``X-CSRF-Token`` header): ``FormDep``.
* The login and setup forms have no session yet, so they cannot carry its token. They refuse a
  post whose ``Origin`` (or, without one, ``Referer``) is another site: a cross-site form could
  otherwise log the victim in as the attacker ("login CSRF"). We check the origin rather than
  issue a pre-session token because it needs no state and no cookie for anonymous visitors, and
  every browser that runs our pages sends ``Origin`` on a POST.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from opsbook.accounts import Principal, Role
from opsbook.accounts.service import SESSION_MAX
from opsbook.config import Config
from opsbook.errors import Forbidden, InputError
from opsbook.web.auth import SESSION_COOKIE, current_principal
from opsbook.web.deps import get_config

CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/login"
FORM_MAX_BYTES = 64 * 1024
FORM_MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"


class LoginRequired(Exception):
    """An anonymous visitor asked for a page; answered with a 303 to the login form."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def safe_next(raw: str | None) -> str:
    """``raw`` if it is a path on this site (``/incidents/3?x=1``), else ``/``.

    Refuses anything a browser could read as another origin: a scheme or host
    (``https://evil``, ``//evil``), a backslash (``/\\evil``, which browsers treat as ``//``),
    and control characters.
    """
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


def login_redirect_target(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{LOGIN_PATH}?next={quote(safe_next(here), safe='/')}"


async def page_principal(
    request: Request,
    principal: Annotated[Principal | None, Depends(current_principal)],
) -> Principal:
    if principal is None:
        raise LoginRequired(login_redirect_target(request))
    return principal


PageDep = Annotated[Principal, Depends(page_principal)]


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request: Request, config: Config) -> set[str]:
    """The origins this server answers as: the request's own, and ``server.public_url``'s."""
    origins = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    if config.server.public_url is not None:
        public = _origin_of(str(config.server.public_url))
        if public is not None:
            origins.add(public)
    return origins


def require_same_origin(request: Request) -> None:
    """Raises ``Forbidden`` unless the post came from one of this server's own pages.

    ``Origin`` decides when present (``null`` is refused); without it, ``Referer``. A request
    with neither did not come from a browser form, so it cannot be a cross-site one.
    """
    config = get_config(request)
    sent = request.headers.get("origin")
    if sent is None:
        referer = request.headers.get("referer")
        if referer is None:
            return
        sent = _origin_of(referer) or "null"
    if sent.lower() not in own_origins(request, config):
        raise Forbidden("this form must be sent from opsbook's own page")


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form post (the only kind our pages send); the last value of a
    repeated field wins. Refuses another content type, a body over ``FORM_MAX_BYTES`` and more
    than ``FORM_MAX_FIELDS`` fields with ``InputError``.

    Parsed here with the stdlib rather than through python-multipart: the UI posts no files.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise InputError(f"body: send the form as {FORM_TYPE}", field="body", location="body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_MAX_BYTES:
        raise InputError(
            f"body: a form is at most {FORM_MAX_BYTES // 1024} KiB", field="body", location="body"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            raise InputError(
                f"body: a form is at most {FORM_MAX_BYTES // 1024} KiB",
                field="body",
                location="body",
            )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=FORM_MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise InputError(
            "body: not a form (UTF-8, at most 100 fields)", field="body", location="body"
        ) from None
    return dict(pairs)


async def form_principal(request: Request, principal: PageDep) -> Principal:
    """A page principal whose form carried its session's CSRF token (tokens need none).

    The parsed form is kept on ``request.state.form`` for the handler."""
    form = await read_form(request)
    request.state.form = form
    if principal.via == "session":
        sent = form.get(CSRF_FIELD)
        expected = getattr(request.state, "csrf", "")
        if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent, expected):
            raise Forbidden("the form is out of date or came from another site; reload the page")
    return principal


FormDep = Annotated[Principal, Depends(form_principal)]


def needs_role(principal: Principal, role: Role) -> None:
    if not principal.role.allows(role):
        raise Forbidden(f"this needs the {role.value} role; you are a {principal.role}")


def is_secure(request: Request) -> bool:
    """Whether the session cookie must be ``Secure``: served over https, or published as such."""
    if request.url.scheme == "https":
        return True
    public = get_config(request).server.public_url
    return public is not None and str(public).startswith("https:")


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_MAX.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(request)
    )
