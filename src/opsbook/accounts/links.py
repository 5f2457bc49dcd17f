"""Signed, single-use, expiring action links: the "Acknowledge" link a page carries, which acts
as the person paged with one click and no login (as PagerDuty's do).

A link is ``<payload>.<signature>``, both base64url: the payload is compact JSON naming the
action, the incident, the person, the expiry and a random id; the signature is HMAC-SHA256 under
the store's ``links`` key (``server_key``), made on first use so every process of a deployment
signs and checks alike. A used link's id is kept (``used_link``), so it works once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.accounts.tables import server_key, used_link
from opsbook.errors import Unauthenticated

LINK_TTL = timedelta(hours=24)
"""How long a page's acknowledge link works: longer than any escalation, shorter than a week."""

_KEY_NAME = "links"
_INVALID = "this link is not valid (mistyped, expired or already used); log in to act instead"


@dataclass(frozen=True)
class ActionLink:
    action: str
    incident_id: int
    person: str
    expires_at: datetime
    link_id: str


def signing_key(conn: Connection, *, now: datetime) -> bytes:
    """The store's link-signing key, made (once, race-free) the first time it is needed."""
    row = conn.execute(sa.select(server_key.c.secret).where(server_key.c.name == _KEY_NAME)).first()
    if row is None:
        # Another process may make it first: then this insert fails and its key is read.
        with contextlib.suppress(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(
                server_key.insert().values(
                    name=_KEY_NAME, secret=secrets.token_hex(32), created_at=now
                )
            )
        row = conn.execute(
            sa.select(server_key.c.secret).where(server_key.c.name == _KEY_NAME)
        ).one()
    return bytes.fromhex(str(row.secret))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, *, action: str, incident_id: int, person: str, expires_at: datetime) -> str:
    payload = {
        "a": action,
        "i": incident_id,
        "p": person,
        "e": int(expires_at.timestamp()),
        "n": secrets.token_urlsafe(12),
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify(key: bytes, token: str, *, now: datetime) -> ActionLink:
    """The link ``token`` stands for, if its signature is ours and it has not expired; else
    ``Unauthenticated`` (one message for every way it can be wrong)."""
    body, _, signature = token.partition(".")
    try:
        expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise Unauthenticated(_INVALID)
        payload = json.loads(_unb64(body))
        link = ActionLink(
            action=str(payload["a"]),
            incident_id=int(payload["i"]),
            person=str(payload["p"]),
            expires_at=datetime.fromtimestamp(int(payload["e"]), tz=UTC),
            link_id=hashlib.sha256(token.encode()).hexdigest(),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise Unauthenticated(_INVALID) from None
    if link.expires_at <= now:
        raise Unauthenticated(_INVALID)
    return link


def use(conn: Connection, link: ActionLink, *, now: datetime) -> None:
    """Mark ``link`` used in ``conn``'s transaction; ``Unauthenticated`` if it already was."""
    try:
        with conn.begin_nested():
            conn.execute(used_link.insert().values(link_id=link.link_id, used_at=now))
    except sa.exc.IntegrityError:
        raise Unauthenticated(_INVALID) from None
