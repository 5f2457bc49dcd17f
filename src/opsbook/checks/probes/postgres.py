"""The ``postgres`` kind: connect, ``SELECT 1``, and read the values the seeds alert on.

Values: ``connections_used``, ``connections_max``, ``connections_pct`` ("pool usage > 80%"),
``longest_query_s``, ``idle_in_transaction``, ``replication_lag_s`` (None on a primary).
Counting other sessions' states needs the ``pg_monitor`` role; without it those read 0.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from opsbook.checks.models import Check, Observation, Value
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import PostgresSpec
from opsbook.config.units import format_duration
from opsbook.redaction import mask_values, redact_text

# One round trip for every value. backend_type keeps autovacuum and walsender out of the count:
# max_connections limits client backends (https://www.postgresql.org/docs/current/monitoring-stats.html).
VALUES_SQL = """
SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  current_setting('max_connections')::int,
  (SELECT extract(epoch FROM max(now() - query_start))::float8 FROM pg_stat_activity
    WHERE state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')
      AND backend_type = 'client backend' AND pid <> pg_backend_pid()),
  (SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'),
  CASE WHEN pg_is_in_recovery()
    THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""

_FATAL = re.compile(r"FATAL:\s+(.*)", re.DOTALL)


def conninfo(dsn: str) -> str:
    """``dsn`` as libpq reads it: SQLAlchemy's ``postgresql+psycopg://`` is accepted too."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn)


def target_of(dsn: str) -> str:
    """``host:port`` the DSN connects to, for messages (libpq's defaults filled in)."""
    try:
        params = conninfo_to_dict(conninfo(dsn))
    except psycopg.ProgrammingError:
        return "the database"
    host = str(params.get("host") or "localhost")
    return f"{host}:{params.get('port') or 5432}"


def describe_connect_error(message: str, *, target: str) -> str:
    """A libpq connection error in the user's terms: what failed, where; never the DSN.

    ``connect to 127.0.0.1:1 refused``, ``database "nope" does not exist``,
    ``authentication failed for user "x"``; anything else keeps libpq's first line.
    """
    fatal = _FATAL.search(message)
    if fatal:
        reason = fatal.group(1).strip().splitlines()[0]
        auth = re.match(r'password authentication failed for user (".*")', reason)
        return f"authentication failed for user {auth.group(1)}" if auth else reason
    if "Connection refused" in message:
        return f"connect to {target} refused"
    if "could not translate host name" in message or "Name or service not known" in message:
        return f"connect to {target} failed: the host name does not resolve"
    first = message.strip().splitlines()[0] if message.strip() else "connection failed"
    return f"connect to {target} failed: {first.removeprefix('connection failed: ')}"


class PostgresProbe:
    kind: ClassVar[str] = "postgres"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.postgres
        if not isinstance(spec, PostgresSpec):  # pragma: no cover - the scheduler routes by kind
            raise TypeError(f"check {check.id} is not a postgres check")
        dsn = spec.dsn.reveal()
        target = target_of(dsn)
        timeout = check.spec.timeout
        started = context.clock.monotonic()

        def elapsed_ms() -> float:
            return (context.clock.monotonic() - started) * 1000

        # Everything the driver says passes through this: a DSN password must never leak.
        secrets = [dsn, *_passwords(dsn)]
        stage = "connect"
        try:
            async with asyncio.timeout(timeout.total_seconds()):
                conn = await _connect(dsn, timeout_s=timeout.total_seconds())
                connect_ms = elapsed_ms()
                async with conn:
                    stage = "query"
                    ms = max(int(timeout.total_seconds() * 1000), 1)
                    await conn.execute(f"SET statement_timeout = {ms}")
                    await conn.execute("SELECT 1")
                    latency_ms = elapsed_ms()
                    values = await _values(conn)
        except (TimeoutError, psycopg.errors.ConnectionTimeout):
            verb = f"connect to {target}" if stage == "connect" else f"query on {target}"
            error = f"{verb} timed out after {format_duration(timeout)}"
            return Observation(latency_ms=elapsed_ms(), connected=stage != "connect", error=error)
        except psycopg.Error as exc:
            text = str(exc)
            if stage == "connect":
                error = describe_connect_error(text, target=target)
            else:
                error = f"query on {target} failed: {text.strip().splitlines()[0]}"
            return Observation(
                latency_ms=elapsed_ms(),
                connected=stage != "connect",
                error=mask_values(redact_text(error), secrets),
            )
        return Observation(
            latency_ms=latency_ms,
            connected=True,
            timings_ms={"connect": connect_ms, "query": latency_ms - connect_ms},
            values={"connected": True, **values},
        )


async def _connect(dsn: str, *, timeout_s: float) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """Connect, and if we are cancelled mid-way (our timeout, the scheduler's backstop, shutdown),
    close the connection once it arrives instead of leaving an open one to the garbage collector.
    """
    attempt = asyncio.ensure_future(
        psycopg.AsyncConnection.connect(
            conninfo(dsn),
            autocommit=True,
            # libpq counts whole seconds and treats anything below 2 as 2.
            connect_timeout=max(2, int(timeout_s)),
        )
    )
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        attempt.add_done_callback(_close_late_connection)
        raise


def _close_late_connection(attempt: asyncio.Future[psycopg.AsyncConnection[Any]]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    _late_closes.add(task := asyncio.ensure_future(attempt.result().close()))
    task.add_done_callback(_late_closes.discard)


_late_closes: set[asyncio.Future[None]] = set()
"""Close tasks of connections that arrived after their probe gave up (kept so they are not
garbage-collected before they finish)."""


async def _values(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> dict[str, Value]:
    cursor = await conn.execute(VALUES_SQL)
    row = await cursor.fetchone()
    if row is None:  # pragma: no cover - a SELECT without FROM returns one row
        return {}
    used, max_conn, longest, idle_in_tx, lag = row
    used_n, max_n = _int(used), _int(max_conn)
    return {
        "connections_used": used_n,
        "connections_max": max_n,
        "connections_pct": round(100 * used_n / max_n, 2) if used_n is not None and max_n else None,
        "longest_query_s": round(float(str(longest)), 3) if longest is not None else 0.0,
        "idle_in_transaction": _int(idle_in_tx),
        "replication_lag_s": round(float(str(lag)), 3) if lag is not None else None,
    }


def _int(value: object) -> int | None:
    return int(str(value)) if value is not None else None


def _passwords(dsn: str) -> list[str]:
    try:
        password = conninfo_to_dict(conninfo(dsn)).get("password")
    except psycopg.ProgrammingError:
        return []
    return [str(password)] if password else []
