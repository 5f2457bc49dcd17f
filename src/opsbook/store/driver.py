"""Statements sent straight to the driver's cursor, for the hottest SQLite writes.

SQLAlchemy's ``exec_driver_sql`` does more for each statement than SQLite does to run a one-row
``UPDATE``: an execution context, a ``CursorResult`` and its metadata, event and logging hooks,
about 80k instructions a statement. For ingest's three statements a transaction (``BEGIN
IMMEDIATE``, the locked read, the refresh) that was 250k of the 620k instructions a one-request
group cost (callgrind, docs/benchmarks.md). ``run`` sends a statement as written on the
connection's own DBAPI cursor, inside SQLAlchemy's transaction (same connection, same commit or
rollback), and keeps what callers and tests rely on:

- a driver error is raised as SQLAlchemy raises it (``sqlalchemy.exc.IntegrityError``,
  ``OperationalError``, ...), the driver's own as its ``orig``;
- when anything listens to the statements a connection sends (``before_cursor_execute`` or
  ``after_cursor_execute``: the query-plan and statement-count tests), or the engine echoes
  them, the statement goes through ``exec_driver_sql`` instead, so they see it as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import exc
from sqlalchemy.engine import Connection


def run(
    conn: Connection, statement: str, parameters: Sequence[Any] = (), *, many: bool = False
) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``parameters`` (a row of them, or with ``many`` a list of rows,
    one ``executemany``) in ``conn``'s transaction; the rows it returns, [] if none."""
    if _watched(conn):
        result = conn.exec_driver_sql(statement, list(parameters) if many else tuple(parameters))
        return [tuple(row) for row in result] if result.returns_rows else []
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(statement, parameters)
        else:
            cursor.execute(statement, parameters)
        # sqlite3's fetchall is a list of tuples (the DBAPI types it as any sequence).
        return cast("list[tuple[Any, ...]]", cursor.fetchall()) if cursor.description else []
    except dbapi.Error as error:
        raise exc.DBAPIError.instance(
            statement, parameters, error, dbapi.Error, dialect=conn.dialect, ismulti=many
        ) from error
    finally:
        cursor.close()


def _watched(conn: Connection) -> bool:
    # SQLAlchemy's own test before it runs the statement hooks (Connection._exec_single_context):
    # whether any listener is on the connection or its engine. Asking the dispatcher for the
    # two hooks by name cost as much as running the statement.
    return bool(conn._has_events or conn.engine._has_events or conn.engine.echo)
