"""The server's background task supervisor. Later stages attach their loops (the probe
scheduler, the outbox worker) with ``Runner.add``; today it only runs its own heartbeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.tasks import TaskFailures, describe_error

log = structlog.get_logger(__name__)

Work = Callable[[], Awaitable[None]]
MAX_BACKOFF = timedelta(seconds=60)
# A task is failing (and /ready says 503) after this many failed passes in a row...
FAILING_AFTER = 3
# ...until it runs this long after a restart without failing again, or reports a good pass.
RECOVER_AFTER = timedelta(seconds=120)


@dataclass
class _Failing:
    count: int
    last_error: str
    restarted_mono: float | None = None


class Runner:
    """Runs named background tasks on the server's event loop and keeps them running.

    1. ``start()`` launches the heartbeat plus every task given to ``add()``.
    2. A task that raises is logged and started again after a backoff that doubles from
       ``first_backoff`` up to ``MAX_BACKOFF``. A task that returns is finished for good.
    3. ``stop()`` cancels every task and waits for them to end.

    ``problem()`` says why the runner is not healthy, or returns None when it is;
    ``failing_tasks()`` names each task that failed ``failing_after`` passes in a row, with its
    last error (secrets masked), until it runs ``recover_after`` without failing or reports a
    good pass (``passed``). ``failures`` counts every failed pass (and the items tasks report).
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        tick: timedelta = timedelta(seconds=1),
        first_backoff: timedelta = timedelta(seconds=1),
        failures: TaskFailures | None = None,
        failing_after: int = FAILING_AFTER,
        recover_after: timedelta = RECOVER_AFTER,
    ) -> None:
        self._clock = clock
        self.failures = failures if failures is not None else TaskFailures()
        self._failing_after = failing_after
        self._recover_after = recover_after
        self._failing: dict[str, _Failing] = {}
        self._tick = tick
        self._first_backoff = first_backoff
        self._work: dict[str, Work] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self.last_tick_at: datetime | None = None
        self._last_tick_mono: float | None = None
        self.ticks = 0

    @property
    def is_running(self) -> bool:
        return self._running

    def add(self, name: str, work: Work) -> None:
        """Register ``work`` under ``name``; it starts now if the runner is already running.

        Raises ``ValueError`` if ``name`` is taken (R19: registries reject duplicates).
        """
        if name in self._work or name == "heartbeat":
            raise ValueError(f"runner task {name!r} is already registered")
        self._work[name] = work
        if self._running:
            self._launch(name, work)

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._launch("heartbeat", self._heartbeat)
        for name, work in self._work.items():
            self._launch(name, work)
        log.info("runner_started", tasks=sorted(self._tasks))

    async def stop(self) -> None:
        """Cancel every task and wait for each to finish. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        log.info("runner_stopped")

    def problem(self) -> str | None:
        if not self._running:
            return "not running"
        beat = self._tasks.get("heartbeat")
        if beat is None or beat.done():
            return "heartbeat stopped"
        if self._last_tick_mono is not None:
            # Ticks only happen when the event loop is free; a late one means something blocks it.
            late_after = max(5 * self._tick.total_seconds(), 5.0)
            age = self._clock.monotonic() - self._last_tick_mono
            if age > late_after:
                return f"stalled: last heartbeat {age:.0f}s ago"
        return None

    def failed(self, name: str, exc: BaseException) -> None:
        """Count one failed pass of ``name``: a task that raised, or one that catches its own
        pass errors and reports them here (it then calls ``passed`` after a good pass)."""
        self.failures.pass_failed(name)
        state = self._failing.get(name)
        count = state.count + 1 if state is not None else 1
        self._failing[name] = _Failing(count=count, last_error=describe_error(exc))

    def passed(self, name: str) -> None:
        """A pass of ``name`` went well: it is no longer failing."""
        self._failing.pop(name, None)

    def reporter(self, name: str) -> Callable[[BaseException | None], None]:
        """For a task that catches its own pass errors: call it with each pass's exception,
        or None after a good pass."""

        def report(exc: BaseException | None) -> None:
            if exc is None:
                self.passed(name)
            else:
                self.failed(name, exc)

        return report

    def failing_tasks(self) -> dict[str, str]:
        """Each task failing now, with why: ``"4 failed passes in a row, last: Type: msg"``."""
        found: dict[str, str] = {}
        for name, state in list(self._failing.items()):
            restarted = state.restarted_mono
            if restarted is not None and (
                self._clock.monotonic() - restarted >= self._recover_after.total_seconds()
            ):
                self._failing.pop(name, None)  # it has run long enough since without failing
                continue
            if state.count >= self._failing_after:
                passes = "pass" if state.count == 1 else "passes"
                found[name] = f"{state.count} failed {passes} in a row, last: {state.last_error}"
        return found

    def _launch(self, name: str, work: Work) -> None:
        self._tasks[name] = asyncio.create_task(self._supervise(name, work), name=f"runner:{name}")

    async def _heartbeat(self) -> None:
        while True:
            self.last_tick_at = self._clock.now()
            self._last_tick_mono = self._clock.monotonic()
            self.ticks += 1
            await asyncio.sleep(self._tick.total_seconds())

    async def _supervise(self, name: str, work: Work) -> None:
        backoff = self._first_backoff
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The supervisor is the one place a broad except is allowed (R13): log, back off,
                # keep going, so one broken task never takes the server down.
                log.exception("runner_task_failed", task=name, retry_in_s=backoff.total_seconds())
                self.failed(name, exc)
                await asyncio.sleep(backoff.total_seconds())
                backoff = min(backoff * 2, MAX_BACKOFF)
                state = self._failing.get(name)
                if state is not None:
                    state.restarted_mono = self._clock.monotonic()
            else:
                log.info("runner_task_finished", task=name)
                return
