"""Ping storage and the heartbeat monitor, on SQLite and PostgreSQL, with a frozen clock."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy.engine import Connection, Engine

from opsbook.checks import heartbeats_monitor
from opsbook.checks.heartbeats import HeartbeatFacts, PingKind, heartbeat_uuid
from opsbook.checks.heartbeats_monitor import HeartbeatMonitor
from opsbook.checks.models import Check, State
from opsbook.checks.pings import PingIn, PingTargets, heartbeat_facts, list_pings, record_ping
from opsbook.clock import FrozenClock
from opsbook.config import CheckSpec, Config

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
m = timedelta(minutes=1)


def _ping(
    engine: Engine, kind: PingKind, at: datetime, *, check_id: str = "job", **fields: object
) -> None:
    with engine.begin() as conn:
        record_ping(
            conn,
            ping_in=PingIn(check_id=check_id, kind=kind, method="POST", **fields),  # type: ignore[arg-type]
            at=at,
        )


def _facts(engine: Engine, check_id: str = "job") -> HeartbeatFacts:
    with engine.connect() as conn:
        return heartbeat_facts(conn, check_id=check_id)


def test_a_ping_is_stored_with_everything_the_client_sent(engine: Engine) -> None:
    rid = uuid4()
    _ping(
        engine,
        PingKind.FAIL,
        T0,
        exit_status=3,
        rid=rid,
        remote_addr="10.0.0.7",
        user_agent="curl/8.5",
        body="backup failed: disk full",
    )
    with engine.connect() as conn:
        [stored] = list_pings(conn, check_id="job")
    assert (stored.kind, stored.exit_status, stored.rid) == (PingKind.FAIL, 3, str(rid))
    assert (stored.received_at, stored.method, stored.remote_addr) == (T0, "POST", "10.0.0.7")
    assert (stored.user_agent, stored.body, stored.duration_ms) == (
        "curl/8.5",
        "backup failed: disk full",
        None,
    )


def test_pings_list_newest_first_and_page_back(engine: Engine) -> None:
    for i in range(5):
        _ping(engine, PingKind.SUCCESS, T0 + i * m)
    _ping(engine, PingKind.SUCCESS, T0, check_id="other")
    with engine.connect() as conn:
        first = list_pings(conn, check_id="job", limit=3)
        second = list_pings(conn, check_id="job", limit=3, before_id=first[-1].id)
    assert [p.received_at for p in first] == [T0 + 4 * m, T0 + 3 * m, T0 + 2 * m]
    assert [p.received_at for p in second] == [T0 + m, T0]


def test_facts_follow_the_last_completion_and_an_open_start(engine: Engine) -> None:
    assert _facts(engine) == HeartbeatFacts()
    _ping(engine, PingKind.START, T0)
    assert _facts(engine) == HeartbeatFacts(last_start_at=T0)
    _ping(engine, PingKind.LOG, T0 + m)
    _ping(engine, PingKind.SUCCESS, T0 + 2 * m)
    assert _facts(engine) == HeartbeatFacts(last_ping_at=T0 + 2 * m)
    _ping(engine, PingKind.FAIL, T0 + 3 * m, exit_status=2)
    assert _facts(engine) == HeartbeatFacts(
        last_ping_at=T0 + 3 * m, last_ping_failed=True, exit_status=2
    )


def test_run_ids_pair_overlapping_starts_with_their_own_completions(engine: Engine) -> None:
    run_a, run_b = uuid4(), uuid4()
    _ping(engine, PingKind.START, T0, rid=run_a)
    _ping(engine, PingKind.START, T0 + m, rid=run_b)
    _ping(engine, PingKind.SUCCESS, T0 + 5 * m, rid=run_a)
    # Run B is still going: its start stays open and its duration will count from T0 + 1m.
    assert _facts(engine).last_start_at == T0 + m
    _ping(engine, PingKind.SUCCESS, T0 + 3 * m + 7 * m, rid=run_b)
    with engine.connect() as conn:
        durations = [p.duration_ms for p in list_pings(conn, check_id="job")]
    assert durations == [9 * 60_000.0, 5 * 60_000.0, None, None]
    assert _facts(engine).last_start_at is None


def test_targets_resolve_uuids_and_slugs_only_with_the_right_key() -> None:
    explicit = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
    config = Config.model_validate(
        {
            "service": "levqor",
            "pings": {"key": "k" * 22},
            "checks": {
                "backup": {"heartbeat": {"period": "1d", "uuid": str(explicit)}},
                "worker": {"heartbeat": {"period": "5m"}},
                "api": {"tcp": {"host": "db", "port": 5432}},
            },
        }
    )
    targets = PingTargets.from_config(config)
    assert dict(targets.by_uuid) == {
        explicit: "backup",
        heartbeat_uuid(service="levqor", check_id="worker"): "worker",
    }
    assert targets.by_slug("k" * 22, "worker") == "worker"
    assert targets.by_slug("k" * 21 + "x", "worker") is None
    assert targets.by_slug("k" * 22, "api") is None


def _monitor(engine: Engine, clock: FrozenClock) -> HeartbeatMonitor:
    spec = CheckSpec.model_validate({"heartbeat": {"period": "1h", "grace": "10m"}})
    api = CheckSpec.model_validate({"tcp": {"host": "db", "port": 5432}})
    return HeartbeatMonitor(
        [Check("job", spec), Check("api", api)], engine=engine, clock=clock, timezone="UTC"
    )


def test_the_monitor_reports_pings_and_state_changes_once_each(engine: Engine) -> None:
    clock = FrozenClock(T0)
    monitor = _monitor(engine, clock)
    assert monitor.tick_sync() == []  # new: no data, which is not "up"
    assert monitor.next_wakeup_at is None

    _ping(engine, PingKind.START, T0)
    _ping(engine, PingKind.SUCCESS, T0 + 2 * m)
    _ping(engine, PingKind.SUCCESS, T0 + 3 * m, check_id="unknown-check")
    clock.advance(3 * m)
    [done] = monitor.tick_sync()
    assert (done.check_id, done.state, done.latency_ms, done.error) == (
        "job",
        State.UP,
        120_000.0,
        None,
    )
    assert done.started_at == T0 + 2 * m
    assert monitor.tick_sync() == []
    assert monitor.next_wakeup_at == T0 + 62 * m

    clock.advance(59 * m)  # T0 + 62m: the ping is due now
    [late] = monitor.tick_sync()
    assert (late.state, late.latency_ms, late.values) == (State.DEGRADED, 0.0, {"status": "late"})
    assert late.error == (
        "no ping since 2026-06-01T12:02:00Z; expected by 2026-06-01T13:02:00Z, "
        "down after 10m of grace"
    )
    clock.advance(10 * m)
    [down] = monitor.tick_sync()
    assert (down.state, down.started_at) == (State.DOWN, T0 + 72 * m)
    assert monitor.tick_sync() == []

    _ping(engine, PingKind.SUCCESS, clock.now())
    [recovered] = monitor.tick_sync()
    assert (recovered.state, recovered.latency_ms) == (State.UP, 0.0)
    assert monitor.tick_sync() == []


def test_a_failure_ping_is_down_at_once_with_the_exit_status(engine: Engine) -> None:
    clock = FrozenClock(T0)
    monitor = _monitor(engine, clock)
    monitor.tick_sync()
    _ping(engine, PingKind.FAIL, T0, exit_status=4)
    [failed] = monitor.tick_sync()
    assert (failed.state, failed.error) == (State.DOWN, "the run exited with status 4")
    assert failed.values == {"status": "down", "exit_status": 4}
    assert monitor.tick_sync() == []


def test_the_monitor_does_not_replay_pings_from_before_it_started(engine: Engine) -> None:
    _ping(engine, PingKind.SUCCESS, T0)
    _ping(engine, PingKind.SUCCESS, T0 + m)
    monitor = _monitor(engine, FrozenClock(T0 + 2 * m))
    [current] = monitor.tick_sync()
    assert (current.state, current.values) == (State.UP, {"status": "up"})


async def test_tick_runs_off_the_event_loop(engine: Engine) -> None:
    monitor = _monitor(engine, FrozenClock(T0))
    _ping(engine, PingKind.FAIL, T0)
    [result] = await monitor.tick()
    assert result.state == State.DOWN


async def test_cancelling_a_tick_waits_for_its_thread_to_let_go_of_the_store(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = threading.Event()

    def slow_facts(conn: Connection, *, check_id: str) -> HeartbeatFacts:
        inside.set()
        time.sleep(0.3)  # the thread holds a pooled connection meanwhile
        return heartbeat_facts(conn, check_id=check_id)

    monkeypatch.setattr(heartbeats_monitor, "heartbeat_facts", slow_facts)
    monitor = _monitor(engine, FrozenClock(T0))
    task = asyncio.create_task(monitor.tick())
    await asyncio.to_thread(inside.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
