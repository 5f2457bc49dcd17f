"""The incidents task: a wake runs a pass now instead of after ``evaluate_every``, and a pass
that queued notices calls ``after_commit``."""

from __future__ import annotations

import asyncio
import contextlib

from paging_helpers import NOW, Recorder, declare, make_config
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.incidents import IncidentsTask


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
