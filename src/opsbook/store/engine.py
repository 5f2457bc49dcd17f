"""Where the store lives and how to connect to it: SQLite (default, WAL) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError

from opsbook.errors import StoreError
from opsbook.redaction import Secret, mask_values, redact_url

DEFAULT_URL = "sqlite:///opsbook.db"
ENV_VAR = "OPSBOOK_DATABASE_URL"
# Seconds libpq waits for a TCP connection; without it a dropped packet hangs /ready for minutes.
PG_CONNECT_TIMEOUT_S = 5

_SQLITE_PRAGMAS = (
    # WAL lets readers (the web UI) run while the scheduler writes; https://sqlite.org/wal.html
    "PRAGMA journal_mode=WAL",
    # Wait for a competing writer instead of failing at once with "database is locked".
    "PRAGMA busy_timeout=5000",
    # SQLite ignores REFERENCES unless asked, per connection; https://sqlite.org/foreignkeys.html
    "PRAGMA foreign_keys=ON",
    # In WAL mode NORMAL is durable against application crashes, only not against power loss of
    # the last commits; https://sqlite.org/pragma.html#pragma_synchronous
    "PRAGMA synchronous=NORMAL",
)
_HINT = "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"


def resolve_url(config_url: Secret | None, *, environ: Mapping[str, str]) -> Secret:
    """The store URL in force: ``OPSBOOK_DATABASE_URL`` wins, then the config, then SQLite."""
    from_env = environ.get(ENV_VAR, "").strip()
    if from_env:
        return Secret(from_env)
    if config_url:
        return config_url
    return Secret(DEFAULT_URL)


def display_url(url: Secret | str | URL) -> str:
    """``url`` in a form safe to show or log: password and credential parameters masked."""
    if isinstance(url, URL):
        raw = url.render_as_string(hide_password=False)
    else:
        raw = url.reveal() if isinstance(url, Secret) else url
    return redact_url(raw)


SQLITE_POOL_SIZE = 20
PG_POOL_SIZE = 10
"""Connections kept open. Twenty concurrent requests each hold one for a moment; a connection
beyond the pool is made for one use and closed (for PostgreSQL that is a new server process)."""
MAX_OVERFLOW = 30


def create_engine(url: Secret | str) -> Engine:
    """An engine for ``url``; connects lazily, so an unreachable database is not an error here.

    Raises ``StoreError`` for a URL that does not parse or names a backend opsbook does not
    support. ``postgresql://`` and ``postgres://`` mean psycopg 3, the one driver we ship.
    """
    raw = url.reveal() if isinstance(url, Secret) else url
    try:
        parsed = sa.make_url(raw)
    except ArgumentError:
        raise StoreError(f"store URL {redact_url(raw)!r} is not a database URL ({_HINT})") from None
    # Split by hand: get_driver_name() imports the dialect, and "postgres" has none.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in {"", "pysqlite"}:
        # A pooled connection is cheap to keep and dear to make (five pragmas, WAL among them):
        # with SQLAlchemy's default of 5, twenty browsers on the overview opened and closed an
        # overflow connection per request (py-spy: 6 % of the server's CPU).
        in_memory = parsed.database in (None, "", ":memory:")  # one connection per thread
        pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": MAX_OVERFLOW}
        engine = sa.create_engine(parsed, **pool)
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    if backend in {"postgresql", "postgres"} and driver in {"", "psycopg"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        # pre_ping: a PostgreSQL restart must not surface as one failed request per pooled conn.
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=PG_POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            connect_args=connect_args,
        )
    raise StoreError(
        f"unsupported store URL scheme {parsed.drivername!r} in {redact_url(raw)!r} ({_HINT})"
    )


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def unreachable(engine: Engine, exc: DBAPIError) -> StoreError:
    """A ``StoreError`` for a failed connection, with the URL redacted and no password in sight.

    The driver's message is kept (it says why: refused, timeout, auth) but any occurrence of the
    password is masked too, in case a driver ever echoes the connection string.
    """
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    secrets = [engine.url.password] if isinstance(engine.url.password, str) else []
    # libpq's messages carry host and port, never the password; mask it by value regardless.
    reason = mask_values(reason if "://" in reason else redact_url(reason), secrets)
    return StoreError(f"store {display_url(engine.url)} is unreachable: {reason}")


def ping(engine: Engine) -> None:
    """Open a connection and run ``SELECT 1``. Raises ``StoreError`` if the store is unreachable."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        raise unreachable(engine, exc) from None
