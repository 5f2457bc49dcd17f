"""A background task that keeps failing turns /ready to 503 naming the task and its last error
(secrets masked), counts each failed pass in ``opsbook_task_failures_total``, and /ready turns
200 again once the task runs without failing (a good pass, or long enough after a restart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.clock import FrozenClock
from opsbook.web.runner import RECOVER_AFTER, Runner

PASSWORD = "S3cretPw-9z"


def _wait_for(predicate: Callable[[], bool]) -> None:
    # Bounded polling of state the server's own loop changes; never a timing assertion.
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in 10 s"
        time.sleep(0.02)


def _failures(metrics: str, task: str) -> float:
    prefix = f'opsbook_task_failures_total{{task="{task}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_a_task_failing_pass_after_pass_turns_ready_to_503_until_it_recovers(
    app: FastAPI, client: TestClient, clock: FrozenClock
) -> None:
    runner = app.state.services.runner
    broken = True
    healthy = False

    async def pass_loop() -> None:
        nonlocal healthy
        if broken:
            raise ConnectionError(f"could not reach postgresql://ops:{PASSWORD}@db/ops")
        healthy = True
        await asyncio.Event().wait()  # healthy: runs until stopped

    # The app's runner backs off from 1 s; a fresh one with ms backoffs keeps the test short.
    runner._first_backoff = timedelta(milliseconds=1)
    assert client.get("/ready").status_code == 200
    client.portal.call(lambda: runner.add("flaky", pass_loop))  # type: ignore[union-attr]
    _wait_for(lambda: client.get("/ready").status_code == 503)

    body = client.get("/ready").json()
    assert body["status"] == "not ready"
    reason = body["checks"]["tasks"]
    assert reason.startswith("flaky: ") and "failed passes in a row" in reason
    assert "ConnectionError: could not reach postgresql://" in reason
    assert PASSWORD not in client.get("/ready").text
    assert {k: v for k, v in body["checks"].items() if k != "tasks"} == {
        "store": "ok",
        "migrations": "ok",
        "runner": "ok",
    }
    seen = _failures(client.get("/metrics").text, "flaky")
    assert seen >= 3
    _wait_for(lambda: _failures(client.get("/metrics").text, "flaky") > seen)

    broken = False
    # It now runs without failing; once it has for RECOVER_AFTER, it is no longer failing.
    _wait_for(lambda: healthy)
    assert client.get("/ready").status_code == 503  # not yet: it may fail again
    clock.advance(RECOVER_AFTER)
    _wait_for(lambda: client.get("/ready").status_code == 200)
    assert client.get("/ready").json()["checks"]["tasks"] == "ok"


async def test_a_good_pass_reported_by_the_task_clears_it_at_once() -> None:
    runner = Runner(clock=FrozenClock(), failing_after=2)
    runner.failed("deliver", RuntimeError("smtp down"))
    assert runner.failing_tasks() == {}
    runner.failed("deliver", RuntimeError("smtp still down"))
    assert runner.failing_tasks() == {
        "deliver": "2 failed passes in a row, last: RuntimeError: smtp still down"
    }
    runner.passed("deliver")
    assert runner.failing_tasks() == {}
    assert runner.failures.snapshot() == ({"deliver": 2}, {})
