"""Accounts: ``account`` (a login and role per person), ``api_token``, ``web_session``,
``login_attempt`` (throttling), ``used_link`` (single-use action links) and ``server_key`` (the
key that signs them). Issue 12.

Revision ID: 9b2d4f6a8c1e
Revises: 8a1c5e3f7b2d
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "9b2d4f6a8c1e"
down_revision: str | None = "8a1c5e3f7b2d"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "account",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("setup_hash", sa.String(64), nullable=True),
        sa.Column("setup_expires_at", _at(), nullable=True),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("updated_at", _at(), nullable=False),
        sa.Column("disabled_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("person", name=op.f("uq_account_person")),
        sa.UniqueConstraint("setup_hash", name=op.f("uq_account_setup_hash")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", _at(), nullable=True),
        sa.Column("last_used_at", _at(), nullable=True),
        sa.Column("revoked_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "web_session",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("last_seen_at", _at(), nullable=False),
        sa.Column("expires_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_session_session_hash")),
    )
    op.create_index(op.f("ix_web_session_person"), "web_session", ["person"])
    op.create_table(
        "login_attempt",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("at", _at(), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index(op.f("ix_login_attempt_person_at"), "login_attempt", ["person", "at"])
    op.create_index(op.f("ix_login_attempt_address_at"), "login_attempt", ["address", "at"])
    op.create_table(
        "used_link",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("used_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_used_link")),
        sa.UniqueConstraint("link_id", name=op.f("uq_used_link_link_id")),
    )
    op.create_table(
        "server_key",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_key")),
    )


def downgrade() -> None:
    for table in ("server_key", "used_link", "login_attempt", "web_session", "api_token"):
        op.drop_table(table)
    op.drop_table("account")
