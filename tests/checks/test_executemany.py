"""``executemany`` stores the same values as ``conn.execute`` (SQLite and PostgreSQL): the
driver-level path on SQLite applies SQLAlchemy's own bind processors, column by column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.checks.executemany import executemany
from opsbook.checks.tables import check_result

_INSERT = check_result.insert()
_COLUMNS = [c.name for c in check_result.columns if c.name not in ("id", "check_id")]
T0 = datetime(2026, 11, 22, 12, 0, 0, 0, tzinfo=UTC)


def _rows(check_id: str) -> list[dict[str, object]]:
    return [
        {
            "check_id": check_id,
            # Whole seconds, microseconds, another zone: each must be stored as naive UTC text.
            "started_at": at,
            "state": "down" if i % 2 else "up",
            "latency_ms": None if i == 2 else 12.5 * i,
            "status": None if i == 1 else 200,
            "error": None if i % 2 == 0 else 'refused ∞ "quoted"',
            "failed_conditions": ["[STATUS] (500) == 200"] if i % 2 else [],
            "values": {"status": "up", "exit_status": i, "nested": {"a": [1, None]}},
            "timings": {} if i else {"connect": 1.5},
            "is_change": i % 2 == 1,
        }
        for i, at in enumerate(
            [
                T0,
                T0 + timedelta(microseconds=7),
                (T0 + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5))),
            ]
        )
    ]


def _stored(engine: Engine, check_id: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        # The raw column values (text, JSON text, integers), not what SQLAlchemy parses them to.
        columns = ", ".join(f'CAST("{c}" AS TEXT)' for c in _COLUMNS)
        query = f"SELECT {columns} FROM check_result WHERE check_id = '{check_id}' ORDER BY id"
        return [tuple(row) for row in conn.exec_driver_sql(query)]


def test_it_stores_what_conn_execute_stores(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_INSERT, _rows("by-execute"))
        executemany(conn, _INSERT, _rows("by-executemany"))
        executemany(conn, _INSERT, [])  # nothing to do
    assert _stored(engine, "by-executemany") == _stored(engine, "by-execute")
    assert len(_stored(engine, "by-execute")) == 3


def test_a_naive_time_is_refused_as_by_conn_execute(engine: Engine) -> None:
    row = {**_rows("naive")[0], "started_at": datetime(2026, 1, 1)}
    with (
        pytest.raises((ValueError, sa.exc.StatementError), match="naive datetime"),
        engine.begin() as conn,
    ):
        executemany(conn, _INSERT, [row])
    assert _stored(engine, "naive") == []


def test_rows_with_other_keys_get_the_statement_compiled_for_them(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("other dialects hand the rows to conn.execute")
    with engine.begin() as conn:
        executemany(conn, _INSERT, _rows("a"))
        # A later call with other keys compiles the statement again for those keys.
        executemany(
            conn, _INSERT, [{k: v for k, v in r.items() if k != "error"} for r in _rows("b")]
        )
    error = _COLUMNS.index("error")
    assert [row[error] for row in _stored(engine, "b")] == [None, None, None]
    assert [row[error] for row in _stored(engine, "a")] == [None, 'refused ∞ "quoted"', None]
