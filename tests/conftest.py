"""Fixtures every test area uses: a CLI runner, throwaway PostgreSQL databases, store URLs, a
migrated store, and ``opsbook serve`` processes."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import structlog
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from frozen import CLI_NOW
from opsbook.accounts import service as accounts_service
from opsbook.cli.app import main
from opsbook.cli.client import Transport
from opsbook.clock import Clock, FrozenClock
from opsbook.store import create_engine, upgrade
from serving import Server, serve_env

PG_ADMIN_DSN = os.environ.get("OPSBOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``opsbook ARGS`` in-process through the real entry point and capture what it prints.

    ``clock=`` is the clock the command reads "now" from (default: a ``FrozenClock`` at
    ``CLI_NOW``), so no CLI test depends on the day it runs.
    """
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def run(
        *args: str, clock: Clock | None = None, transport: Transport | None = None
    ) -> CliResult:
        capsys.readouterr()
        code = main(list(args), clock=clock or FrozenClock(CLI_NOW), transport=transport)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(PG_ADMIN_DSN, autocommit=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"opsbook_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'opsbook.db'}"


class SharedPostgres:
    """One migrated PostgreSQL database per test process, emptied before each test that uses it.

    Creating and migrating a database costs about 0.45 s, and 1,200-odd tests take a
    PostgreSQL store. Before each test, after the sessions the previous test left (a server it
    started) are ended, every table it wrote to is truncated and every sequence it used
    restarts (ids restart at 1, as in a new store); a test that changed the revision gets a new
    database. Tests that need a store nothing has touched use ``pg_url``, or are marked
    ``empty_store``.
    """

    def __init__(self) -> None:
        self.name = ""
        self.head = ""
        self._create()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def _create(self) -> None:
        self.name = f"opsbook_shared_{uuid.uuid4().hex[:12]}"
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        engine = create_engine(self.url)
        upgrade(engine)
        engine.dispose()
        with self._connect() as conn:
            self.head = self._revision(conn) or ""

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.name}", autocommit=True)

    def _revision(self, conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return str(row[0]) if row else None

    def empty(self) -> None:
        with self._connect() as conn:
            # Whatever a test left connected (a killed server's sessions) must not hold locks
            # nor write after this: wait (up to 5 s) for each session to end.
            conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if self._revision(conn) == self.head:
                _truncate_written(conn)
                return
        self.drop()
        self._create()

    def drop(self) -> None:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _truncate_written(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Truncate every table but ``alembic_version`` that was written to since it was last
    truncated, and restart every sequence used since."""
    # TRUNCATE costs ~5 ms a table (new files for it and its indexes), ~0.2 s for all of them,
    # and most tests write to a few. A table nothing wrote to since its last TRUNCATE still has
    # no pages (an insert that rolled back left some).
    written = _names(
        conn,
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "AND relkind = 'r' AND relname <> 'alembic_version' AND pg_relation_size(oid) > 0",
    )
    if written:
        conn.execute(f"TRUNCATE {', '.join(written)} RESTART IDENTITY CASCADE")
    # What is left: a sequence an insert took a value from before failing (a CHECK
    # constraint) with nothing written.
    used = _names(
        conn,
        "SELECT sequencename FROM pg_sequences "
        "WHERE schemaname = 'public' AND last_value IS NOT NULL",
    )
    for sequence in used:
        conn.execute(f"ALTER SEQUENCE {sequence} RESTART")


def _names(conn: psycopg.Connection[tuple[object, ...]], query: str) -> list[str]:
    """The first column of ``query``'s rows, each quoted as an SQL identifier."""
    return ['"{}"'.format(str(row[0]).replace('"', '""')) for row in conn.execute(query)]


@pytest.fixture(scope="session")
def _shared_postgres() -> Iterator[SharedPostgres]:
    shared = SharedPostgres()
    try:
        yield shared
    finally:
        shared.drop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL at head with no data in it, once for SQLite and once for PostgreSQL.

    The SQLite file is a copy of the migrated template (``_migrated_sqlite``); the PostgreSQL
    database is the test process' shared one (``SharedPostgres``). A test marked
    ``empty_store`` gets a store never migrated instead: a SQLite file that does not exist yet,
    a new PostgreSQL database with no tables.
    """
    is_empty = request.node.get_closest_marker("empty_store") is not None
    if request.param == "sqlite":
        path = tmp_path / "opsbook.db"
        if not is_empty:
            shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
        yield f"sqlite:///{path}"
    elif is_empty:
        yield request.getfixturevalue("pg_url")
    else:
        shared: SharedPostgres = request.getfixturevalue("_shared_postgres")
        # Emptied at the start rather than the end: by now every fixture of the previous test,
        # servers included, has been torn down, so nothing can write after the truncate.
        shared.empty()
        yield shared.url


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store migrated to head once per test process, which each ``store_url`` copies.
    Copying the file is far cheaper than running every migration for each test (``tests/store``
    tests the migrations themselves). PostgreSQL gains nothing from a template database:
    ``CREATE DATABASE ... TEMPLATE`` costs more than the migrations."""
    path = tmp_path_factory.mktemp("template") / "opsbook.db"
    template = create_engine(f"sqlite:///{path}")
    upgrade(template)
    template.dispose()
    return str(path)


@pytest.fixture
def engine(store_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A store migrated to head, once on SQLite and once on PostgreSQL; disposed afterwards."""
    engine = create_engine(store_url)
    if request.node.get_closest_marker("empty_store") is not None:
        upgrade(engine)  # ``store_url`` is at head already otherwise
    yield engine
    engine.dispose()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``opsbook serve`` (``serving.Server``) with a config text written to
    ``tmp_path/opsbook.yaml`` and the environment without ``OPSBOOK_*`` settings, plus
    ``database_url`` if given. Every server started is killed at teardown."""
    started: list[Server] = []

    def start(config: str = "service: t\n", *, database_url: str | None = None) -> Server:
        path = tmp_path / "opsbook.yaml"
        path.write_text(config, encoding="utf-8")
        server = Server(path, env=serve_env(database_url))
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Hash passwords at argon2id's lowest cost in the test processes. At the production cost
    (64 MiB, t=3) each hash or check took 0.15-0.25 s, 80 s of a run. A hash names its own
    cost, so checks, and the ``opsbook serve`` processes tests start, read these as any other
    (a server rehashes one at its cost on the first login, as after an upgrade)."""
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(accounts_service, "_HASHER", cheap)
        yield


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Put logging back as it was after each test. A command run in-process that configures
    logging (``opsbook serve`` refusing to bind, the demo) installs a root handler writing to
    that test's captured stderr; left in place, every later log line on the worker fails with
    "--- Logging error ---" on a closed stream, in whatever test runs next."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    yield
    for added in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(added)
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture(autouse=True)
def _plain_log_tracebacks() -> None:
    """Keep structlog's console output, but print a logged exception as a plain traceback.

    In-process apps log with structlog's defaults (only ``opsbook serve`` configures JSON), whose
    console renderer draws each ``log.exception`` with Rich: a traceback with locals, about
    0.3 s of CPU each, on the event loop. A background task failing pass after pass (a store
    outage) then held requests up for seconds. Set per test because ``tests/test_logging.py``
    resets structlog to its defaults; a test that configures structlog itself comes later and wins.
    """
    processors = structlog.get_config()["processors"]
    if not any(_draws_rich_tracebacks(p) for p in processors):
        return
    structlog.configure(
        processors=[
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
            if _draws_rich_tracebacks(p)
            else p
            for p in processors
        ]
    )


def _draws_rich_tracebacks(processor: object) -> bool:
    return (
        isinstance(processor, structlog.dev.ConsoleRenderer)
        and processor.exception_formatter is not structlog.dev.plain_traceback
    )


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect garbage at each test's teardown, so a leaked connection or file is reported
    against the test that leaked it instead of whichever test runs when the collector does.

    Then everything still alive is frozen (``gc.freeze``), so the next collection walks only
    what the next test made. A full collection of the whole heap (every module the suite has
    imported, the apps earlier tests built) cost 0.1-0.2 s per test, several minutes a run;
    what an earlier test left alive and later drops stays uncollected until the process ends."""
    yield
    gc.collect()
    gc.freeze()
