"""The accounts domain's tables, on the shared metadata; created by the 2026-12-05 accounts
migration.

Secrets are never stored: passwords as argon2id hashes, API tokens, session cookies and one-time
setup links as SHA-256 digests of 256-bit random values (a fast digest is enough for values that
cannot be guessed, and lets every request find its token by index). ``server_key`` holds the key
that signs acknowledge links, made once per store so every process of a deployment agrees.
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, metadata

account = sa.Table(
    "account",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    # The person's id in ``oncall.people``: an account is a login attached to a person.
    sa.Column("person", sa.String(100), nullable=False, unique=True),
    # "viewer", "responder", "admin".
    sa.Column("role", sa.String(16), nullable=False),
    # argon2id; null until the person sets a password through the setup link.
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("setup_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("setup_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
)

api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    # The person it acts as, or null for an automation (its actor is ``token:<name>``).
    sa.Column("person", sa.String(100), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # The first characters of the token, shown in lists so a person can tell tokens apart.
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

web_session = sa.Table(
    "web_session",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("session_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("person", sa.String(100), nullable=False),
    # Sent back with every state-changing form or request (synchronizer token).
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index(None, "person"),
)

login_attempt = sa.Table(
    "login_attempt",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("person", sa.String(100), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Index(None, "person", "at"),
    sa.Index(None, "address", "at"),
)

used_link = sa.Table(
    "used_link",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    # The signed link's own id: a link acknowledges once.
    sa.Column("link_id", sa.String(64), nullable=False, unique=True),
    sa.Column("used_at", UTCDateTime(), nullable=False),
)

server_key = sa.Table(
    "server_key",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
