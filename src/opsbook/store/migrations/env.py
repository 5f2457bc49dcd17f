"""Alembic's environment, driven from ``opsbook.store.migrate`` with a live connection.

There is no alembic.ini: ``migrate.alembic_config()`` builds the config in code and passes the
connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from opsbook.store.migrate import target_metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("opsbook migrations run through opsbook.store.migrate with a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        # https://alembic.sqlalchemy.org/en/latest/batch.html
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `opsbook db upgrade`")
run_migrations_online()
