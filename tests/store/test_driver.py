"""``store.driver.run``: a statement sent on the driver's cursor answers as ``exec_driver_sql``
would, inside the connection's transaction, raises SQLAlchemy's errors, and is seen by whatever
listens to the statements (then it goes through SQLAlchemy)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from opsbook.store import driver
from opsbook.store.engine import create_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    yield engine
    engine.dispose()


def _notes(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(r.id, r.text) for r in conn.execute(sa.text("SELECT id, text FROM note"))]


def _not_through_sqlalchemy(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing listens: the statement goes to the driver's cursor")

    monkeypatch.setattr(conn, "exec_driver_sql", refused)


def test_rows_writes_and_many_rows_in_the_connections_transaction(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        _not_through_sqlalchemy(conn, monkeypatch)
        assert driver.run(conn, "INSERT INTO note VALUES (?, ?)", (1, "one")) == []
        rows = [(2, "two"), (3, "three")]
        assert driver.run(conn, "INSERT INTO note VALUES (?, ?)", rows, many=True) == []
        found = driver.run(conn, "SELECT id, text FROM note WHERE id IN (?, ?)", (1, 3))
        assert sorted(found) == [(1, "one"), (3, "three")]
        assert driver.run(conn, "SELECT id FROM note WHERE id = ?", (9,)) == []
    assert _notes(engine) == [(1, "one"), (2, "two"), (3, "three")]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        driver.run(conn, "DELETE FROM note")
        raise RuntimeError("the transaction rolls back")
    assert len(_notes(engine)) == 3


def test_a_driver_error_is_sqlalchemys_and_the_transaction_rolls_back(engine: Engine) -> None:
    with pytest.raises(exc.IntegrityError) as raised, engine.begin() as conn:
        driver.run(conn, "INSERT INTO note VALUES (?, ?)", (1, "one"))
        driver.run(conn, "INSERT INTO note VALUES (?, ?)", (1, "again"))
    assert isinstance(raised.value.orig, sqlite3.IntegrityError)
    assert raised.value.statement == "INSERT INTO note VALUES (?, ?)"
    assert _notes(engine) == []
    with pytest.raises(exc.OperationalError), engine.begin() as conn:
        driver.run(conn, "SELECT nothing FROM nowhere")


def test_a_listener_sees_each_statement_and_its_parameters(engine: Engine) -> None:
    seen: list[tuple[str, Any, bool]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters, many))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        with engine.begin() as conn:
            driver.run(conn, "INSERT INTO note VALUES (?, ?)", [(1, "a"), (2, "b")], many=True)
            rows = driver.run(conn, "SELECT text FROM note WHERE id = ?", (2,))
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    assert rows == [("b",)]
    assert seen == [
        ("INSERT INTO note VALUES (?, ?)", [(1, "a"), (2, "b")], True),
        ("SELECT text FROM note WHERE id = ?", (2,), False),
    ]
