from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from opsbook.clock import FrozenClock
from opsbook.web.runner import Runner


async def _until(predicate: object, *, timeout_s: float = 5.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls state the runner owns, no event to wait on
            await asyncio.sleep(0.01)


async def test_it_ticks_while_running_and_stops_cleanly() -> None:
    clock = FrozenClock()
    runner = Runner(clock=clock, tick=timedelta(milliseconds=10))
    assert runner.problem() == "not running"
    await runner.start()
    await _until(lambda: runner.ticks >= 3)
    assert runner.problem() is None
    assert runner.last_tick_at == clock.now()
    await runner.stop()
    assert not runner.is_running
    assert runner.problem() == "not running"
    await runner.stop()  # a second stop is harmless


async def test_a_failing_task_is_logged_and_restarted() -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError("boom")

    runner = Runner(first_backoff=timedelta(milliseconds=1))
    runner.add("flaky", flaky)
    with capture_logs() as logs:
        await runner.start()
        await _until(lambda: any(e["event"] == "runner_task_finished" for e in logs))
        await runner.stop()
    assert runs == 3
    failures = [e for e in logs if e["event"] == "runner_task_failed"]
    assert [e["task"] for e in failures] == ["flaky", "flaky"]
    assert runner.problem() == "not running"


async def test_tasks_added_while_running_start_at_once_and_are_cancelled_on_stop() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = Runner()
    await runner.start()
    runner.add("forever", forever)
    await asyncio.wait_for(started.wait(), 5)
    await runner.stop()
    assert cancelled.is_set()


@pytest.mark.parametrize("name", ["dup", "heartbeat"])
def test_it_rejects_a_duplicate_task_name(name: str) -> None:
    async def work() -> None:
        return None

    runner = Runner()
    runner.add("dup", work)
    with pytest.raises(ValueError, match=f"runner task '{name}' is already registered"):
        runner.add(name, work)


async def test_a_late_heartbeat_means_the_event_loop_is_blocked() -> None:
    clock = FrozenClock()
    runner = Runner(clock=clock, tick=timedelta(seconds=10))
    await runner.start()
    await _until(lambda: runner.ticks == 1)
    clock.advance(timedelta(seconds=49))
    assert runner.problem() is None
    clock.advance(timedelta(seconds=2))
    assert runner.problem() == "stalled: last heartbeat 51s ago"
    await runner.stop()
