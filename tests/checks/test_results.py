"""Writing results in batches: raw rows, change marking, current state, pages, and runs."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.checks import rollups, service
from opsbook.checks.models import Check, ProbeResult, State
from opsbook.checks.tables import check_result, check_rollup, check_state, opsbook_run
from opsbook.clock import FrozenClock
from opsbook.config import CheckSpec

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=30)


def _check(check_id: str) -> Check:
    spec = CheckSpec.model_validate({"tcp": {"host": "127.0.0.1", "port": 1}, "every": "30s"})
    return Check(id=check_id, spec=spec)


def _result(
    check_id: str, i: int, state: State = State.UP, *, error: str | None = None
) -> ProbeResult:
    return ProbeResult(
        check_id=check_id,
        started_at=T0 + i * EVERY,
        state=state,
        latency_ms=12.5,
        error=error,
        failed_conditions=("[STATUS] (500) == 200",) if state is State.DOWN else (),
        status=500 if state is State.DOWN else 200,
        values={"depth": 3},
        timings_ms={"connect": 1.5},
    )


async def test_many_results_are_written_in_few_transactions(engine: Engine) -> None:
    commits: list[object] = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(conn))
    sink = service.StoreSink(engine, checks=[_check(f"c{n}") for n in range(50)])
    results = [_result(f"c{n}", i) for n in range(50) for i in range(10)]
    await sink.write(results[:250])
    await sink.write(results[250:])
    assert len(commits) == 2
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(check_result)) == 500
        assert conn.scalar(sa.select(sa.func.count()).select_from(check_state)) == 50
        # One minute row per check per minute (10 results span 5 minutes), one hour row each.
        assert (
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(check_rollup)
                .where(check_rollup.c.resolution == "minute")
            )
            == 250
        )


def test_failures_and_state_changes_are_marked_to_be_kept_longer(engine: Engine) -> None:
    states = [State.UP, State.UP, State.DOWN, State.DOWN, State.UP, State.DEGRADED, State.UP]
    with engine.begin() as conn:
        service.record_results(
            conn, results=[_result("api", i, s) for i, s in enumerate(states)], intervals={}
        )
    with engine.connect() as conn:
        marks = (
            conn.execute(sa.select(check_result.c.is_change).order_by(check_result.c.started_at))
            .scalars()
            .all()
        )
    assert marks == [True, False, True, True, True, True, True]


def test_the_current_state_follows_the_last_result_and_keeps_when_it_changed(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        service.record_results(
            conn,
            results=[
                _result("api", 0),
                _result("api", 1, State.DOWN, error="connect to 10.0.0.5:5432 timed out after 5s"),
            ],
            intervals={},
        )
    with engine.begin() as conn:
        service.record_results(
            conn, results=[_result("api", 2, State.DOWN, error="again")], intervals={}
        )
    with engine.connect() as conn:
        [status] = service.current_states(conn)
    assert status.state is State.DOWN
    assert status.changed_at == T0 + EVERY
    assert status.last_result_at == T0 + 2 * EVERY
    assert status.last_error == "again"


def test_a_lost_state_row_is_rebuilt_from_results(engine: Engine) -> None:
    states = [State.DOWN, State.UP, State.UP, State.UP]
    with engine.begin() as conn:
        service.record_results(
            conn, results=[_result("api", i, s) for i, s in enumerate(states)], intervals={}
        )
        conn.execute(sa.delete(check_state))
    with engine.begin() as conn:
        [status] = service.current_states(conn, check_ids=["api"])
    assert (status.state, status.changed_at, status.last_result_at) == (
        State.UP,
        T0 + EVERY,
        T0 + 3 * EVERY,
    )
    with engine.connect() as conn:
        assert conn.scalar(sa.select(check_state.c.state)) == "up"


def test_results_page_newest_first_with_a_cursor(engine: Engine) -> None:
    with engine.begin() as conn:
        service.record_results(conn, results=[_result("api", i) for i in range(7)], intervals={})
        service.record_results(conn, results=[_result("other", 0)], intervals={})
    with engine.connect() as conn:
        first = service.recent_results(conn, check_id="api", limit=3)
        second = service.recent_results(conn, check_id="api", limit=3, before=first[-1].id)
        last = service.recent_results(conn, check_id="api", limit=3, before=second[-1].id)
    times = [r.started_at for r in first + second + last]
    assert times == [T0 + i * EVERY for i in range(6, -1, -1)]
    assert first[0].values == {"depth": 3}
    assert first[0].timings_ms == {"connect": 1.5}


def test_stored_results_keep_the_failed_conditions(engine: Engine) -> None:
    with engine.begin() as conn:
        service.record_results(conn, results=[_result("api", 0, State.DOWN)], intervals={})
    with engine.connect() as conn:
        [stored] = service.recent_results(conn, check_id="api", limit=10)
    assert stored.failed_conditions == ("[STATUS] (500) == 200",)
    assert stored.status == 500


async def test_the_sink_records_when_opsbook_runs(engine: Engine) -> None:
    clock = FrozenClock(T0)
    sink = service.StoreSink(engine, checks=[], clock=clock)
    await sink.alive()
    clock.advance(timedelta(seconds=10))
    await sink.alive()
    clock.advance(timedelta(seconds=5))
    await sink.alive(stopping=True)
    with engine.connect() as conn:
        row = conn.execute(sa.select(opsbook_run)).one()
        assert (row.started_at, row.last_seen_at, row.stopped_at) == (
            T0,
            T0 + timedelta(seconds=15),
            T0 + timedelta(seconds=15),
        )
        assert (
            service.running_seconds(
                conn, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)
            )
            == 15.0
        )


def test_a_flush_reads_nothing_that_grows_with_history(engine: Engine) -> None:
    # Issue 10: each flush read the rollup rows it was about to update (a full scan of
    # check_rollup on SQLite) and looked for checks without a state row in check_result (an
    # index walk over every result of every check). A flush may read check_state (one row per
    # check) and write the rest; the store merges rollups itself.
    with engine.begin() as conn:
        service.record_results(conn, results=[_result("api", 0), _result("db", 0)], intervals={})
    reads: list[str] = []

    def before(conn, cursor, statement, parameters, context, many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            reads.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        with engine.begin() as conn:
            service.record_results(
                conn, results=[_result("api", 1), _result("db", 1)], intervals={}
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    history = [s for s in reads if "check_result" in s or "check_rollup" in s]
    assert history == []
    assert reads, "the flush reads check_state"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(check_rollup.c.histogram, check_rollup.c.n_up).where(
                check_rollup.c.check_id == "api", check_rollup.c.resolution == "minute"
            )
        ).all()
    # Both results fell in the same minute: the stored histogram is the two merged.
    assert [(sum(int(v) for v in r.histogram.values()), r.n_up) for r in rows] == [(2, 2)]


def test_stored_histograms_add_up_like_rollups_merge(engine: Engine) -> None:
    """The store's merge of a flush into a stored histogram (SQL, each dialect) gives what
    ``rollups.merge`` gives: counts add per bucket, new buckets join, none is lost."""
    rng = random.Random(15)
    expected: dict[str, rollups.Histogram] = {res: {} for res in rollups.RESOLUTION_STEP}
    i = 0
    for _ in range(6):  # six flushes of 1-5 results into the same hour and day
        batch = []
        for _ in range(rng.randint(1, 5)):
            latency = rng.choice([0.0, 0.004, 3.0, 12.5, 12.6, 480.0, rng.uniform(0, 9000)])
            batch.append(dataclasses.replace(_result("api", i), latency_ms=latency))
            i += 1
            for res in expected:
                index = rollups.bucket_index(latency)
                expected[res][index] = expected[res].get(index, 0) + 1
        with engine.begin() as conn:
            service.record_results(conn, results=batch, intervals={})
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(check_rollup.c.resolution, check_rollup.c.histogram).where(
                check_rollup.c.check_id == "api", check_rollup.c.resolution != "minute"
            )
        ).all()
    stored = {r.resolution: rollups.from_json(r.histogram) for r in rows}
    assert stored == {"hour": expected["hour"], "day": expected["day"]}
    assert len(expected["day"]) > 3  # several buckets, some hit more than once
