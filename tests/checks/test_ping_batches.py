"""Pings stored together (group commit) end as if each had been stored alone, in order, and the
heartbeat monitor that folds new pings into what it knew agrees with one that reads them all
again (SQLite and PostgreSQL, frozen clock)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.checks.heartbeats import PingKind
from opsbook.checks.heartbeats_monitor import HeartbeatMonitor, accept_ping, accept_pings
from opsbook.checks.models import Check
from opsbook.checks.ping_writer import PingWriter
from opsbook.checks.pings import PingBatch, PingIn, heartbeat_facts, list_pings, record_ping
from opsbook.checks.service import current_states
from opsbook.checks.tables import check_result
from opsbook.clock import FrozenClock
from opsbook.config import CheckSpec, Config
from opsbook.config.checks import HeartbeatSpec

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SPEC = HeartbeatSpec(period=timedelta(minutes=5), grace=timedelta(minutes=2))
CHECKS = ("a", "b", "c")
RUNS = (None, UUID(int=1), UUID(int=2))
KINDS = (PingKind.SUCCESS, PingKind.START, PingKind.FAIL, PingKind.LOG, PingKind.START)


def _pings(seed: int, n: int) -> list[tuple[PingIn, datetime]]:
    """A random mix of kinds, checks and run ids, 0 to 3 minutes apart (some at once)."""
    rng = random.Random(seed)
    at, out = T0, []
    for _ in range(n):
        at += timedelta(seconds=rng.choice((0, 20, 90, 180)))
        kind = rng.choice(KINDS)
        exit_status = 2 if kind is PingKind.FAIL and rng.random() < 0.5 else None
        ping_in = PingIn(
            check_id=rng.choice(CHECKS),
            kind=kind,
            method="GET",
            rid=rng.choice(RUNS),
            exit_status=exit_status,
        )
        out.append((ping_in, at))
    return out


def _stored(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        pings = [
            (p.check_id, p.kind, p.rid, p.received_at, p.duration_ms)
            for c in CHECKS
            for p in list_pings(conn, check_id=c, limit=500)
        ]
        results = conn.execute(
            sa.select(
                check_result.c.check_id,
                check_result.c.started_at,
                check_result.c.state,
                check_result.c.latency_ms,
                check_result.c.error,
                check_result.c.is_change,
            ).order_by(check_result.c.id)
        ).all()
        states = current_states(conn, check_ids=CHECKS)
        facts = [heartbeat_facts(conn, check_id=c) for c in CHECKS]
    return sorted(pings, key=repr), sorted(results, key=repr), states, facts


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("ping", "check_result", "check_rollup", "check_state"):
            conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pings_stored_together_end_as_if_stored_one_by_one(engine: Engine, seed: int) -> None:
    pings = _pings(seed, 60)
    caused_alone = []
    for ping_in, at in pings:
        with engine.begin() as conn:
            _, results = accept_ping(
                conn,
                ping_in=ping_in,
                at=at,
                spec=SPEC,
                interval=timedelta(minutes=5),
                timezone="UTC",
            )
        caused_alone.append(results)
    alone = _stored(engine)
    _empty(engine)
    caused_together = []
    for i in range(0, len(pings), 7):  # groups of 7, as a group commit would take them
        with engine.begin() as conn:
            accepted = accept_pings(
                conn,
                pings[i : i + 7],
                specs=dict.fromkeys(CHECKS, SPEC),
                intervals=dict.fromkeys(CHECKS, timedelta(minutes=5)),
                timezone="UTC",
            )
        caused_together += [results for _, results in accepted]
    assert caused_together == caused_alone
    assert _stored(engine) == alone
    assert any(p[4] is not None for p in alone[0])  # some runs were measured


def test_a_monitor_folding_new_pings_agrees_with_one_reading_them_all(engine: Engine) -> None:
    checks = [
        Check(c, CheckSpec.model_validate({"heartbeat": {"period": "5m", "grace": "2m"}}))
        for c in CHECKS
    ]
    clock = FrozenClock(T0)
    kept = HeartbeatMonitor(checks, engine=engine, clock=clock, timezone="UTC")
    for ping_in, at in _pings(7, 40):
        clock.advance(at - clock.now())
        with engine.begin() as conn:
            accept_pings(
                conn,
                [(ping_in, at)],
                specs=dict.fromkeys(CHECKS, SPEC),
                intervals=dict.fromkeys(CHECKS, timedelta(minutes=5)),
                timezone="UTC",
            )
        clock.advance(timedelta(minutes=4))
        fresh = HeartbeatMonitor(checks, engine=engine, clock=clock, timezone="UTC")
        assert kept.tick_sync() == fresh.tick_sync()
        assert kept.next_wakeup_at == fresh.next_wakeup_at


async def test_concurrent_pings_are_each_answered_after_their_commit(engine: Engine) -> None:
    config = Config.model_validate(
        {"service": "t", "checks": {c: {"heartbeat": {"period": "5m"}} for c in CHECKS}}
    )
    writer = PingWriter(engine, config)
    pings = [
        (PingIn(check_id=CHECKS[i % 3], kind=PingKind.SUCCESS, method="GET", user_agent=str(i)), T0)
        for i in range(60)
    ]
    answered = await asyncio.gather(*(writer.accept(p, at) for p, at in pings))
    assert all(r[0].check_id == p.check_id for r, (p, _) in zip(answered, pings, strict=True))
    with engine.connect() as conn:
        stored = {p.user_agent for c in CHECKS for p in list_pings(conn, check_id=c, limit=100)}
    assert stored == {str(i) for i in range(60)}
    with pytest.raises(ValueError, match="'nope' is not a heartbeat"):
        await writer.accept(PingIn(check_id="nope", kind=PingKind.SUCCESS, method="GET"), T0)


@pytest.mark.parametrize("seed", [4, 5])
def test_facts_read_for_a_batch_are_the_stored_facts(engine: Engine, seed: int) -> None:
    """``PingBatch.prefetch`` (one statement for every check on SQLite) reads what
    ``heartbeat_facts`` reads, check by check, after each ping of a random history."""
    for ping_in, at in _pings(seed, 40):
        with engine.begin() as conn:
            record_ping(conn, ping_in=ping_in, at=at)
        with engine.connect() as conn:
            batch = PingBatch(conn, facts_for=CHECKS)
            batch.prefetch([])
            assert [batch.facts(c) for c in CHECKS] == [
                heartbeat_facts(conn, check_id=c) for c in CHECKS
            ]
