"""``/api/v1/users``, ``/api/v1/tokens`` and ``/api/v1/audit``: accounts, API tokens and the audit
log, for admins only (issue 12); and ``/api/v1/me``, who a request acts as, for anyone logged in.

Every write commits with its audit event (actor: the admin's principal, origin ``api <address>``).
A setup link and a token's secret are answered once and stored only as digests. Errors name the
field and never repeat a value sent: a person's name or a token id in a path is not echoed, and
a token secret pasted into the wrong field never comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection, Engine

from opsbook.accounts import Principal, Role
from opsbook.accounts import service as accounts
from opsbook.accounts.service import SETUP_LINK_TTL, Account, TokenInfo
from opsbook.config import Config
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.store.audit import AuditEvent, list_audit, record_audit
from opsbook.types import JSONValue
from opsbook.web.auth import AdminDep, ViewerDep, client_address
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath

router = APIRouter(prefix="/api/v1", tags=["accounts"])

DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650
MAX_AUDIT_LIMIT = 1000

PersonPath = Annotated[
    str, Path(min_length=1, max_length=200, description="A person of `oncall.people`.")
]
BodyDep = Annotated[Any, Body()]
Model = TypeVar("Model", bound=BaseModel)


def public_base(config: Config) -> str:
    """Where people reach the server: ``server.public_url``, else ``http://host:port``."""
    if config.server.public_url is not None:
        return str(config.server.public_url).rstrip("/")
    host = config.server.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.server.port}"


def setup_link(config: Config, secret: str) -> str:
    """The one-time link a person opens to choose a password (valid ``SETUP_LINK_TTL``)."""
    return f"{public_base(config)}/setup/{secret}"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_In):
    person: str = Field(min_length=1, max_length=200)
    role: Role


class UserUpdate(_In):
    role: Role | None = None
    disabled: bool | None = None


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    person: str | None = Field(default=None, min_length=1, max_length=200)
    # Left out: 90 days. ``null``: the token never expires (an automation's, rotated by hand).
    expires_in_days: int | None = Field(default=DEFAULT_TOKEN_DAYS, ge=1, le=MAX_TOKEN_DAYS)


def _parse(model: type[Model], body: Any) -> Model:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in tuple(first["loc"])
        )
        message = {
            "missing": "is required",
            "extra_forbidden": "is not a known field",
            "enum": f"is not a role (use {', '.join(r.value for r in Role)})",
        }.get(first["type"], first["msg"])
        raise InputError(f"{path}: {message}", field=path, location="body") from None


def _origin(request: Request) -> str:
    return f"api {client_address(request)}"


class _Audit:
    """A write's transaction and the audit event that commits with it."""

    def __init__(self, conn: Connection, *, actor: str, origin: str, now: datetime) -> None:
        self.conn, self.actor, self.origin, self.now = conn, actor, origin, now

    def record(self, action: str, subject: str, detail: dict[str, JSONValue]) -> None:
        record_audit(
            self.conn,
            actor=self.actor,
            action=action,
            subject=subject,
            detail=detail,
            origin=self.origin,
            at=self.now,
        )


@contextmanager
def _writing(
    engine: Engine, request: Request, principal: Principal, *, now: datetime
) -> Iterator[_Audit]:
    with engine.begin() as conn:
        yield _Audit(conn, actor=principal.actor, origin=_origin(request), now=now)


def _no_account() -> NotFound:
    return NotFound("person: this person has no account", field="person")


def _user_json(item: Account, config: Config) -> dict[str, Any]:
    person = config.oncall.people.get(item.person)
    return {
        "person": item.person,
        "name": person.name if person is not None else item.person,
        "role": item.role.value,
        "has_password": item.has_password,
        "disabled": item.disabled_at is not None,
        "disabled_at": item.disabled_at,
        "created_at": item.created_at,
    }


def _token_json(item: TokenInfo, now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "person": item.person,
        "role": item.role.value,
        "prefix": item.prefix,
        "created_at": item.created_at,
        "created_by": item.created_by,
        "expires_at": item.expires_at,
        "last_used_at": item.last_used_at,
        "revoked_at": item.revoked_at,
        "state": item.state(now),
    }


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "detail": event.detail,
        "origin": event.origin,
    }


def _user(conn: Connection, person: str, config: Config) -> dict[str, Any]:
    for item in accounts.list_accounts(conn):
        if item.person == person:
            return _user_json(item, config)
    raise _no_account()


# --- who am I ---------------------------------------------------------------------------------


@router.get("/me", summary="Who the request acts as: the person or token, its role, and how.")
def me(principal: ViewerDep) -> dict[str, Any]:
    """What ``opsbook login`` checks a token with, and what the UI shows as "logged in as"."""
    return {
        "actor": principal.actor,
        "person": principal.person,
        "role": principal.role.value,
        "via": principal.via,
        "token": principal.token_name,
    }


# --- users ------------------------------------------------------------------------------------


@router.get("/users")
def list_users(_: AdminDep, engine: EngineDep, config: ConfigDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return {"users": [_user_json(a, config) for a in accounts.list_accounts(conn)]}


@router.post("/users", status_code=201)
def add_user(
    principal: AdminDep,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    body: BodyDep,
) -> dict[str, Any]:
    """Attach a login to a person; answers the one-time setup link (never shown again)."""
    user_in = _parse(UserCreate, body)
    if user_in.person not in config.oncall.people:
        raise InputError(
            "$.person: not one of oncall.people; add the person to opsbook.yaml first",
            field="$.person",
            location="body",
        )
    now = clock.now()
    with _writing(engine, request, principal, now=now) as audit:
        try:
            secret = accounts.add_account(
                audit.conn,
                person=user_in.person,
                role=user_in.role,
                people=config.oncall.people,
                now=now,
            )
        except Conflict:
            raise Conflict("$.person: this person already has an account") from None
        audit.record("account.add", f"account:{user_in.person}", {"role": user_in.role.value})
        user = _user(audit.conn, user_in.person, config)
    if secret is None:  # pragma: no cover - add_account without a password returns one
        raise RuntimeError("add_account returned no setup secret")
    return {
        "user": user,
        "setup_link": setup_link(config, secret),
        "setup_expires_at": now + SETUP_LINK_TTL,
    }


@router.patch("/users/{person}")
def update_user(
    person: PersonPath,
    principal: AdminDep,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    body: BodyDep,
) -> dict[str, Any]:
    """Change a role and/or disable or enable a login. Refused (409, nothing changed) when it
    would leave no enabled admin: nobody could then manage accounts through the API."""
    user_in = _parse(UserUpdate, body)
    if user_in.role is None and user_in.disabled is None:
        raise InputError("$: give role, disabled or both", field="$", location="body")
    now = clock.now()
    with _writing(engine, request, principal, now=now) as audit:
        try:
            if user_in.role is not None:
                accounts.set_role(audit.conn, person=person, role=user_in.role, now=now)
                audit.record("account.role", f"account:{person}", {"role": user_in.role.value})
            if user_in.disabled is not None:
                accounts.set_disabled(audit.conn, person=person, disabled=user_in.disabled, now=now)
                action = "account.disable" if user_in.disabled else "account.enable"
                audit.record(action, f"account:{person}", {})
        except NotFound:
            raise _no_account() from None
        if not accounts.has_admin(audit.conn):
            raise Conflict(
                "this would leave no enabled admin; make another admin first "
                "(or use `opsbook user` on the server's host)"
            )
        return _user(audit.conn, person, config)


@router.post("/users/{person}/reset")
def reset_user(
    person: PersonPath,
    principal: AdminDep,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """A new one-time setup link (a forgotten password); the old password keeps working until
    the link is used."""
    now = clock.now()
    with _writing(engine, request, principal, now=now) as audit:
        try:
            secret = accounts.reset_setup(audit.conn, person=person, now=now)
        except NotFound:
            raise _no_account() from None
        audit.record("account.reset", f"account:{person}", {})
    return {
        "person": person,
        "setup_link": setup_link(config, secret),
        "setup_expires_at": now + SETUP_LINK_TTL,
    }


# --- tokens -----------------------------------------------------------------------------------


@router.get("/tokens")
def list_tokens(_: AdminDep, engine: EngineDep, clock: ClockDep) -> dict[str, Any]:
    now = clock.now()
    with engine.begin() as conn:
        return {"tokens": [_token_json(t, now) for t in accounts.list_tokens(conn)]}


@router.post("/tokens", status_code=201)
def create_token(
    principal: AdminDep,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    body: BodyDep,
) -> dict[str, Any]:
    """A new token; answers its ``secret`` once (only a digest is stored)."""
    token_in = _parse(TokenCreate, body)
    now = clock.now()
    days = token_in.expires_in_days
    with _writing(engine, request, principal, now=now) as audit:
        try:
            info, secret = accounts.create_token(
                audit.conn,
                name=token_in.name,
                role=token_in.role,
                person=token_in.person,
                expires_at=None if days is None else now + timedelta(days=days),
                created_by=principal.actor,
                now=now,
            )
        except NotFound:
            raise InputError(
                "$.person: this person has no account", field="$.person", location="body"
            ) from None
        except InputError as exc:
            raise _token_error(exc) from None
        audit.record("token.create", f"token:{info.id}", _token_detail(info))
    return {"token": _token_json(info, now), "secret": secret}


def _token_error(exc: InputError) -> InputError:
    # The domain's sentence for a token above its person's role names the person: say it
    # without the value.
    if exc.field == "role":
        message = "$.role: a token cannot have more power than its person's role"
    else:
        message = f"$.{exc.field}: {exc.message.split(': ', 1)[-1]}"
    return InputError(message, field=f"$.{exc.field}", location="body")


def _token_detail(info: TokenInfo) -> dict[str, JSONValue]:
    return {
        "name": info.name,
        "person": info.person,
        "role": info.role.value,
        "prefix": info.prefix,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
    }


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: IdPath,
    principal: AdminDep,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Revoke a token now; revoking a revoked token is a no-op that answers it again."""
    now = clock.now()
    with _writing(engine, request, principal, now=now) as audit:
        try:
            info = accounts.revoke_token(audit.conn, token_id=token_id, now=now)
        except NotFound:
            raise NotFound("token_id: no token has this id", field="token_id") from None
        audit.record("token.revoke", f"token:{info.id}", {"name": info.name})
    return {"token": _token_json(info, now)}


# --- audit ------------------------------------------------------------------------------------


@router.get("/audit")
def audit_log(
    _: AdminDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
) -> dict[str, Any]:
    """The newest audit events, newest first."""
    with engine.begin() as conn:
        return {"events": [_event_json(e) for e in list_audit(conn, limit=limit)]}
