"""SQL steps against the real PostgreSQL: results and the row limit, read-only transactions,
timeouts and cancel on the server, bound parameters, dry runs, masking of the DSN."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from opsbook.errors import InputError
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.models import Position, Risk, Step, StepKind
from opsbook.runbooks.outcome import RunSettings, Status, StepContext
from opsbook.runbooks.sql import conninfo
from opsbook.runbooks.sqltext import split_statements


def sql_step(text: str, *, risk: Risk = Risk.READ, timeout: float | None = None) -> Step:
    return Step(
        id="q1",
        kind=StepKind.SQL,
        risk=risk,
        text=text,
        section="Diagnose",
        at=Position(7),
        digest="f" * 64,
        timeout=timedelta(seconds=timeout) if timeout is not None else None,
        db="main",
    )


@pytest.fixture
def dsn(pg_url: str) -> Iterator[str]:
    with psycopg.connect(conninfo(pg_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE account (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO account SELECT i, 'user' || i FROM generate_series(1, 300) i")
    yield pg_url


def _names(dsn: str) -> list[str]:
    with psycopg.connect(conninfo(dsn)) as conn:
        return [str(r[0]) for r in conn.execute("SELECT name FROM account ORDER BY id LIMIT 3")]


def _tables(dsn: str) -> list[str]:
    with psycopg.connect(conninfo(dsn)) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
        return [str(r[0]) for r in rows]


async def test_it_returns_columns_and_rows(dsn: str) -> None:
    step = sql_step("SELECT id, name, NULL AS gone FROM account WHERE id <= 2 ORDER BY id")
    outcome = await run_step(step, StepContext(dsn=dsn))
    assert outcome.status is Status.OK, outcome.error
    assert outcome.columns == ("id", "name", "gone")
    assert outcome.rows == (("1", "user1", None), ("2", "user2", None))
    assert outcome.truncated is False
    assert outcome.output == (
        "id | name  | gone\n---+-------+-----\n1  | user1 | NULL\n2  | user2 | NULL\n(2 rows)"
    )


async def test_rows_stop_at_the_limit(dsn: str) -> None:
    outcome = await run_step(sql_step("SELECT id FROM account ORDER BY id"), StepContext(dsn=dsn))
    assert len(outcome.rows) == 200
    assert outcome.truncated is True
    assert outcome.output.endswith("(200 rows, first 200 shown)")
    small = StepContext(dsn=dsn, settings=RunSettings(row_limit=3))
    outcome = await run_step(sql_step("SELECT id FROM account ORDER BY id"), small)
    assert outcome.rows == (("1",), ("2",), ("3",))


@pytest.mark.parametrize(
    "text",
    [
        "UPDATE account SET name = 'x'",
        "CREATE TABLE sneaky (id int)",
        "COMMIT; UPDATE account SET name = 'x'",
    ],
)
async def test_a_read_step_cannot_write(dsn: str, text: str) -> None:
    outcome = await run_step(sql_step(text), StepContext(dsn=dsn))
    assert outcome.status is Status.FAILED
    assert "read-only transaction" in outcome.error
    assert "mark it risk=write" in outcome.error
    assert _names(dsn) == ["user1", "user2", "user3"]
    assert _tables(dsn) == ["account"]


async def test_a_write_step_writes_and_commits(dsn: str) -> None:
    step = sql_step("UPDATE account SET name = 'renamed' WHERE id = 1", risk=Risk.WRITE)
    outcome = await run_step(step, StepContext(dsn=dsn))
    assert outcome.status is Status.OK, outcome.error
    assert outcome.output == "UPDATE 1"
    assert _names(dsn)[0] == "renamed"


async def test_several_statements_run_in_one_transaction(dsn: str) -> None:
    step = sql_step(
        "UPDATE account SET name = 'a' WHERE id = 1; -- first\n"
        "UPDATE account SET name = {{ n }} WHERE id = 2;\n"
        "SELECT name FROM account WHERE id <= 2 ORDER BY id; -- trailing comment",
        risk=Risk.WRITE,
    )
    outcome = await run_step(step, StepContext(dsn=dsn, values={"n": "b"}))
    assert outcome.status is Status.OK, outcome.error
    assert outcome.rows == (("a",), ("b",))
    assert outcome.output.startswith("UPDATE 1\nUPDATE 1\nname")


async def test_a_failing_statement_commits_nothing(dsn: str) -> None:
    step = sql_step("UPDATE account SET name = 'x' WHERE id = 1; SELECT 1/0", risk=Risk.WRITE)
    outcome = await run_step(step, StepContext(dsn=dsn))
    assert outcome.status is Status.FAILED
    assert outcome.error == "division by zero"
    assert _names(dsn)[0] == "user1"


async def test_statement_timeout_stops_a_slow_query(dsn: str) -> None:
    outcome = await asyncio.wait_for(
        run_step(sql_step("SELECT pg_sleep(5)", timeout=0.3), StepContext(dsn=dsn)), 3
    )
    assert outcome.status is Status.TIMEOUT
    assert "statement timeout" in outcome.error
    assert outcome.duration < timedelta(seconds=2)


async def test_lock_timeout_is_set(dsn: str) -> None:
    settings = RunSettings(lock_timeout=timedelta(milliseconds=250))
    outcome = await run_step(
        sql_step(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
            timeout=2,
        ),
        StepContext(dsn=dsn, settings=settings),
    )
    assert outcome.rows == (("250ms", "2s"),)


async def _server_sleeps(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo(dsn)) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%'"
            " AND datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def test_cancel_stops_the_query_on_the_server(dsn: str) -> None:
    cancel = asyncio.Event()
    task = asyncio.ensure_future(
        run_step(sql_step("SELECT pg_sleep(30)"), StepContext(dsn=dsn, cancel=cancel))
    )
    for _ in range(100):
        if await _server_sleeps(dsn):
            break
        await asyncio.sleep(0.02)
    cancel.set()
    outcome = await asyncio.wait_for(task, 3)
    assert outcome.status is Status.CANCELLED
    for _ in range(50):
        if not await _server_sleeps(dsn):
            break
        await asyncio.sleep(0.02)
    assert await _server_sleeps(dsn) == 0


async def test_cancelling_the_task_cancels_the_query(dsn: str) -> None:
    task = asyncio.ensure_future(run_step(sql_step("SELECT pg_sleep(30)"), StepContext(dsn=dsn)))
    for _ in range(100):
        if await _server_sleeps(dsn):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    for _ in range(50):
        if not await _server_sleeps(dsn):
            break
        await asyncio.sleep(0.02)
    assert await _server_sleeps(dsn) == 0


@pytest.mark.parametrize(
    "text",
    [
        "SELECT {{ v }}::text",
        "SELECT '{{ v }}'",
        "SELECT 'pre-' || {{ v }}",
        "SELECT '{{ v }}-suffix'",
    ],
)
async def test_a_parameter_is_bound_not_spliced(dsn: str, text: str) -> None:
    hostile = "'; DROP TABLE account; --"
    outcome = await run_step(
        sql_step(text, risk=Risk.WRITE), StepContext(dsn=dsn, values={"v": hostile})
    )
    assert outcome.status is Status.OK, outcome.error
    (value,) = outcome.rows[0]
    assert value is not None and hostile in value
    assert _tables(dsn) == ["account"]


async def test_a_literal_percent_survives(dsn: str) -> None:
    step = sql_step(
        "SELECT name FROM account WHERE name LIKE 'user1%' AND name LIKE '%{{ end }}' ORDER BY id"
    )
    outcome = await run_step(step, StepContext(dsn=dsn, values={"end": "00"}))
    assert outcome.rows == (("user100",),)
    bare = await run_step(sql_step("SELECT 10 % 3 AS r, '%' AS p"), StepContext(dsn=dsn))
    assert bare.rows == (("1", "%"),)


async def test_dry_run_explains_and_changes_nothing(dsn: str) -> None:
    step = sql_step("DELETE FROM account WHERE id = {{ id }}", risk=Risk.DANGER)
    outcome = await run_step(step, StepContext(dsn=dsn, values={"id": 1}, dry_run=True))
    assert outcome.status is Status.OK, outcome.error
    assert outcome.dry_run is True
    assert outcome.rendered == "DELETE FROM account WHERE id = '1'"
    assert outcome.columns == ("QUERY PLAN",)
    assert "Delete on account" in outcome.output
    with psycopg.connect(conninfo(dsn)) as conn:
        row = conn.execute("SELECT count(*) FROM account").fetchone()
    assert row == (300,)


async def test_a_missing_value_is_an_input_error(dsn: str) -> None:
    with pytest.raises(InputError, match=r"params\.id: no value"):
        await run_step(sql_step("SELECT {{ id }}"), StepContext(dsn=dsn))


async def test_no_database_is_refused() -> None:
    outcome = await run_step(sql_step("SELECT 1"), StepContext())
    assert outcome.status is Status.REFUSED


async def test_the_dsn_and_its_password_never_show(pg_url: str) -> None:
    password = "canary-pw-5e2a9c"
    bad = f"postgresql://postgres:{password}@127.0.0.1:5432/no_such_db_{password}"
    outcome = await run_step(sql_step("SELECT 1"), StepContext(dsn=bad))
    assert outcome.status is Status.FAILED
    assert outcome.error.startswith("connect: ")
    assert password not in outcome.error
    assert "no_such_db_***" in outcome.error


async def test_secrets_in_results_are_masked(dsn: str) -> None:
    canary = "canary-tok-88c1d0"
    step = sql_step("SELECT {{ t }} AS token, 'x-' || {{ t }} AS other")
    outcome = await run_step(step, StepContext(dsn=dsn, values={"t": canary}, secrets=[canary]))
    assert outcome.rows == (("***", "x-***"),)
    assert canary not in outcome.output + outcome.rendered
    failed = await run_step(
        sql_step("SELECT {{ t }}::int"),
        StepContext(dsn=dsn, values={"t": canary}, secrets=[canary]),
    )
    assert failed.status is Status.FAILED
    assert canary not in failed.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1", [("SELECT 1", ())]),
        ("SELECT 1; SELECT 2;", [("SELECT 1", ()), ("SELECT 2", ())]),
        ("SELECT ';' ; -- only a comment;\n", [("SELECT ';'", ())]),
        ("SELECT {{ a }}, '{{ b }}'", [("SELECT %(a)s, %(b)s", ("a", "b"))]),
        ("SELECT 'x{{ a }}y'", [("SELECT ('x' || %(a)s || 'y')", ("a",))]),
        ("SELECT 'it''s {{ a }}'", [("SELECT ('it''s ' || %(a)s)", ("a",))]),
        ("SELECT 5 % 2", [("SELECT 5 %% 2", ())]),
        (
            "SELECT $$a;{{ b }}$$; /* c; */ SELECT 2",
            [("SELECT $$a;{{ b }}$$", ()), ("/* c; */ SELECT 2", ())],
        ),
        ('SELECT "a;b" FROM t', [('SELECT "a;b" FROM t', ())]),
        ("-- nothing\n", []),
    ],
)
def test_statements_and_placeholders(
    text: str, expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    assert [(s.sql, s.names) for s in split_statements(text)] == expected
