"""The outbox on SQLite and PostgreSQL: enqueue once per key, claim with a lease, dead letters."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from notify_helpers import T0
from sqlalchemy.engine import Engine

from opsbook.errors import Conflict, NotFound
from opsbook.notify import outbox
from opsbook.notify.tables import notification
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit

LEASE = timedelta(minutes=1)


def _enqueue(engine: Engine, key: str, *, at: timedelta = timedelta()) -> int | None:
    with engine.begin() as conn:
        return outbox.enqueue(
            conn,
            channel="oncall",
            kind="alert",
            payload={"version": "4", "key": key},
            idempotency_key=key,
            now=T0 + at,
        )


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(notification)) or 0)


def _claim(engine: Engine, *, at: timedelta = timedelta(), limit: int = 10) -> list[outbox.Pending]:
    with engine.begin() as conn:
        return outbox.claim_due(conn, now=T0 + at, limit=limit, lease=LEASE)


def test_a_duplicate_idempotency_key_is_one_row(engine: Engine) -> None:
    first = _enqueue(engine, "oncall:g#1")
    assert isinstance(first, int)
    assert _enqueue(engine, "oncall:g#1") is None
    assert _count(engine) == 1


def test_a_key_stays_taken_after_delivery(engine: Engine) -> None:
    first = _enqueue(engine, "oncall:g#1")
    assert first is not None
    with engine.begin() as conn:
        outbox.mark_delivered(conn, first, now=T0)
    assert _enqueue(engine, "oncall:g#1") is None
    assert _claim(engine) == []


def test_enqueue_many_skips_stored_keys_and_inserts_the_rest(engine: Engine) -> None:
    _enqueue(engine, "k1")
    items = [
        outbox.NewNotification(channel="oncall", kind="alert", payload={}, idempotency_key=k)
        for k in ("k1", "k2", "k3")
    ]
    with engine.begin() as conn:
        assert len(outbox.enqueue_many(conn, items, now=T0)) == 2
    assert _count(engine) == 3


def test_a_rolled_back_transaction_enqueues_nothing(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        outbox.enqueue(
            conn, channel="oncall", kind="alert", payload={}, idempotency_key="k", now=T0
        )
        raise RuntimeError("the alert transition failed")
    assert _count(engine) == 0


def test_claim_takes_due_rows_oldest_first_and_counts_the_attempt(engine: Engine) -> None:
    late = _enqueue(engine, "late", at=timedelta(seconds=2))
    early = _enqueue(engine, "early", at=timedelta(seconds=1))
    _enqueue(engine, "future", at=timedelta(minutes=5))
    claimed = _claim(engine, at=timedelta(seconds=3))
    assert [(p.id, p.attempts) for p in claimed] == [(early, 1), (late, 1)]
    assert claimed[0].payload == {"version": "4", "key": "early"}
    assert claimed[0].channel == "oncall"


def test_a_claimed_row_is_not_claimed_again_until_its_lease_passes(engine: Engine) -> None:
    row = _enqueue(engine, "k")
    assert [p.id for p in _claim(engine)] == [row]
    assert _claim(engine, at=LEASE - timedelta(seconds=1)) == []
    # The worker "crashed": after the lease the row comes back, as attempt 2.
    [again] = _claim(engine, at=LEASE)
    assert (again.id, again.attempts) == (row, 2)


def test_claim_respects_the_limit(engine: Engine) -> None:
    for n in range(5):
        _enqueue(engine, f"k{n}")
    assert len(_claim(engine, limit=3)) == 3
    assert len(_claim(engine, limit=3)) == 2


def test_a_retry_releases_the_claim_until_its_due_time(engine: Engine) -> None:
    row = _enqueue(engine, "k")
    assert row is not None
    _claim(engine)
    with engine.begin() as conn:
        outbox.mark_retry(conn, row, due_at=T0 + timedelta(seconds=2), error="answered 500")
        assert outbox.next_due_at(conn, now=T0) == T0 + timedelta(seconds=2)
    assert _claim(engine, at=timedelta(seconds=1)) == []
    [again] = _claim(engine, at=timedelta(seconds=2))
    assert again.attempts == 2


def test_next_due_at_sees_due_times_and_live_leases(engine: Engine) -> None:
    with engine.connect() as conn:
        assert outbox.next_due_at(conn, now=T0) is None
    _enqueue(engine, "k")
    with engine.connect() as conn:
        assert outbox.next_due_at(conn, now=T0) == T0
    _claim(engine)
    with engine.connect() as conn:
        assert outbox.next_due_at(conn, now=T0) == T0 + LEASE


def test_dead_letters_keep_the_reason_and_can_be_requeued(engine: Engine) -> None:
    row = _enqueue(engine, "k")
    assert row is not None
    _claim(engine)
    with engine.begin() as conn:
        outbox.mark_dead(conn, row, reason="answered 404 Not Found", now=T0)
    with engine.connect() as conn:
        [dead] = outbox.list_dead_letters(conn)
    assert (dead.id, dead.state, dead.last_error, dead.dead_at, dead.attempts) == (
        row,
        "dead",
        "answered 404 Not Found",
        T0,
        1,
    )
    assert _claim(engine, at=timedelta(hours=1)) == []
    with engine.begin() as conn:
        requeued = outbox.requeue(conn, row, now=T0 + timedelta(hours=1), actor="ana", origin="cli")
    assert (requeued.state, requeued.attempts, requeued.dead_at) == ("pending", 0, None)
    with engine.connect() as conn:
        assert outbox.list_dead_letters(conn) == []
        [audit] = list_audit(conn)
    assert (audit.actor, audit.action, audit.subject, audit.origin, audit.at) == (
        "ana",
        "notification.retry",
        f"notification:{row}",
        "cli",
        T0 + timedelta(hours=1),
    )
    assert audit.detail == {"channel": "oncall", "last_error": "answered 404 Not Found"}
    [again] = _claim(engine, at=timedelta(hours=1))
    assert (again.id, again.attempts) == (row, 1)


def test_only_a_dead_notification_can_be_requeued(engine: Engine) -> None:
    row = _enqueue(engine, "k")
    assert row is not None
    with engine.begin() as conn, pytest.raises(Conflict, match="is pending"):
        outbox.requeue(conn, row, now=T0, actor="ana", origin="cli")
    with engine.begin() as conn, pytest.raises(NotFound, match="no notification 999"):
        outbox.requeue(conn, 999, now=T0, actor="ana", origin="cli")
    with engine.connect() as conn:
        assert list_audit(conn) == []


def test_a_late_failure_never_undoes_a_delivery(engine: Engine) -> None:
    # Worker A's lease ran out mid-send; worker B delivered; A's failure arrives last.
    row = _enqueue(engine, "k")
    assert row is not None
    with engine.begin() as conn:
        outbox.mark_delivered(conn, row, now=T0)
        outbox.mark_retry(conn, row, due_at=T0, error="timed out")
        outbox.mark_dead(conn, row, reason="answered 404", now=T0)
        state = outbox.get_notification(conn, row)
    assert (state.state, state.last_error, state.delivered_at) == ("delivered", None, T0)


def test_dead_letters_are_listed_newest_first(engine: Engine) -> None:
    ids = [_enqueue(engine, f"k{n}") for n in range(3)]
    with engine.begin() as conn:
        for n, row in enumerate(ids):
            assert row is not None
            outbox.mark_dead(conn, row, reason=f"r{n}", now=T0 + timedelta(seconds=n))
        assert [d.last_error for d in outbox.list_dead_letters(conn, limit=2)] == ["r2", "r1"]


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_claim_the_same_row(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        upgrade(engine)
        for n in range(4):
            _enqueue(engine, f"k{n}")
        with engine.connect() as a, engine.connect() as b, a.begin():
            first = outbox.claim_due(a, now=T0, limit=2, lease=LEASE)
            # a's transaction is still open: b skips a's locked rows instead of waiting.
            with b.begin():
                second = outbox.claim_due(b, now=T0, limit=10, lease=LEASE)
        assert len(first) == 2
        assert len(second) == 2
        assert {p.id for p in first}.isdisjoint(p.id for p in second)
    finally:
        engine.dispose()
