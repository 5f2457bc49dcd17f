"""The one ``MetaData`` every domain's tables hang off, and column types that behave the same on
SQLite and PostgreSQL.

The naming convention gives constraints and indexes explicit names, so Alembic (and a batch
table rebuild on SQLite) produces the same names on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

# https://docs.sqlalchemy.org/en/20/core/constraints.html#configuring-constraint-naming-conventions
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that only accepts aware datetimes and always returns aware UTC datetimes.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone type, so the value is stored as
    naive UTC text and the zone is put back on the way out. Binding a naive datetime raises
    ``ValueError``: the program keeps time in UTC (DESIGN.md), so a naive one is a bug.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; opsbook stores aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always parse timestamps
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def timestamp_binder(dialect: Dialect) -> Callable[[datetime | None], Any]:
    """What a ``UTCDateTime`` binds on ``dialect``, for code that hands the driver values
    itself (``checks/executemany.py``, ``alerts/ingest_writes.py``). On SQLite an aware UTC
    time is rendered by datetime's C formatter as the naive UTC text SQLAlchemy's processor
    writes (always six digits of microseconds): that processor's Python cost a few percent of a
    one-alert ingest request. Anything else goes through the processor (which refuses a naive
    time)."""
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process if process is not None else (lambda value: value)

    def bind(value: datetime | None) -> Any:
        if value is not None and value.tzinfo is UTC:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return process(value)

    return bind


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact, key order not kept)."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def id_type() -> sa.types.TypeEngine[int]:
    """A 64-bit primary key that still autoincrements on SQLite (only INTEGER PRIMARY KEY does)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
