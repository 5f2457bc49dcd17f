"""The probe loop: runs every polled check on its interval and hands results to a sink in batches.

Each check fires on a fixed grid: ``every`` apart, shifted by a phase derived from a stable hash
of its id, so 10,000 checks spread over the interval instead of all firing at :00, and a restart
keeps each check's phase. Heartbeat checks are pushed to us and are not polled here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from opsbook.checks import rollups
from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.checks.probes import probe_for as default_probe_for
from opsbook.checks.probes.base import Probe, ProbeContext
from opsbook.checks.slots import QUICK, ProbeSlots, target_key
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import format_duration
from opsbook.tasks import finish_then_cancel

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

# A probe must end within its timeout; past this extra allowance the scheduler cancels it.
TIMEOUT_BACKSTOP = timedelta(seconds=1)
TICK = timedelta(seconds=1)
ALIVE_EVERY = timedelta(seconds=10)
# Results kept in memory while the store is unreachable, in multiples of flush_max.
BACKLOG_FLUSHES = 100


class Judge(Protocol):
    def __call__(
        self, check: Check, observation: Observation, *, started_at: datetime
    ) -> ProbeResult: ...


class ResultSink(Protocol):
    """Where results go. ``write`` is one transaction; ``alive`` marks opsbook as running."""

    async def write(self, results: Sequence[ProbeResult]) -> None: ...

    async def alive(self, *, stopping: bool = False) -> None: ...


def phase_offset(check_id: str, every: timedelta) -> float:
    """Seconds into each interval at which ``check_id`` fires: stable across runs and hosts."""
    digest = hashlib.blake2b(check_id.encode(), digest_size=8).digest()
    every_us = max(1, round(every.total_seconds() * 1_000_000))
    return (int.from_bytes(digest, "big") % every_us) / 1_000_000


def next_grid_time(after: float, *, every: float, offset: float) -> float:
    """The first ``k * every + offset`` strictly after ``after`` (all in wall-clock seconds)."""
    k = math.floor((after - offset) / every) + 1
    return k * every + offset


class Scheduler:
    """Runs ``checks`` until cancelled.

    1. Every polled check gets a task that sleeps until its next grid time, waits for a slot
       under the concurrency cap, then probes. Lateness (start - planned) is recorded.
       At most ``per_target`` (default a quarter of the cap) go to one host:port, and checks
       whose last probe was quick get a free slot first and have the last eighth of the slots
       to themselves (checks/slots.py): hanging targets cannot starve the others.
    2. A probe is cancelled at ``timeout + 1s`` and recorded as ``timed out after <timeout>``.
    3. After a DOWN result a check with ``retry_every`` is probed again that soon, until it is
       no longer down; then it returns to its grid.
    4. Results are queued; a flusher writes them every ``flush_every`` or at ``flush_max``.
    5. Every second ``tick`` (the heartbeat monitor's hook) may add results; every 10 s the
       sink is told opsbook is alive.
    6. On cancel, the probes stop, the queue is drained into the sink, and the sink is told
       opsbook stopped.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        *,
        sink: ResultSink,
        judge: Judge,
        probe_for: Callable[[str], Probe] = default_probe_for,
        context: ProbeContext | None = None,
        clock: Clock = SYSTEM_CLOCK,
        concurrency: int = 64,
        per_target: int | None = None,
        flush_every: timedelta = timedelta(seconds=1),
        flush_max: int = 500,
        tick: Callable[[], Awaitable[Sequence[ProbeResult]]] | None = None,
        backstop: timedelta = TIMEOUT_BACKSTOP,
        on_lateness: Callable[[float], None] | None = None,
    ) -> None:
        self.checks = [c for c in checks if c.spec.kind != "heartbeat"]
        self._sink = sink
        self._judge = judge
        self._probe_for = probe_for
        self._owns_context = context is None
        self._context = context if context is not None else ProbeContext(clock=clock)
        self._clock = clock
        # A quarter of the slots per target by default: 16 of 64.
        per_target = per_target if per_target is not None else max(1, concurrency // 4)
        self._slots = ProbeSlots(limit=concurrency, per_target=per_target)
        self._targets = {c.id: target_key(c) for c in self.checks}
        # Checks whose last probe finished within QUICK; unknown until a check has a result.
        self._quick: set[str] = set()
        self._flush_every = flush_every.total_seconds()
        self._flush_max = flush_max
        self._tick = tick
        self._backstop = backstop
        self._on_lateness = on_lateness
        self._pending: list[ProbeResult] = []
        self._wake_flusher = asyncio.Event()
        self.lateness_ms: rollups.Histogram = {}
        self.probes_run = 0
        self.flushes = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def lateness_p99_ms(self) -> float | None:
        return rollups.percentile(self.lateness_ms, 0.99)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._check_loop(c), name=f"probe:{c.id}") for c in self.checks]
        tasks.append(loop.create_task(self._flusher(), name="probe:flusher"))
        tasks.append(loop.create_task(self._ticker(), name="probe:ticker"))
        # The config, the checks and their tasks live as long as the scheduler: out of the
        # cyclic GC's sight. With 10,000 checks each full collection walked them all and held
        # the loop for 100-500 ms, which was most of the p99 schedule lateness.
        gc.freeze()
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush()
            await self._mark_alive(stopping=True)
            if self._owns_context:
                await self._context.close()
            # No gc.unfreeze() here: a scheduler lives as long as its server (there is no
            # config reload), and unfreezing would hand the whole heap back to the collector,
            # frozen by others too (`opsbook serve` at start, the test suite after each test),
            # for the next full collection to walk again.

    def _first_planned(self, check: Check) -> float:
        every = check.spec.every.total_seconds()
        wall = self._clock.now().timestamp()
        planned_wall = next_grid_time(
            wall, every=every, offset=phase_offset(check.id, check.spec.every)
        )
        # The grid is kept on the wall clock's phase but slept on the loop's monotonic clock.
        return asyncio.get_running_loop().time() + (planned_wall - wall) % every

    async def _check_loop(self, check: Check) -> None:
        loop = asyncio.get_running_loop()
        every = check.spec.every.total_seconds()
        grid = self._first_planned(check)
        planned = grid
        while True:
            await asyncio.sleep(max(0.0, planned - loop.time()))
            target = self._targets[check.id]
            # acquire/release rather than ``hold``'s context manager: one less generator and
            # frame per probe on the hot path.
            await self._slots.acquire(target=target, quick=check.id in self._quick)
            try:
                started = loop.time()
                late_s = max(0.0, started - planned)
                lateness = rollups.bucket_index(late_s * 1000)
                self.lateness_ms[lateness] = self.lateness_ms.get(lateness, 0) + 1
                if self._on_lateness is not None:
                    self._on_lateness(late_s)
                result = await self._probe_once(check)
            finally:
                self._slots.release(target=target)
            if loop.time() - started <= QUICK.total_seconds():
                self._quick.add(check.id)
            else:
                self._quick.discard(check.id)
            self._queue([result])
            retry = check.spec.retry_every
            if result.state is State.DOWN and retry is not None:
                planned = started + retry.total_seconds()
            else:
                # Skip grid points already missed rather than firing a burst to catch up.
                grid += max(1, math.ceil((loop.time() - grid) / every)) * every
                planned = grid

    async def _probe_once(self, check: Check) -> ProbeResult:
        started_at = self._clock.now()
        t0 = self._clock.monotonic()
        timeout = check.spec.timeout
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            probe = self._probe_for(check.spec.kind)
            # asyncio.timeout, not wait_for: wait_for wraps the probe in a task of its own
            # (Python 3.11), one more task and wake-up per probe.
            async with asyncio.timeout((timeout + self._backstop).total_seconds()):
                observation = await probe.run(check, context=self._context)
        except TimeoutError:
            observation = Observation(
                latency_ms=(self._clock.monotonic() - t0) * 1000,
                connected=False,
                error=f"timed out after {format_duration(timeout)}",
            )
        except Exception as exc:
            # A probe must not raise (Probe's contract); if one does, the check is down with a
            # message that points at the log, and the loop goes on (R13: supervisor loop).
            log.exception("probe_crashed", check=check.id, kind=check.spec.kind)
            observation = Observation(
                latency_ms=(self._clock.monotonic() - t0) * 1000,
                connected=False,
                error=f"the {check.spec.kind} probe failed unexpectedly "
                f"({type(exc).__name__}); see the server log",
            )
        finally:
            self.in_flight -= 1
        self.probes_run += 1
        return self._judge(check, observation, started_at=started_at)

    def _queue(self, results: Sequence[ProbeResult]) -> None:
        self._pending.extend(results)
        if len(self._pending) >= self._flush_max:
            self._wake_flusher.set()

    async def _flusher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_flusher.wait(), timeout=self._flush_every)
            self._wake_flusher.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await finish_then_cancel(self._sink.write(batch))
        except Exception as exc:
            # The store may be briefly unreachable: keep the batch (bounded) and try next time.
            keep = self._flush_max * BACKLOG_FLUSHES
            self._pending = (batch + self._pending)[-keep:]
            # Only the type: a driver message may quote a DSN or bound values.
            log.warning("results_not_written", count=len(batch), error_type=type(exc).__name__)
            return
        self.flushes += 1

    async def _ticker(self) -> None:
        await self._mark_alive()
        last_alive = self._clock.monotonic()
        while True:
            await asyncio.sleep(TICK.total_seconds())
            if self._tick is not None:
                try:
                    self._queue(await finish_then_cancel(self._tick()))
                except Exception as exc:
                    # Pushed checks are read from the store; a store hiccup must not stop probes.
                    log.warning("tick_failed", error_type=type(exc).__name__)
            if self._clock.monotonic() - last_alive >= ALIVE_EVERY.total_seconds():
                last_alive = self._clock.monotonic()
                await self._mark_alive()

    async def _mark_alive(self, *, stopping: bool = False) -> None:
        try:
            await finish_then_cancel(self._sink.alive(stopping=stopping))
        except Exception as exc:
            log.warning("run_not_recorded", error_type=type(exc).__name__)
