"""On SQLite an incidents pass and an alert engine pass take the write lock when they begin.

Each escalation runs in a SAVEPOINT, which starts a deferred transaction: a pass that read
before another writer committed (the probe flush commits every 250 ms) could then not write at
all, "database is locked" at once with no busy_timeout wait (SQLITE_BUSY_SNAPSHOT), and the page
waited for the next pass (bench/detection.py: pages 10-17 s late, one not within 30 s)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pytest
from paging_helpers import NOW, Recorder, declare, make_config
from sqlalchemy.engine import Connection, Engine

from opsbook.incidents import escalation
from opsbook.incidents.loop import run_pass


def test_a_commit_by_another_writer_during_a_pass_does_not_stop_its_pages(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's deferred transactions; PostgreSQL locks rows")
    declare(engine)
    path = engine.url.database
    assert path
    advance = escalation._advance
    commits: list[str] = []

    def with_a_commit_between(conn: Connection, *args: Any, **kwargs: Any) -> Any:
        conn.exec_driver_sql("SELECT count(*) FROM incident").all()  # the pass has read
        other = sqlite3.connect(path, timeout=0.2)
        try:
            other.execute("PRAGMA user_version = 7")  # another writer commits, if it can
            other.commit()
            commits.append("committed")
        except sqlite3.OperationalError:
            commits.append("waited for the pass")  # the pass holds the write lock
        finally:
            other.close()
        return advance(conn, *args, **kwargs)

    monkeypatch.setattr(escalation, "_advance", with_a_commit_between)
    emit = Recorder()
    report = run_pass(engine, config=make_config(), emit=emit, now=NOW)
    assert commits == ["waited for the pass"]
    assert report.notices == 3  # the declared update and Ana's two pages
    assert {n.kind for n in emit.notices} == {"incident", "page"}
    with contextlib.closing(sqlite3.connect(path)) as check:
        failed = check.execute("SELECT count(*) FROM incident_event WHERE kind = 'failed'")
        assert failed.fetchone() == (0,)
