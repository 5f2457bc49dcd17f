from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from opsbook.errors import StoreError
from opsbook.redaction import Secret
from opsbook.store import create_engine, display_url, ping, resolve_url
from opsbook.store.engine import DEFAULT_URL

SECRET = "S3cretPw-9z"


@pytest.mark.parametrize(
    ("environ", "config_url", "expected"),
    [
        ({}, None, DEFAULT_URL),
        ({}, "sqlite:///from-config.db", "sqlite:///from-config.db"),
        ({"OPSBOOK_DATABASE_URL": "sqlite:///env.db"}, "sqlite:///cfg.db", "sqlite:///env.db"),
        ({"OPSBOOK_DATABASE_URL": "sqlite:///env.db"}, None, "sqlite:///env.db"),
        ({"OPSBOOK_DATABASE_URL": "  "}, "sqlite:///cfg.db", "sqlite:///cfg.db"),
        ({"OPSBOOK_DATABASE_URL": ""}, None, DEFAULT_URL),
    ],
)
def test_resolve_url_prefers_env_then_config_then_default(
    environ: dict[str, str], config_url: str | None, expected: str
) -> None:
    url = resolve_url(Secret(config_url) if config_url else None, environ=environ)
    assert isinstance(url, Secret)
    assert url.reveal() == expected


def test_sqlite_connections_get_the_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            got = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        engine.dispose()
    # synchronous: 1 is NORMAL (https://sqlite.org/pragma.html#pragma_synchronous)
    assert got == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}


def test_sqlite_pragmas_apply_to_every_pooled_connection(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as first, engine.connect() as second:
            values = [c.exec_driver_sql("PRAGMA foreign_keys").scalar() for c in (first, second)]
    finally:
        engine.dispose()
    assert values == [1, 1]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"mysql://root:{SECRET}@127.0.0.1/db", "unsupported store URL scheme 'mysql'"),
        (
            f"postgresql+psycopg2://u:{SECRET}@h/db",
            "unsupported store URL scheme 'postgresql+psycopg2'",
        ),
        ("sqlite+aiosqlite:///x.db", "unsupported store URL scheme 'sqlite+aiosqlite'"),
        ("not a url", "store URL 'not a url' is not a database URL"),
    ],
)
def test_it_rejects_unsupported_urls_naming_the_scheme_without_the_password(
    url: str, fragment: str
) -> None:
    with pytest.raises(StoreError) as caught:
        create_engine(Secret(url))
    message = str(caught.value)
    assert fragment in message
    assert "sqlite:///PATH or postgresql+psycopg://" in message
    assert SECRET not in message


def test_the_unsupported_scheme_message_shows_the_redacted_url() -> None:
    with pytest.raises(StoreError) as caught:
        create_engine(f"mysql://root:{SECRET}@127.0.0.1/db")
    assert "'mysql://root:***@127.0.0.1/db'" in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgres_urls_use_psycopg_3_with_pre_ping(scheme: str) -> None:
    engine = create_engine(f"{scheme}://u@127.0.0.1:5432/db")
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_store_raises_store_error_with_the_url_redacted() -> None:
    port = _closed_port()
    engine = create_engine(f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/x")
    with pytest.raises(StoreError) as caught:
        ping(engine)
    message = str(caught.value)
    assert message.startswith(f"store postgresql+psycopg://postgres:***@127.0.0.1:{port}/x is")
    assert "unreachable" in message
    assert SECRET not in message


def test_display_url_masks_the_password_of_every_url_form() -> None:
    raw = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/db"
    shown = {display_url(raw), display_url(Secret(raw)), display_url(sa.make_url(raw))}
    assert shown == {"postgresql+psycopg://postgres:***@127.0.0.1:5432/db"}


def test_ping_succeeds_on_a_reachable_store(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        ping(engine)
    finally:
        engine.dispose()
