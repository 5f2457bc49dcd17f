"""The probe loop with fake probes and a stub judge, on short real intervals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.checks.probes.base import Probe, ProbeContext
from opsbook.checks.scheduler import Scheduler, next_grid_time, phase_offset
from opsbook.checks.slots import ProbeSlots, target_key
from opsbook.config import CheckSpec


def _check(check_id: str, **fields: Any) -> Check:
    fields.setdefault("every", "200ms")
    fields.setdefault("timeout", "100ms")
    return Check(
        id=check_id, spec=CheckSpec.model_validate({"tcp": {"host": "h", "port": 1}, **fields})
    )


def judge(check: Check, observation: Observation, *, started_at: datetime) -> ProbeResult:
    return ProbeResult(
        check_id=check.id,
        started_at=started_at,
        state=State.DOWN if observation.error else State.UP,
        latency_ms=observation.latency_ms,
        error=observation.error,
    )


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[ProbeResult]] = []
        self.alive_calls: list[bool] = []

    async def write(self, results: Sequence[ProbeResult]) -> None:
        self.batches.append(list(results))

    async def alive(self, *, stopping: bool = False) -> None:
        self.alive_calls.append(stopping)

    @property
    def results(self) -> list[ProbeResult]:
        return [r for batch in self.batches for r in batch]


class FakeProbe:
    kind: ClassVar[str] = "tcp"

    def __init__(
        self, behave: Callable[[Check], Any] | None = None, *, delay_s: float = 0.0
    ) -> None:
        self.behave = behave
        self.delay_s = delay_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[str] = []

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        self.calls.append(check.id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            outcome = self.behave(check) if self.behave else None
            if isinstance(outcome, Exception):
                raise outcome
            if outcome == "hang":
                await asyncio.sleep(3600)
            return Observation(latency_ms=1.0, connected=True, error=outcome)
        finally:
            self.in_flight -= 1


async def _run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _scheduler(checks: list[Check], probe: FakeProbe, sink: Sink, **kwargs: Any) -> Scheduler:
    def probe_for(kind: str) -> Probe:
        return probe

    return Scheduler(checks, sink=sink, judge=judge, probe_for=probe_for, **kwargs)


def test_the_phase_is_stable_and_inside_the_interval() -> None:
    every = timedelta(seconds=30)
    assert phase_offset("api-uptime", every) == phase_offset("api-uptime", every)
    assert phase_offset("api-uptime", every) != phase_offset("api-uptime-2", every)
    assert all(0 <= phase_offset(f"c{i}", every) < 30 for i in range(1000))


def test_ten_thousand_checks_spread_over_the_interval() -> None:
    every = timedelta(seconds=30)
    per_second = [0] * 30
    for i in range(10_000):
        per_second[int(phase_offset(f"check-{i}", every))] += 1
    # 333 expected per second; a herd would put thousands in one.
    assert max(per_second) < 420
    assert min(per_second) > 250


@pytest.mark.parametrize(
    ("after", "every", "offset", "expected"),
    [
        (0.0, 30.0, 7.0, 7.0),
        (7.0, 30.0, 7.0, 37.0),  # strictly after
        (100.0, 30.0, 7.0, 127.0),
        (36.9, 30.0, 7.0, 37.0),
    ],
)
def test_the_next_grid_time(after: float, every: float, offset: float, expected: float) -> None:
    assert next_grid_time(after, every=every, offset=offset) == pytest.approx(expected)


async def test_checks_fire_on_their_phase_of_the_wall_clock() -> None:
    sink, probe = Sink(), FakeProbe()
    checks = [_check(f"c{i}") for i in range(5)]
    await _run_for(_scheduler(checks, probe, sink), 0.9)
    for check in checks:
        times = [r.started_at for r in sink.results if r.check_id == check.id]
        assert len(times) >= 3
        offset = phase_offset(check.id, check.spec.every)
        for at in times:
            phase = at.timestamp() % 0.2
            assert min(abs(phase - offset), 0.2 - abs(phase - offset)) < 0.05, (
                check.id,
                phase,
                offset,
            )


async def test_the_concurrency_cap_is_respected() -> None:
    sink, probe = Sink(), FakeProbe(delay_s=0.05)
    # Twenty hosts: one host would be held to its own quarter of the slots.
    checks = [
        _check(f"c{i}", tcp={"host": f"h{i}", "port": 1}, every="1s", timeout="500ms")
        for i in range(20)
    ]
    scheduler = _scheduler(checks, probe, sink, concurrency=3)
    await _run_for(scheduler, 1.2)
    assert probe.max_in_flight == 3
    assert len(sink.results) >= 20


async def test_a_probe_that_overruns_is_cancelled_and_recorded_as_timed_out() -> None:
    sink, probe = Sink(), FakeProbe(lambda c: "hang")
    scheduler = _scheduler(
        [_check("slow", every="500ms", timeout="50ms")],
        probe,
        sink,
        backstop=timedelta(milliseconds=20),
    )
    await _run_for(scheduler, 0.7)
    [result, *_] = sink.results
    assert result.state is State.DOWN
    assert result.error == "timed out after 50ms"
    assert 60 <= result.latency_ms < 200


async def test_a_down_check_is_probed_again_after_retry_every_until_it_recovers() -> None:
    outcomes = iter(["refused", "refused", "refused"])
    probe = FakeProbe(lambda c: next(outcomes, None))
    sink = Sink()
    scheduler = _scheduler(
        [_check("api", every="1s", timeout="20ms", retry_every="50ms")],
        probe,
        sink,
        flush_every=timedelta(milliseconds=10),
    )
    task = asyncio.create_task(scheduler.run())
    # The first probe lands somewhere in the first second (the check's phase); wait for the 5th.
    for _ in range(300):
        await asyncio.sleep(0.01)
        if len(sink.results) >= 5:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    times = [r.started_at for r in sink.results]
    states = [r.state for r in sink.results]
    assert states[:5] == [State.DOWN, State.DOWN, State.DOWN, State.UP, State.UP]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(0.04 <= gap < 0.15 for gap in gaps[:3]), gaps
    # Once up, back to the 1 s grid.
    assert gaps[3] > 0.5, gaps


async def test_without_retry_every_a_down_check_keeps_its_interval() -> None:
    probe, sink = FakeProbe(lambda c: "refused"), Sink()
    await _run_for(_scheduler([_check("api", every="300ms")], probe, sink), 0.8)
    assert 2 <= len(sink.results) <= 3


async def test_a_crashing_probe_is_down_with_a_message_and_the_loop_goes_on() -> None:
    probe, sink = FakeProbe(lambda c: RuntimeError("boom")), Sink()
    scheduler = _scheduler([_check("api")], probe, sink, flush_every=timedelta(milliseconds=20))
    task = asyncio.create_task(scheduler.run())
    # Logging the traceback is slow on a loaded machine: wait for two results, not a fixed time.
    for _ in range(500):
        await asyncio.sleep(0.01)
        if len(sink.results) >= 2:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(sink.results) >= 2
    assert (
        sink.results[0].error
        == "the tcp probe failed unexpectedly (RuntimeError); see the server log"
    )


async def test_results_are_flushed_in_batches_and_drained_on_shutdown() -> None:
    probe, sink = FakeProbe(), Sink()
    checks = [_check(f"c{i}") for i in range(30)]
    scheduler = _scheduler(checks, probe, sink, flush_every=timedelta(seconds=60))
    await _run_for(scheduler, 0.5)
    # Nothing was due before shutdown; the drain wrote everything in one batch.
    assert len(sink.batches) == 1
    assert len(sink.results) == scheduler.probes_run >= 60
    assert sink.alive_calls == [False, True]


async def test_a_full_queue_is_flushed_before_the_timer() -> None:
    probe, sink = FakeProbe(), Sink()
    checks = [_check(f"c{i}") for i in range(40)]
    scheduler = _scheduler(checks, probe, sink, flush_every=timedelta(seconds=60), flush_max=10)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.45)
    written_while_running = len(sink.results)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert written_while_running >= 30
    assert all(len(batch) >= 10 for batch in sink.batches[:-1])


async def test_a_failed_write_is_retried_with_the_next_flush() -> None:
    class FlakySink(Sink):
        failed = False

        async def write(self, results: Sequence[ProbeResult]) -> None:
            if not self.failed:
                self.failed = True
                raise ConnectionError("store down")
            await super().write(results)

    probe, sink = FakeProbe(), FlakySink()
    scheduler = _scheduler([_check("api")], probe, sink, flush_every=timedelta(milliseconds=100))
    await _run_for(scheduler, 0.7)
    assert len(sink.results) == scheduler.probes_run >= 2


async def test_the_tick_hook_adds_pushed_results_and_heartbeat_checks_are_not_polled() -> None:
    pushed = ProbeResult(
        check_id="nightly", started_at=datetime.now(UTC), state=State.DOWN, latency_ms=0.0
    )
    ticks: list[int] = []

    async def tick() -> list[ProbeResult]:
        ticks.append(1)
        return [pushed] if len(ticks) == 1 else []

    heartbeat = Check(id="nightly", spec=CheckSpec.model_validate({"heartbeat": {"period": "1d"}}))
    probe, sink = FakeProbe(), Sink()
    scheduler = _scheduler([heartbeat, _check("api")], probe, sink, tick=tick)
    assert [c.id for c in scheduler.checks] == ["api"]
    await _run_for(scheduler, 1.2)
    assert pushed in sink.results
    assert "nightly" not in probe.calls


async def test_schedule_lateness_is_recorded() -> None:
    probe, sink = FakeProbe(), Sink()
    scheduler = _scheduler([_check(f"c{i}") for i in range(10)], probe, sink)
    await _run_for(scheduler, 0.5)
    p99 = scheduler.lateness_p99_ms()
    assert p99 is not None
    assert p99 < 50
    # A probe cancelled by the shutdown has a lateness but no result.
    assert scheduler.probes_run <= sum(scheduler.lateness_ms.values()) <= scheduler.probes_run + 10


async def test_one_target_holds_at_most_per_target_slots() -> None:
    probe, sink = FakeProbe(lambda c: "hang"), Sink()
    hanging = [
        _check(f"hang{i}", tcp={"host": "dead", "port": 1}, every="1s", timeout="300ms")
        for i in range(20)
    ]
    scheduler = _scheduler(
        [*hanging, _check("other", tcp={"host": "alive", "port": 1}, every="200ms")],
        probe,
        sink,
        concurrency=10,
        per_target=3,
        backstop=timedelta(milliseconds=20),
    )
    await _run_for(scheduler, 1.5)
    # Three probes to "dead" at most, so the fourth slot onwards stays free for "alive".
    assert probe.max_in_flight == 4
    assert sum(r.check_id == "other" for r in sink.results) >= 5


async def test_a_check_that_was_quick_gets_the_next_free_slot_before_slow_ones() -> None:
    # 30 checks against 30 different hanging hosts (so the per-target rule does not help) keep
    # all 8 slots taken; the quick check must not wait behind them in a first-come queue.
    probe, sink = FakeProbe(lambda c: "hang" if c.id.startswith("hang") else None), Sink()
    hanging = [
        _check(f"hang{i}", tcp={"host": f"h{i}", "port": 1}, every="1s", timeout="900ms")
        for i in range(30)
    ]
    scheduler = _scheduler(
        [*hanging, _check("quick", every="200ms")],
        probe,
        sink,
        concurrency=8,
        backstop=timedelta(milliseconds=20),
        flush_every=timedelta(milliseconds=20),
    )
    await _run_for(scheduler, 5.0)
    times = [r.started_at.timestamp() for r in sink.results if r.check_id == "quick"]
    # Its first probe has no history and queues with the others; from then on it goes first.
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert len(times) >= 10, gaps
    assert max(gaps) < 1.2, gaps
    assert probe.max_in_flight == 8


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    slots = ProbeSlots(limit=1, per_target=1)
    entered: list[str] = []

    async def hold(name: str, *, quick: bool, seconds: float) -> None:
        async with slots.hold(target=None, quick=quick):
            entered.append(name)
            await asyncio.sleep(seconds)

    first = asyncio.create_task(hold("first", quick=False, seconds=0.05))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(hold("cancelled", quick=True, seconds=0))
    slow = asyncio.create_task(hold("slow", quick=False, seconds=0))
    quick = asyncio.create_task(hold("quick", quick=True, seconds=0))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.gather(first, slow, quick, cancelled, return_exceptions=True)
    # Quick before slow although it came later; the cancelled waiter took no slot.
    assert entered == ["first", "quick", "slow"]
    assert slots.running == 0
    # A new waiter finds the slot free (no stale entry left in front of it).
    await asyncio.wait_for(hold("late", quick=False, seconds=0), timeout=1)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"http": {"url": "https://api.example.com/health"}}, "api.example.com:443"),
        ({"http": {"url": "http://10.0.0.1:8080/"}}, "10.0.0.1:8080"),
        ({"metric": {"url": "http://prom:9090/metrics"}}, "prom:9090"),
        ({"tcp": {"host": "::1", "port": 5432}}, "[::1]:5432"),
        ({"tls": {"host": "example.com"}}, "example.com:443"),
        ({"dns": {"name": "example.com", "server": "1.1.1.1"}}, "1.1.1.1:53"),
        ({"dns": {"name": "example.com"}}, None),
        ({"postgres": {"dsn": "postgresql://u:s3cret@db:6432/app"}}, "db:6432"),
        ({"redis": {"url": "redis://:s3cret@cache/0"}}, "cache:6379"),
        ({"command": {"run": ["true"]}}, None),
    ],
)
def test_the_target_of_each_kind_is_its_host_and_port_never_a_secret(
    spec: dict[str, Any], key: str | None
) -> None:
    assert target_key(Check(id="c", spec=CheckSpec.model_validate(spec))) == key
