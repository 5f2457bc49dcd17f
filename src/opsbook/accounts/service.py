"""Accounts, API tokens, browser sessions and login throttling, on one connection each call.

Every function takes the caller's ``conn`` (its transaction) and ``now`` (the injected clock), so
a change and its audit event commit together. Values shown once (a token, a setup link, a session
cookie) are returned to the caller and stored only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from opsbook.accounts.roles import ROLE_NAMES, Principal, Role
from opsbook.accounts.tables import account, api_token, login_attempt, web_session
from opsbook.errors import Conflict, InputError, NotFound, Throttled, Unauthenticated

TOKEN_PREFIX = "opb_"
SETUP_LINK_TTL = timedelta(hours=24)
SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1000

# Throttling (OWASP's advice): per account, slow a guesser down without letting a stranger lock a
# person out for long; per address, stop one host spraying many accounts.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20

# argon2-cffi's defaults are RFC 9106's second recommendation (argon2id, 64 MiB, t=3).
_HASHER = PasswordHasher()
# Verified against when the account does not exist, so the answer takes as long either way.
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")
# A token's last use is written at most this often: a busy automation does not write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Account:
    person: str
    role: Role
    has_password: bool
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    person: str | None
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def parse_role(text: str, *, field: str = "role") -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InputError(f"{field}: not a role (use {ROLE_NAMES})", field=field) from None


def check_password(password: str, *, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"{field}: use at least {MIN_PASSWORD_CHARS} characters", field=field)
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"{field}: use at most {MAX_PASSWORD_CHARS} characters", field=field)
    return password


# --- accounts ---------------------------------------------------------------------------------


def add_account(
    conn: Connection,
    *,
    person: str,
    role: Role,
    people: Collection[str],
    now: datetime,
    password: str | None = None,
) -> str | None:
    """Attach a login to ``person`` (one of ``people``, the config's ``oncall.people``).

    With ``password`` the account can log in at once and None is returned; without, the
    returned one-time setup secret (valid ``SETUP_LINK_TTL``) lets the person choose one.
    """
    if person not in people:
        known = ", ".join(sorted(people)) or "none are configured"
        raise InputError(
            f"person: not one of oncall.people ({known}); add the person to opsbook.yaml first",
            field="person",
        )
    if conn.execute(sa.select(account.c.id).where(account.c.person == person)).first():
        raise Conflict(f"{person} already has an account (change it with `opsbook user set`)")
    setup = None if password is not None else new_secret()
    conn.execute(
        account.insert().values(
            person=person,
            role=role.value,
            password_hash=_HASHER.hash(check_password(password)) if password else None,
            setup_hash=digest(setup) if setup else None,
            setup_expires_at=now + SETUP_LINK_TTL if setup else None,
            created_at=now,
            updated_at=now,
        )
    )
    return setup


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(sa.select(account).order_by(account.c.person))
    return [
        Account(
            person=row.person,
            role=Role(row.role),
            has_password=row.password_hash is not None,
            created_at=row.created_at,
            disabled_at=row.disabled_at,
        )
        for row in rows
    ]


def has_admin(conn: Connection) -> bool:
    """True when an enabled admin account with a password or a pending setup link exists."""
    row = conn.execute(
        sa.select(account.c.id)
        .where(account.c.role == Role.ADMIN.value, account.c.disabled_at.is_(None))
        .limit(1)
    ).first()
    return row is not None


def set_role(conn: Connection, *, person: str, role: Role, now: datetime) -> None:
    _require(conn, person)
    conn.execute(
        account.update().where(account.c.person == person).values(role=role.value, updated_at=now)
    )


def set_disabled(conn: Connection, *, person: str, disabled: bool, now: datetime) -> None:
    """Disable (or enable) a login; a disabled person's sessions end at once."""
    _require(conn, person)
    conn.execute(
        account.update()
        .where(account.c.person == person)
        .values(disabled_at=now if disabled else None, updated_at=now)
    )
    if disabled:
        conn.execute(web_session.delete().where(web_session.c.person == person))


def reset_setup(conn: Connection, *, person: str, now: datetime) -> str:
    """A new one-time setup secret for ``person`` (a forgotten password); returns it."""
    _require(conn, person)
    setup = new_secret()
    conn.execute(
        account.update()
        .where(account.c.person == person)
        .values(setup_hash=digest(setup), setup_expires_at=now + SETUP_LINK_TTL, updated_at=now)
    )
    return setup


def complete_setup(conn: Connection, *, setup: str, password: str, now: datetime) -> str:
    """Set the password of the account ``setup`` was issued for; returns its person. The
    secret works once and not after it expires."""
    check_password(password)
    row = conn.execute(
        sa.select(account.c.person, account.c.setup_expires_at).where(
            account.c.setup_hash == digest(setup)
        )
    ).first()
    if row is None or row.setup_expires_at is None or row.setup_expires_at <= now:
        raise Unauthenticated("this setup link is not valid (used, expired or mistyped)")
    _set_password(conn, person=row.person, password=password, now=now)
    return str(row.person)


def set_password(conn: Connection, *, person: str, password: str, now: datetime) -> None:
    _require(conn, person)
    _set_password(conn, person=person, password=check_password(password), now=now)


def _set_password(conn: Connection, *, person: str, password: str, now: datetime) -> None:
    conn.execute(
        account.update()
        .where(account.c.person == person)
        .values(
            password_hash=_HASHER.hash(password),
            setup_hash=None,
            setup_expires_at=None,
            updated_at=now,
        )
    )
    # A new password ends every session the old one opened.
    conn.execute(web_session.delete().where(web_session.c.person == person))


def _require(conn: Connection, person: str) -> sa.Row[tuple[object, ...]]:
    row = conn.execute(sa.select(account).where(account.c.person == person)).first()
    if row is None:
        raise NotFound(f"{person} has no account (add one with `opsbook user add`)", field="person")
    return row


# --- logging in -------------------------------------------------------------------------------


def check_throttle(conn: Connection, *, person: str, address: str, now: datetime) -> None:
    """``Throttled`` when ``person`` or ``address`` has failed too often in the window."""
    since = now - THROTTLE_WINDOW
    for column, value, limit in (
        (login_attempt.c.person, person, MAX_FAILURES_PER_ACCOUNT),
        (login_attempt.c.address, address, MAX_FAILURES_PER_ADDRESS),
    ):
        failures = conn.execute(
            sa.select(login_attempt.c.at)
            .where(column == value, login_attempt.c.at > since, login_attempt.c.ok.is_(False))
            .order_by(login_attempt.c.at.desc())
            .limit(limit)
        ).all()
        if len(failures) >= limit:
            oldest = failures[-1].at
            wait = max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
            raise Throttled(
                "too many failed logins; try again in a few minutes", retry_after_s=wait
            )


def log_in(
    conn: Connection, *, person: str, password: str, address: str, now: datetime
) -> Principal | None:
    """The principal for ``person`` if ``password`` is theirs, else None. Every attempt is
    recorded in ``conn``'s transaction (so a failure returns rather than raises: the caller
    commits it and throttling counts it); too many failures are ``Throttled`` before the
    password is even checked."""
    check_throttle(conn, person=person, address=address, now=now)
    row = conn.execute(sa.select(account).where(account.c.person == person)).first()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    try:
        ok = _HASHER.verify(stored, password) and row is not None and row.password_hash
    except (VerificationError, InvalidHashError):
        ok = False
    ok = bool(ok) and row is not None and row.disabled_at is None
    conn.execute(login_attempt.insert().values(at=now, person=person, address=address, ok=ok))
    if not ok or row is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        conn.execute(
            account.update()
            .where(account.c.person == person)
            .values(password_hash=_HASHER.hash(password))
        )
    return Principal(role=Role(row.role), via="session", person=person)


def prune_login_attempts(conn: Connection, *, now: datetime) -> int:
    """Forget attempts older than the throttling window (they decide nothing any more)."""
    result = conn.execute(login_attempt.delete().where(login_attempt.c.at <= now - THROTTLE_WINDOW))
    return int(result.rowcount or 0)


# --- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


def open_session(conn: Connection, *, person: str, address: str, now: datetime) -> tuple[str, str]:
    """A new session for ``person``; returns (cookie value, CSRF token)."""
    cookie, csrf = new_secret(), new_secret()
    conn.execute(
        web_session.insert().values(
            session_hash=digest(cookie),
            person=person,
            csrf=csrf,
            address=address[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_MAX,
        )
    )
    return cookie, csrf


# Built once: every request with a cookie or token runs one, and building the statement (the
# join's ON clause, the comparisons, the cache key) cost 0.2 ms, five times running it.
_SESSION = (
    sa.select(web_session, account.c.role, account.c.disabled_at)
    .join(account, account.c.person == web_session.c.person)
    .where(web_session.c.session_hash == sa.bindparam("hash"))
)
_TOKEN = sa.select(api_token).where(api_token.c.token_hash == sa.bindparam("hash"))
_TOKEN_OWNER = sa.select(account.c.role, account.c.disabled_at).where(
    account.c.person == sa.bindparam("person")
)


def resolve_session(conn: Connection, *, cookie: str, now: datetime) -> Session | None:
    """The session ``cookie`` names, if it is live (used within ``SESSION_IDLE`` and younger
    than ``SESSION_MAX``) and its account is enabled; touches its last-seen time."""
    row = conn.execute(_SESSION, {"hash": digest(cookie)}).first()
    if row is None or row.disabled_at is not None:
        return None
    if row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        conn.execute(web_session.delete().where(web_session.c.id == row.id))
        return None
    if now - row.last_seen_at >= LAST_USED_RESOLUTION:
        conn.execute(
            web_session.update().where(web_session.c.id == row.id).values(last_seen_at=now)
        )
    principal = Principal(role=Role(row.role), via="session", person=row.person)
    return Session(principal=principal, csrf=row.csrf)


def close_session(conn: Connection, *, cookie: str) -> None:
    conn.execute(web_session.delete().where(web_session.c.session_hash == digest(cookie)))


# --- API tokens -------------------------------------------------------------------------------


def create_token(
    conn: Connection,
    *,
    name: str,
    role: Role,
    person: str | None,
    expires_at: datetime | None,
    created_by: str,
    now: datetime,
) -> tuple[TokenInfo, str]:
    """A new token; returns its record and the secret, which is shown once and never again.

    A person's token never has more power than the person: its role is capped by theirs when
    used (``resolve_token``) and refused here if it asks for more.
    """
    if not name.strip() or len(name) > 100:
        raise InputError("name: give the token a name of 1 to 100 characters", field="name")
    if expires_at is not None and expires_at <= now:
        raise InputError("expires_at: the token would expire in the past", field="expires_at")
    if person is not None:
        owner = _require(conn, person)
        if not Role(owner.role).allows(role):
            raise InputError(
                f"role: {person} is a {owner.role}; a token cannot have more power than its person",
                field="role",
            )
    secret = TOKEN_PREFIX + new_secret()
    values = {
        "name": name,
        "person": person,
        "role": role.value,
        "token_hash": digest(secret),
        "prefix": secret[:10],
        "created_at": now,
        "created_by": created_by,
        "expires_at": expires_at,
    }
    key = conn.execute(api_token.insert().values(**values)).inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new token id")
    info = TokenInfo(
        id=int(key[0]),
        name=name,
        person=person,
        role=role,
        prefix=secret[:10],
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=None,
    )
    return info, secret


def resolve_token(conn: Connection, *, secret: str, now: datetime) -> Principal | None:
    """The principal ``secret`` acts as, or None when it is unknown, revoked or expired, or its
    person's account is disabled or gone."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(_TOKEN, {"hash": digest(secret)}).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    role = Role(row.role)
    if row.person is not None:
        owner = conn.execute(_TOKEN_OWNER, {"person": row.person}).first()
        if owner is None or owner.disabled_at is not None:
            return None
        role = min(role, Role(owner.role), key=lambda r: r.rank)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        conn.execute(api_token.update().where(api_token.c.id == row.id).values(last_used_at=now))
    return Principal(
        role=role, via="token", person=row.person, token_name=row.name, token_id=int(row.id)
    )


def list_tokens(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute(sa.select(api_token).order_by(api_token.c.id))
    return [_token_info(row) for row in rows]


def revoke_token(conn: Connection, *, token_id: int, now: datetime) -> TokenInfo:
    row = conn.execute(sa.select(api_token).where(api_token.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token has id {token_id}", field="token_id")
    if row.revoked_at is None:
        conn.execute(api_token.update().where(api_token.c.id == token_id).values(revoked_at=now))
    revoked = conn.execute(sa.select(api_token).where(api_token.c.id == token_id)).one()
    return _token_info(revoked)


def _token_info(row: sa.Row[tuple[object, ...]]) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        id=int(m["id"]),
        name=str(m["name"]),
        person=m["person"],
        role=Role(str(m["role"])),
        prefix=str(m["prefix"]),
        created_at=m["created_at"],
        created_by=str(m["created_by"]),
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )
