"""The incidents task: a wake runs a pass now instead of after ``evaluate_every``, and a pass
that queued notices calls ``after_commit``."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from paging_helpers import NOW, Recorder, declare, make_config
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.incidents import IncidentsTask
from opsbook.incidents.loop import PassReport
from opsbook.web.runner import Runner


def test_a_wake_runs_a_pass_now_and_wakes_the_deliverer(engine: Engine) -> None:
    config = make_config(alerting={"evaluate_every": "1h"})
    emit = Recorder()
    committed: list[int] = []
    task = IncidentsTask(
        engine,
        config=config,
        emit=emit,
        after_commit=lambda: committed.append(len(emit.notices)),
        clock=FrozenClock(NOW),
    )

    async def scenario() -> None:
        running = asyncio.create_task(task.run())
        await asyncio.sleep(0.3)  # the first pass, with nothing to do, then a 1h wait
        assert committed == []
        await asyncio.to_thread(declare, engine)
        task.wake()
        for _ in range(300):
            await asyncio.sleep(0.01)
            if committed:
                break
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(scenario())
    assert committed and committed[0] == 3  # the declared update and Ana's two pages
    assert {n.kind for n in emit.notices} == {"incident", "page"}


def test_a_wake_before_the_loop_starts_is_harmless(engine: Engine) -> None:
    task = IncidentsTask(engine, config=make_config(), emit=Recorder(), clock=FrozenClock(NOW))
    task.wake()
    assert task.run_once(NOW).notices == 0


async def test_a_failed_pass_shows_in_the_runner_until_the_next_good_pass(engine: Engine) -> None:
    clock = FrozenClock(NOW)
    runner = Runner(clock=clock, first_backoff=timedelta(milliseconds=1), failing_after=1)
    task = IncidentsTask(
        engine,
        config=make_config(alerting={"evaluate_every": "1h"}),
        emit=Recorder(),
        clock=clock,
        on_pass=runner.reporter("incidents"),
    )
    real = task.run_once
    seen: list[dict[str, str]] = []

    def run_once(now: datetime) -> PassReport:
        if not seen:
            seen.append({})
            raise RuntimeError("poisoned")
        seen.append(runner.failing_tasks())
        return real(now)

    task.run_once = run_once  # type: ignore[method-assign]
    runner.add("incidents", task.run)
    await runner.start()
    try:
        async with asyncio.timeout(10):
            while len(seen) < 2:  # noqa: ASYNC110 - state the task owns
                await asyncio.sleep(0.01)
            while runner.failing_tasks():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await runner.stop()
    # Failing while the second pass ran; cleared by its success, no waiting for a timer.
    assert seen[1] == {"incidents": "1 failed pass in a row, last: RuntimeError: poisoned"}
    assert runner.failures.snapshot() == ({"incidents": 1}, {})
