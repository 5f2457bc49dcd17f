"""Ping bodies as bytes, and indexes for the run-id lookups.

``ping.body`` becomes binary: a cron job's output is whatever bytes it printed, and healthchecks.io
keeps them as sent (``Ping.body_raw``); the text column replaced every byte that is not UTF-8 with
U+FFFD, which cannot be undone. Stored bodies were UTF-8 text, so they convert exactly.

``ix_ping_check_id_kind_id`` finds a check's latest start and ``ix_ping_check_id_rid_id`` the latest
event of one run id, each with one index lookup however many pings the check has kept.

Revision ID: 7f0b4d2e5a6c
Revises: 6e9a3c1d4f5b
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "7f0b4d2e5a6c"
down_revision: str | None = "6e9a3c1d4f5b"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "ping",
            "body",
            type_=sa.LargeBinary(),
            existing_nullable=True,
            postgresql_using="convert_to(body, 'UTF8')",
        )
    else:
        # SQLite keeps a value's storage class when a column's type changes: cast the text.
        with op.batch_alter_table("ping") as batch:
            batch.alter_column("body", type_=sa.LargeBinary(), existing_nullable=True)
        op.execute("UPDATE ping SET body = CAST(body AS BLOB) WHERE body IS NOT NULL")
    op.create_index(op.f("ix_ping_check_id_kind_id"), "ping", ["check_id", "kind", "id"])
    op.create_index(op.f("ix_ping_check_id_rid_id"), "ping", ["check_id", "rid", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ping_check_id_rid_id"), table_name="ping")
    op.drop_index(op.f("ix_ping_check_id_kind_id"), table_name="ping")
    # Bytes that are not UTF-8 cannot go back into a text column as they were: they are written
    # escaped (\xff), as the API shows them, so the conversions below cannot fail.
    bind = op.get_bind()
    ping = sa.table("ping", sa.column("id", sa.Integer()), sa.column("body", sa.LargeBinary()))
    rows = bind.execute(sa.select(ping.c.id, ping.c.body).where(ping.c.body.is_not(None)))
    for row_id, body in rows.all():
        escaped = bytes(body).decode("utf-8", errors="backslashreplace").encode()
        if escaped != body:
            bind.execute(ping.update().where(ping.c.id == row_id).values(body=escaped))
    if bind.dialect.name == "postgresql":
        op.alter_column(
            "ping",
            "body",
            type_=sa.Text(),
            existing_nullable=True,
            postgresql_using="convert_from(body, 'UTF8')",
        )
    else:
        op.execute("UPDATE ping SET body = CAST(body AS TEXT) WHERE body IS NOT NULL")
        with op.batch_alter_table("ping") as batch:
            batch.alter_column("body", type_=sa.Text(), existing_nullable=True)
