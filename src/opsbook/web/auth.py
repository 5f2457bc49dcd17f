"""Who a request acts as, and whether its role allows the route (issue 12).

A request presents an API token (``Authorization: Bearer opb_...``) or a browser session cookie
(``opsbook_session``). Routes declare what they need with one of the ``Annotated`` aliases:

    ViewerDep     reads                                  (every /api/v1 GET)
    ResponderDep  acts on incidents, alerts, silences    (every /api/v1 write)
    AdminDep      accounts, tokens, the audit log

``Public`` marks the routes open by design (health, readiness, metrics, heartbeat pings, the
API document) and ``IntegrationAuth`` the ingest routes that check their integration's own token;
a test walks every route and fails on one that declares neither, so a new route cannot be open
by accident.

A session can only change something with its CSRF token in ``X-CSRF-Token`` (synchronizer token
pattern): a cross-site form can send the cookie but cannot read the token. Bearer tokens are not
sent by browsers on their own, so they need none.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.engine import Connection

from opsbook.accounts import Principal, Role
from opsbook.accounts import service as accounts
from opsbook.errors import Forbidden, Unauthenticated
from opsbook.web.deps import ClockDep, EngineDep

SESSION_COOKIE = "opsbook_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`opsbook token create`), sent as `Authorization: Bearer opb_...`.",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="A browser session from logging in at /login; writes also need X-CSRF-Token.",
)


def client_address(request: Request) -> str:
    """The peer's address (uvicorn puts the forwarded one here for trusted proxies)."""
    return request.client.host if request.client else "unknown"


def current_principal(
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> Principal | None:
    """The principal the request's token or session names, or None. Resolved once per request
    (FastAPI caches it) and kept on ``request.state.principal`` for the access log."""
    with engine.begin() as conn:
        return resolve_principal(
            conn,
            request,
            bearer=bearer.credentials if bearer is not None else None,
            cookie=cookie,
            now=clock.now(),
        )


def resolve_principal(
    conn: Connection, request: Request, *, bearer: str | None, cookie: str | None, now: datetime
) -> Principal | None:
    """``current_principal`` on a connection the caller holds (a route that reads the store
    anyway does both in one transaction). Sets ``request.state.principal`` and, for a session,
    ``request.state.csrf``."""
    principal: Principal | None = None
    if bearer is not None:
        principal = accounts.resolve_token(conn, secret=bearer, now=now)
        if principal is None:
            raise Unauthenticated("the token is not valid (unknown, revoked or expired)")
    elif cookie:
        session = accounts.resolve_session(conn, cookie=cookie, now=now)
        if session is not None:
            principal = session.principal
            request.state.csrf = session.csrf
    request.state.principal = principal
    return principal


def credentials_of(request: Request) -> tuple[str | None, str | None]:
    """(bearer token, session cookie) as the ``Security`` dependencies read them."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    bearer = token if scheme.lower() == "bearer" and token else None
    return bearer, request.cookies.get(SESSION_COOKIE) or None


class Allow:
    """A dependency that admits principals whose role includes ``role``: 401 without one,
    403 with too weak a role, 403 for a session's write without its CSRF token."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(
        self,
        request: Request,
        principal: Annotated[Principal | None, Depends(current_principal)],
    ) -> Principal:
        if principal is None:
            raise Unauthenticated(
                "log in, or send Authorization: Bearer <token> (create one with "
                "`opsbook token create`)"
            )
        if not principal.role.allows(self.role):
            raise Forbidden(f"this needs the {self.role.value} role; you are a {principal.role}")
        if principal.via == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            expected = getattr(request.state, "csrf", "")
            if not sent or not hmac.compare_digest(sent, expected):
                raise Forbidden(f"a change from a browser session needs the {CSRF_HEADER} header")
        return principal


ALLOW_VIEWER = Allow(Role.VIEWER)
ALLOW_RESPONDER = Allow(Role.RESPONDER)
ALLOW_ADMIN = Allow(Role.ADMIN)

ViewerDep = Annotated[Principal, Depends(ALLOW_VIEWER)]
ResponderDep = Annotated[Principal, Depends(ALLOW_RESPONDER)]
AdminDep = Annotated[Principal, Depends(ALLOW_ADMIN)]


async def public() -> None:
    """Marks a route open to anyone by design (health, readiness, metrics, pings, docs)."""


async def integration_auth() -> None:
    """Marks an ingest route that checks its integration's own token in the handler."""


PUBLIC = Depends(public)
INTEGRATION_AUTH = Depends(integration_auth)
