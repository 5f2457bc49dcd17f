"""The ``sql`` step: its statements in one transaction on the DSN the caller resolved, values
bound (never spliced), ``statement_timeout`` and ``lock_timeout`` set for the transaction, the
last result set kept as columns and rows up to the row limit.

A ``read`` step runs in ``BEGIN READ ONLY`` on a session whose default is read-only too (so a
``COMMIT`` inside the text cannot open a writable transaction): a mislabelled write fails.
A dry run EXPLAINs each statement and rolls back. On timeout or cancel the server is told to
cancel the query. The DSN and its password are masked in everything returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from opsbook.config.units import format_duration
from opsbook.errors import InputError
from opsbook.redaction import redact_text
from opsbook.runbooks.models import Risk, Step
from opsbook.runbooks.outcome import Status, StepContext, StepOutcome, Stopwatch, cap_text, race
from opsbook.runbooks.sqltext import Statement, split_statements, sql_literal
from opsbook.runbooks.values import Value, render_value

Conn = psycopg.AsyncConnection[tuple[Any, ...]]
_READ_ONLY_HINT = (
    " (the step is risk=read, so it runs in a read-only transaction;"
    " mark it risk=write if it is meant to change data)"
)


class _Result:
    def __init__(self) -> None:
        self.columns: tuple[str, ...] = ()
        self.rows: list[tuple[Any, ...]] = []
        self.truncated = False
        self.lines: list[str] = []


def conninfo(dsn: str) -> str:
    """``dsn`` as libpq reads it: SQLAlchemy's ``postgresql+psycopg://`` is accepted too."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn)


def dsn_secrets(dsn: str) -> list[str]:
    """The DSN itself and its password, for masking."""
    found = [dsn, conninfo(dsn)]
    try:
        password = conninfo_to_dict(conninfo(dsn)).get("password")
    except psycopg.ProgrammingError:
        return found
    return [*found, str(password)] if password else found


async def run_sql(step: Step, ctx: StepContext) -> StepOutcome:
    """Run ``step`` against ``ctx.dsn``. Returns the outcome (``failed`` with the server's
    message for SQL errors); raises ``InputError`` when a placeholder has no value."""
    ctx = _with_dsn_secrets(ctx)
    statements = split_statements(step.text)
    for statement in statements:
        for name in statement.names:
            if name not in ctx.values:
                raise InputError(f"params.{name}: no value for this step", field=f"params.{name}")
    watch = Stopwatch(step, ctx)
    rendered = ctx.mask(";\n".join(_show(s, ctx.values) for s in statements))
    if ctx.dsn is None:
        return watch.outcome(Status.REFUSED, error="no database for this step", rendered=rendered)
    if not statements:
        return watch.outcome(Status.OK, rendered=rendered, output="(no statements)")
    timeout = step.timeout or ctx.settings.default_timeout
    read_only = step.risk is Risk.READ
    try:
        conn = await _connect(ctx.dsn, read_only=read_only, limit=timeout)
    except psycopg.Error as exc:
        return watch.outcome(Status.FAILED, error=_error(ctx, exc, "connect: "), rendered=rendered)
    result = _Result()
    try:
        _, stopped = await race(
            _transaction(conn, statements, ctx, result, read_only=read_only, limit=timeout),
            # The server's statement_timeout fires first; this covers several statements.
            limit=timeout + timedelta(seconds=0.5),
            cancel=ctx.cancel,
        )
    except psycopg.errors.QueryCanceled as exc:
        stopped, error = Status.TIMEOUT, _error(ctx, exc)
    except psycopg.errors.LockNotAvailable as exc:
        stopped, error = Status.TIMEOUT, _error(ctx, exc)
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        stopped, error = Status.FAILED, _error(ctx, exc) + _READ_ONLY_HINT
    except psycopg.Error as exc:
        stopped, error = Status.FAILED, _error(ctx, exc)
    else:
        error = "" if stopped is None else "cancelled"
        if stopped is Status.TIMEOUT:
            error = f"timed out after {format_duration(timeout)}"
    finally:
        await conn.close()
    output, cut = cap_text(ctx.mask("\n".join(result.lines)), ctx.settings.output_limit_bytes)
    if ctx.on_output is not None and output:
        ctx.on_output(output)
    rows = tuple(tuple(_cell(ctx, v) for v in row) for row in result.rows)
    return watch.outcome(
        stopped or Status.OK,
        error=error,
        output=output,
        truncated=cut or result.truncated,
        rendered=rendered,
        columns=tuple(ctx.mask(c) for c in result.columns),
        rows=rows,
    )


async def _connect(dsn: str, *, read_only: bool, limit: timedelta) -> Conn:
    kwargs: dict[str, Any] = {
        "autocommit": True,
        # libpq counts whole seconds and treats anything below 2 as 2.
        "connect_timeout": max(2, int(limit.total_seconds())),
    }
    if read_only:
        kwargs["options"] = "-c default_transaction_read_only=on"
    return await psycopg.AsyncConnection.connect(conninfo(dsn), **kwargs)


async def _transaction(
    conn: Conn,
    statements: list[Statement],
    ctx: StepContext,
    result: _Result,
    *,
    read_only: bool,
    limit: timedelta,
) -> None:
    """BEGIN, limits, each statement (or its EXPLAIN), then COMMIT (ROLLBACK on a dry run).

    Cancelling this coroutine (timeout, cancel, shutdown) cancels the query on the server:
    psycopg's async wait sends a cancel request when it is interrupted and waits for the
    server to stop (``AsyncConnection.wait``), so no query runs on after the step gave up.
    """
    settings = ctx.settings
    async with conn.cursor() as cur:
        await cur.execute("BEGIN READ ONLY" if read_only else "BEGIN")
        # SET takes no bound parameters; both numbers are ints we computed.
        await cur.execute(f"SET LOCAL statement_timeout = {_ms(limit)}")
        await cur.execute(f"SET LOCAL lock_timeout = {_ms(settings.lock_timeout)}")
        for statement in statements:
            params = {n: ctx.values[n] for n in statement.names}
            sql = f"EXPLAIN {statement.sql}" if ctx.dry_run else statement.sql
            await cur.execute(sql, params)
            await _collect(cur, result, row_limit=settings.row_limit, ctx=ctx)
        # On an error nothing is committed: the caller closes the connection, and the
        # server rolls back a transaction whose session ended.
        await cur.execute("ROLLBACK" if ctx.dry_run else "COMMIT")


async def _collect(
    cur: psycopg.AsyncCursor[Any], result: _Result, *, row_limit: int, ctx: StepContext
) -> None:
    if cur.description is None:
        result.lines.append(cur.statusmessage or "")
        return
    rows = await cur.fetchmany(row_limit + 1)
    result.columns = tuple(c.name for c in cur.description)
    result.truncated = len(rows) > row_limit
    result.rows = rows[:row_limit]
    result.lines.append(_table(result.columns, [[_cell(ctx, v) for v in r] for r in result.rows]))
    more = f", first {row_limit} shown" if result.truncated else ""
    result.lines.append(f"({len(result.rows)} rows{more})")


def _table(columns: tuple[str, ...], rows: list[list[str | None]]) -> str:
    cells = [list(columns), *[["NULL" if v is None else v for v in row] for row in rows]]
    widths = [min(60, max(len(line[i]) for line in cells)) for i in range(len(columns))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cell(ctx: StepContext, value: object) -> str | None:
    return None if value is None else ctx.mask(str(value))


def _show(statement: Statement, values: Mapping[str, Value]) -> str:
    """The statement with each value shown as a literal: for people, never for running."""
    text = statement.sql.replace("%%", "%")
    for name in statement.names:
        value = values.get(name)
        literal = sql_literal(None if value is None else render_value(value))
        text = text.replace(f"%({name})s", literal)
    return text


def _error(ctx: StepContext, exc: psycopg.Error, prefix: str = "") -> str:
    message = str(exc).strip() or type(exc).__name__
    return ctx.mask(redact_text(prefix + message.splitlines()[0]))


def _ms(value: timedelta) -> int:
    return max(1, int(value.total_seconds() * 1000))


def _with_dsn_secrets(ctx: StepContext) -> StepContext:
    if ctx.dsn is None:
        return ctx
    return replace(ctx, secrets=[*ctx.secrets, *dsn_secrets(ctx.dsn)])
