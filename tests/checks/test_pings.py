"""Ping storage, the run-id rules and the heartbeat monitor, on SQLite and PostgreSQL, with a
frozen clock."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine

from opsbook.checks import heartbeats_monitor
from opsbook.checks.heartbeats import (
    HeartbeatFacts,
    HeartbeatStatus,
    PingKind,
    heartbeat_uuid,
    verdict,
)
from opsbook.checks.heartbeats_monitor import HeartbeatMonitor, accept_ping
from opsbook.checks.models import Check, ProbeResult, State
from opsbook.checks.pings import (
    PingIn,
    PingTargets,
    TrackedFacts,
    heartbeat_facts,
    list_pings,
    record_ping,
    tracked_facts,
)
from opsbook.checks.service import current_states, record_results
from opsbook.clock import FrozenClock
from opsbook.config import CheckSpec, Config
from opsbook.config.checks import HeartbeatSpec
from opsbook.store import create_engine
from opsbook.store.migrate import alembic_config

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
m = timedelta(minutes=1)
HOURLY = HeartbeatSpec(period=timedelta(hours=1), grace=timedelta(minutes=10))


def _ping(
    engine: Engine, kind: PingKind, at: datetime, *, check_id: str = "job", **fields: object
) -> None:
    with engine.begin() as conn:
        record_ping(
            conn,
            ping_in=PingIn(check_id=check_id, kind=kind, method="POST", **fields),  # type: ignore[arg-type]
            at=at,
        )


def _accept(
    engine: Engine, kind: PingKind, at: datetime, *, check_id: str = "job", **fields: object
) -> list[ProbeResult]:
    """A ping as the route stores it: with the results it causes, in one transaction."""
    with engine.begin() as conn:
        _, results = accept_ping(
            conn,
            ping_in=PingIn(check_id=check_id, kind=kind, method="POST", **fields),  # type: ignore[arg-type]
            at=at,
            spec=HOURLY,
            interval=timedelta(seconds=30),
            timezone="UTC",
        )
    return results


def _facts(engine: Engine, check_id: str = "job") -> HeartbeatFacts:
    with engine.connect() as conn:
        return heartbeat_facts(conn, check_id=check_id)


def _stored_state(engine: Engine, check_id: str = "job") -> State | None:
    with engine.begin() as conn:
        found = current_states(conn, check_ids=[check_id])
    return found[0].state if found else None


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
        body=b"backup failed: disk full \xff\xfe",
    )
    with engine.connect() as conn:
        [stored] = list_pings(conn, check_id="job")
    assert (stored.kind, stored.exit_status, stored.rid) == (PingKind.FAIL, 3, str(rid))
    assert (stored.received_at, stored.method, stored.remote_addr) == (T0, "POST", "10.0.0.7")
    assert (stored.user_agent, stored.body, stored.duration_ms) == (
        "curl/8.5",
        b"backup failed: disk full \xff\xfe",
        None,
    )
    # The bytes are kept as sent; shown, the ones that are not UTF-8 are escaped.
    assert stored.body_text == "backup failed: disk full \\xff\\xfe"


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


RUNS = {"A": UUID(int=0xA), "B": UUID(int=0xB), "C": UUID(int=0xC)}
START, SUCCESS, FAIL, LOG = PingKind.START, PingKind.SUCCESS, PingKind.FAIL, PingKind.LOG
UP, DOWN = HeartbeatStatus.UP, HeartbeatStatus.DOWN


@pytest.mark.parametrize(
    ("events", "durations", "open_start", "at_30m"),
    [
        # (kind, run id, minute): the completions' durations in minutes, the start still
        # running, and the status 30 minutes in (hourly, grace 10m), each as healthchecks.io
        # decides them (hc/api/models.py: Check.ping, Ping.duration, Check.get_status).
        pytest.param(
            [(START, "A", 0), (FAIL, "B", 1), (SUCCESS, "C", 2)],
            [None, None],
            None,
            UP,
            id="a failure of another run ends the running state, a new run's success is up",
        ),
        pytest.param(
            [(START, "A", 0), (SUCCESS, None, 5)],
            [None],
            None,
            UP,
            id="a success without run id ends a run with one, but measures nothing",
        ),
        pytest.param([(START, None, 0), (SUCCESS, None, 5)], [5], None, UP, id="no run ids pair"),
        pytest.param([(START, "A", 0), (SUCCESS, "A", 5)], [5], None, UP, id="one run id"),
        pytest.param(
            [(START, None, 0), (SUCCESS, "A", 5)],
            [None],
            0,
            DOWN,
            id="a success with a run id leaves a start without one running",
        ),
        pytest.param(
            [(START, "A", 0), (SUCCESS, "B", 5)],
            [None],
            0,
            DOWN,
            id="a success of another run leaves the start running",
        ),
        pytest.param(
            [(START, "A", 0), (START, "B", 1), (SUCCESS, "A", 5), (SUCCESS, "B", 7)],
            [5, 6],
            None,
            UP,
            id="overlapping runs each get their own duration",
        ),
        pytest.param(
            [(START, "A", 0), (START, "B", 1), (SUCCESS, "A", 5)],
            [5],
            1,
            DOWN,
            id="the latest start is the one that must finish",
        ),
        pytest.param([(START, "A", 0), (FAIL, "A", 5)], [5], None, DOWN, id="a run that fails"),
        pytest.param(
            [(START, "A", 0), (FAIL, None, 5)],
            [None],
            None,
            DOWN,
            id="a failure without run id ends the run, measures nothing",
        ),
        pytest.param(
            [(START, "A", 0), (START, "A", 3), (SUCCESS, "A", 5)],
            [2],
            None,
            UP,
            id="a run started again counts from its last start",
        ),
        pytest.param(
            [(SUCCESS, None, 0), (SUCCESS, None, 5)], [None, None], None, UP, id="no starts"
        ),
        pytest.param(
            [(START, None, 0), (LOG, None, 1), (SUCCESS, None, 5)],
            [5],
            None,
            UP,
            id="a log between start and success changes nothing",
        ),
        pytest.param(
            [(START, None, 0), (SUCCESS, "A", 2), (SUCCESS, None, 5)],
            [None, 5],
            None,
            UP,
            id="a success without run id pairs with the start without one across others",
        ),
        pytest.param(
            [(START, "A", 0), (SUCCESS, "A", 2), (SUCCESS, "A", 5)],
            [2, None],
            None,
            UP,
            id="a run's second completion measures nothing",
        ),
    ],
)
def test_run_ids_follow_healthchecks_rules(
    engine: Engine,
    events: list[tuple[PingKind, str | None, int]],
    durations: list[int | None],
    open_start: int | None,
    at_30m: HeartbeatStatus,
) -> None:
    for kind, run, minute in events:
        _accept(engine, kind, T0 + minute * m, rid=RUNS[run] if run else None)
    with engine.connect() as conn:
        stored = list(reversed(list_pings(conn, check_id="job")))
    measured = [p.duration_ms for p in stored if p.kind in (SUCCESS, FAIL)]
    assert measured == [d * 60_000.0 if d is not None else None for d in durations]
    facts = _facts(engine)
    assert facts.last_start_at == (T0 + open_start * m if open_start is not None else None)
    assert verdict(HOURLY, facts, now=T0 + 30 * m, timezone="UTC").status == at_30m


def test_a_run_longer_than_72_hours_is_not_measured(engine: Engine) -> None:
    run_a, run_b = uuid4(), uuid4()
    _ping(engine, PingKind.START, T0, rid=run_a)
    _ping(engine, PingKind.START, T0, rid=run_b)
    _ping(engine, PingKind.SUCCESS, T0 + timedelta(hours=71), rid=run_a)
    _ping(engine, PingKind.SUCCESS, T0 + timedelta(hours=72), rid=run_b)
    with engine.connect() as conn:
        durations = [p.duration_ms for p in list_pings(conn, check_id="job")]
    assert durations == [None, 71 * 3_600_000.0, None, None]


# -- the state a ping causes, and the monitor ---------------------------------------------------


def test_a_ping_changes_the_stored_state_in_the_transaction_that_stores_it(
    engine: Engine,
) -> None:
    [done] = _accept(engine, PingKind.SUCCESS, T0)
    assert (done.state, done.values, done.started_at) == (State.UP, {"status": "up"}, T0)
    assert _stored_state(engine) == State.UP
    [failed] = _accept(engine, PingKind.FAIL, T0 + m, exit_status=4)
    assert (failed.state, failed.error) == (State.DOWN, "the run exited with status 4")
    assert failed.values == {"status": "down", "exit_status": 4}
    assert _stored_state(engine) == State.DOWN
    # A start on a down check, and a log, change nothing; a success brings it back.
    assert _accept(engine, PingKind.START, T0 + 2 * m) == []
    assert _accept(engine, PingKind.LOG, T0 + 3 * m) == []
    [back] = _accept(engine, PingKind.SUCCESS, T0 + 4 * m)
    assert (back.state, back.latency_ms) == (State.UP, 120_000.0)
    assert _stored_state(engine) == State.UP


def _monitor(engine: Engine, clock: FrozenClock) -> HeartbeatMonitor:
    spec = CheckSpec.model_validate({"heartbeat": {"period": "1h", "grace": "10m"}})
    api = CheckSpec.model_validate({"tcp": {"host": "db", "port": 5432}})
    return HeartbeatMonitor(
        [Check("job", spec), Check("api", api)], engine=engine, clock=clock, timezone="UTC"
    )


def _tick(monitor: HeartbeatMonitor, engine: Engine) -> list[ProbeResult]:
    """One tick, its results written as the scheduler's sink writes them."""
    results = monitor.tick_sync()
    with engine.begin() as conn:
        record_results(conn, results=results, intervals={})
    return results


def test_the_monitor_reports_only_what_time_changes_once_each(engine: Engine) -> None:
    clock = FrozenClock(T0)
    monitor = _monitor(engine, clock)
    assert _tick(monitor, engine) == []  # new: no data, which is not "up"
    assert monitor.next_wakeup_at is None

    _accept(engine, PingKind.START, T0)
    _accept(engine, PingKind.SUCCESS, T0 + 2 * m)
    _accept(engine, PingKind.SUCCESS, T0 + 3 * m, check_id="unknown-check")
    clock.advance(3 * m)
    assert _tick(monitor, engine) == []  # the pings reported themselves
    assert monitor.next_wakeup_at == T0 + 62 * m

    clock.advance(59 * m)  # T0 + 62m: the ping is due now
    [late] = _tick(monitor, engine)
    assert (late.state, late.latency_ms, late.values) == (State.DEGRADED, 0.0, {"status": "late"})
    assert late.error == (
        "no ping since 2026-06-01T12:02:00Z; expected by 2026-06-01T13:02:00Z, "
        "down after 10m of grace"
    )
    clock.advance(10 * m)
    [down] = _tick(monitor, engine)
    assert (down.state, down.started_at) == (State.DOWN, T0 + 72 * m)
    assert _tick(monitor, engine) == []

    [recovered] = _accept(engine, PingKind.SUCCESS, clock.now())
    assert (recovered.state, recovered.latency_ms) == (State.UP, 0.0)
    assert _tick(monitor, engine) == []


def test_a_start_on_a_late_check_is_up_at_once(engine: Engine) -> None:
    clock = FrozenClock(T0 + 61 * m)
    _accept(engine, PingKind.SUCCESS, T0)
    [late] = _tick(_monitor(engine, clock), engine)
    assert late.state == State.DEGRADED
    [started] = _accept(engine, PingKind.START, clock.now())
    assert (started.state, started.values) == (State.UP, {"status": "started"})
    assert _stored_state(engine) == State.UP


def test_a_tick_written_after_a_newer_ping_is_corrected_by_the_next(engine: Engine) -> None:
    clock = FrozenClock(T0 + 70 * m)
    monitor = _monitor(engine, clock)
    _accept(engine, PingKind.SUCCESS, T0)
    stale = monitor.tick_sync()  # down: the deadline passed
    _accept(engine, PingKind.SUCCESS, clock.now())  # a ping lands before the tick is written
    with engine.begin() as conn:
        record_results(conn, results=stale, intervals={})
    assert _stored_state(engine) == State.DOWN
    [recovered] = _tick(monitor, engine)
    assert (recovered.state, recovered.values) == (State.UP, {"status": "up"})
    assert _stored_state(engine) == State.UP


def test_a_restarted_monitor_repeats_nothing_stored(engine: Engine) -> None:
    _accept(engine, PingKind.SUCCESS, T0)
    assert _tick(_monitor(engine, FrozenClock(T0 + 2 * m)), engine) == []


def test_pings_stored_without_their_state_are_reported_once(engine: Engine) -> None:
    # Pings an older opsbook stored and had not turned into results before it stopped.
    _ping(engine, PingKind.SUCCESS, T0)
    _ping(engine, PingKind.SUCCESS, T0 + m)
    monitor = _monitor(engine, FrozenClock(T0 + 2 * m))
    [current] = _tick(monitor, engine)
    assert (current.state, current.values) == (State.UP, {"status": "up"})
    assert _tick(monitor, engine) == []


async def test_tick_runs_off_the_event_loop(engine: Engine) -> None:
    monitor = _monitor(engine, FrozenClock(T0))
    _ping(engine, PingKind.FAIL, T0)
    [result] = await monitor.tick()
    assert result.state == State.DOWN


async def test_cancelling_a_tick_waits_for_its_thread_to_let_go_of_the_store(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = threading.Event()

    def slow_facts(conn: Connection, *, check_id: str) -> TrackedFacts:
        inside.set()
        time.sleep(0.3)  # the thread holds a pooled connection meanwhile
        return tracked_facts(conn, check_id=check_id)

    monkeypatch.setattr(heartbeats_monitor, "tracked_facts", slow_facts)
    monitor = _monitor(engine, FrozenClock(T0))
    _ping(engine, PingKind.SUCCESS, T0)
    task = asyncio.create_task(monitor.tick())
    await asyncio.to_thread(inside.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


BEFORE_BYTES = "6e9a3c1d4f5b"
"""The revision before ``ping.body`` became binary."""


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.mark.empty_store
def test_stored_text_bodies_become_their_exact_bytes_and_go_back(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        _migrate(engine, BEFORE_BYTES)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ping (check_id, kind, received_at, method, body) "
                    "VALUES ('job', 'success', :at, 'POST', :body)"
                ),
                {"at": T0, "body": "sauvegarde été: ok"},
            )
        _migrate(engine, "head")
        _ping(engine, PingKind.FAIL, T0 + m, body=b"disk \xff full")
        with engine.connect() as conn:
            bodies = [p.body for p in list_pings(conn, check_id="job")]
        assert bodies == [b"disk \xff full", "sauvegarde été: ok".encode()]

        _migrate(engine, BEFORE_BYTES, down=True)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT body FROM ping ORDER BY id")).scalars().all()
        assert rows == ["sauvegarde été: ok", "disk \\xff full"]
    finally:
        engine.dispose()
