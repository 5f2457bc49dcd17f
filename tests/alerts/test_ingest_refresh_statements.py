"""Re-sent alerts get their own new content and times, whether their times are shared (one
Prometheus batch) or not (a group commit of one-alert requests), with the statements that suit
each store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from opsbook.alerts.ingest import alertmanager_writes
from opsbook.alerts.ingest_models import parse_postable_alerts
from opsbook.alerts.ingest_writes import Writes, _SqliteUpdates, apply_writes
from opsbook.alerts.tables import alert
from opsbook.config import Config

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {"service": "t", "integrations": {"prom": {"alertmanager": {"token": "prom-token-0123456789"}}}}
)
SERVICES = [f"svc-{i}" for i in range(10)]


def writes(services: list[str], *, seq: int, now: datetime) -> Writes:
    sent = [
        {
            "labels": {"alertname": "HighLatency", "service": s},
            "annotations": {"seq": f"{s}#{seq}"},
            "endsAt": (now + timedelta(minutes=4)).isoformat(),
        }
        for s in services
    ]
    return alertmanager_writes(
        config=CONFIG, integration="prom", alerts=parse_postable_alerts(sent), now=now
    )


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


def stored(engine: Engine) -> dict[str, tuple[str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert.c.labels, alert.c.annotations, alert.c.ends_at))
        return {
            r.labels["service"]: (r.annotations["seq"], r.ends_at.replace(tzinfo=UTC)) for r in rows
        }


def updates(statements: list[str]) -> list[str]:
    """The ``UPDATE alert`` statements run (an ``executemany`` counts once), ``"IN"`` for one
    by a list of ids, ``"="`` for one by a single id."""
    return sorted("IN" if " IN (" in s else "=" for s in statements if s.startswith("UPDATE alert"))


def test_one_alert_requests_each_keep_their_own_times_and_content(
    engine: Engine, statements: list[str]
) -> None:
    with engine.begin() as conn:
        apply_writes(conn, [writes(SERVICES, seq=0, now=T0)])
    statements.clear()
    # A group commit of ten one-alert requests, each at its own time.
    group = [writes([s], seq=1, now=T0 + timedelta(seconds=n + 1)) for n, s in enumerate(SERVICES)]
    with engine.begin() as conn:
        apply_writes(conn, group)
    found = stored(engine)
    for n, s in enumerate(SERVICES):
        assert found[s] == (f"{s}#1", T0 + timedelta(seconds=n + 1, minutes=4))
    # Times differ per alert: one statement (an executemany) sets content and times.
    assert updates(statements) == ["="]


def test_a_batch_sharing_its_times_updates_them_once(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        apply_writes(conn, [writes(SERVICES, seq=0, now=T0)])
    statements.clear()
    later = T0 + timedelta(seconds=30)
    with engine.begin() as conn:
        apply_writes(conn, [writes(SERVICES, seq=2, now=later)])
    found = stored(engine)
    assert found == {s: (f"{s}#2", later + timedelta(minutes=4)) for s in SERVICES}
    if engine.dialect.name == "sqlite":
        # Values bound as text: each row written once, content and times in one executemany.
        assert updates(statements) == ["="]
    else:
        # The shared times by a list of ids, each alert's content by its id.
        assert updates(statements) == ["=", "IN"]


def test_a_batch_sharing_its_content_and_times_is_one_update(
    engine: Engine, statements: list[str]
) -> None:
    with engine.begin() as conn:
        apply_writes(conn, [writes(SERVICES, seq=0, now=T0)])
    statements.clear()
    later = T0 + timedelta(seconds=30)
    same = writes(SERVICES, seq=3, now=later)
    for item in same.items:  # one annotation for the whole batch, as a request's ``seq``
        item.annotations.clear()
        item.annotations["seq"] = "batch#3"
    with engine.begin() as conn:
        apply_writes(conn, [same])
    found = stored(engine)
    assert found == {s: ("batch#3", later + timedelta(minutes=4)) for s in SERVICES}
    expected = ["IN"] if engine.dialect.name == "sqlite" else ["IN", "IN"]
    assert updates(statements) == expected


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset_minutes=st.sampled_from([0, 60, -330, 345]),
)
@settings(max_examples=300, deadline=None)
def test_sqlite_times_are_the_text_sqlalchemy_would_bind(
    moment: datetime, offset_minutes: int
) -> None:
    # The fast path (aware UTC) and the processor's (any other zone) write the same text as
    # SQLAlchemy binds for a UTCDateTime column: SQLite compares and orders them as text.
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        given_time = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
        expected = alert.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)(
            given_time
        )
        assert _SqliteUpdates(conn)._text(given_time) == expected
