"""The postgres probe against the real PostgreSQL server, and its error wording."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from opsbook.checks.models import Check, Observation
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.probes.postgres import conninfo, describe_connect_error, target_of
from opsbook.config import CheckSpec

pytestmark = pytest.mark.postgres

SECRET = "S3cretPw-9z"


def _check(dsn: str, **fields: Any) -> Check:
    return Check("db", CheckSpec.model_validate({"postgres": {"dsn": dsn}, **fields}))


async def _probe(dsn: str, **fields: Any) -> Observation:
    return await probe_for("postgres").run(_check(dsn, **fields), context=ProbeContext())


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
async def other_sessions(pg_url: str) -> AsyncIterator[list[psycopg.AsyncConnection[Any]]]:
    opened: list[psycopg.AsyncConnection[Any]] = []
    yield opened
    for conn in opened:
        await conn.close()


async def test_it_connects_and_reads_every_value(pg_url: str) -> None:
    seen = await _probe(pg_url)
    assert (seen.connected, seen.error) == (True, None)
    values = dict(seen.values)
    assert values["connected"] is True
    assert isinstance(values["connections_used"], int) and values["connections_used"] >= 1
    assert isinstance(values["connections_max"], int) and values["connections_max"] >= 10
    assert values["connections_pct"] == round(
        100 * values["connections_used"] / values["connections_max"], 2
    )
    assert values["replication_lag_s"] is None  # a primary
    assert set(values) == {
        "connected",
        "connections_used",
        "connections_max",
        "connections_pct",
        "longest_query_s",
        "idle_in_transaction",
        "replication_lag_s",
    }
    assert seen.latency_ms > 0
    assert set(seen.timings_ms) == {"connect", "query"}


async def test_it_sees_a_long_query_and_an_idle_transaction(
    pg_url: str, other_sessions: list[psycopg.AsyncConnection[Any]]
) -> None:
    dsn = conninfo(pg_url)
    sleeper = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    idler = await psycopg.AsyncConnection.connect(dsn)
    other_sessions.extend([sleeper, idler])
    await idler.execute("SELECT 1")  # opens a transaction and leaves it idle
    sleeping = asyncio.create_task(sleeper.execute("SELECT pg_sleep(30)"))
    try:
        for _ in range(50):  # wait until the sleeper's query is visible as active
            seen = await _probe(pg_url)
            longest = seen.values["longest_query_s"]
            assert isinstance(longest, float)
            if longest >= 0.3:
                break
            await asyncio.sleep(0.1)
        # pg_stat_activity is server-wide; other tests' sessions may add to these counts.
        assert seen.values["longest_query_s"] >= 0.3
        idle = seen.values["idle_in_transaction"]
        assert isinstance(idle, int) and idle >= 1
    finally:
        await sleeper.cancel_safe()
        with pytest.raises(psycopg.errors.QueryCanceled):
            await sleeping


async def test_a_refused_connection_says_so(closed_port: int) -> None:
    seen = await _probe(f"postgresql://app:{SECRET}@127.0.0.1:{closed_port}/app")
    assert seen.error == f"connect to 127.0.0.1:{closed_port} refused"
    assert seen.connected is False


async def test_a_silent_server_times_out_with_the_configured_timeout(silent_port: int) -> None:
    seen = await _probe(
        f"postgresql://app:{SECRET}@127.0.0.1:{silent_port}/app", timeout="1s", every="5s"
    )
    assert seen.error == f"connect to 127.0.0.1:{silent_port} timed out after 1s"
    assert 900 <= seen.latency_ms < 3000


async def test_an_unknown_database_is_named(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/nope_db"
    seen = await _probe(url.replace("postgres@", f"postgres:{SECRET}@"))
    assert seen.error == 'database "nope_db" does not exist'
    assert SECRET not in repr(seen)


async def test_an_unknown_role_is_named(pg_url: str) -> None:
    seen = await _probe(pg_url.replace("postgres@", f"nobody_x:{SECRET}@"))
    assert seen.error == 'role "nobody_x" does not exist'


async def test_a_keyword_dsn_works_too(pg_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    seen = await _probe(f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}")
    assert seen.error is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
            "connections?",
            "connect to 10.0.0.5:5432 refused",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  password authentication failed for user "x"',
            'authentication failed for user "x"',
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  database "nope" does not exist',
            'database "nope" does not exist',
        ),
        (
            'connection failed: could not translate host name "db.invalid" to address: '
            "Name or service not known",
            "connect to 10.0.0.5:5432 failed: the host name does not resolve",
        ),
        (
            "connection failed: server closed the connection unexpectedly",
            "connect to 10.0.0.5:5432 failed: server closed the connection unexpectedly",
        ),
    ],
)
def test_driver_errors_are_worded_for_the_user(message: str, expected: str) -> None:
    assert describe_connect_error(message, target="10.0.0.5:5432") == expected


@pytest.mark.parametrize(
    ("dsn", "target"),
    [
        ("postgresql+psycopg://u:p@db:6543/app", "db:6543"),
        ("postgres://u@db/app", "db:5432"),
        ("host=10.0.0.5 user=app password=x", "10.0.0.5:5432"),
        ("dbname=app", "localhost:5432"),
    ],
)
def test_the_target_is_read_from_either_dsn_form(dsn: str, target: str) -> None:
    assert target_of(dsn) == target


async def test_the_password_never_appears_in_an_error(closed_port: int) -> None:
    for dsn in (
        f"postgresql://app:{SECRET}@127.0.0.1:{closed_port}/app",
        f"host=127.0.0.1 port={closed_port} user=app password={SECRET}",
        f"postgresql://app:{SECRET}@no-such-host.invalid/app",
    ):
        seen = await _probe(dsn)
        assert seen.error is not None
        assert SECRET not in seen.error
        assert SECRET not in repr(seen)
