"""A hanging target must not starve other checks (issue 11).

Real probes over real sockets on uvloop (what ``opsbook serve`` runs): one server accepts and
never answers, another answers at once. The assertions are on the healthy check's schedule
(how many results, the longest gap), with bounds a starving scheduler misses by far.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import uvloop
from aiohttp import web

from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.checks.scheduler import Scheduler
from opsbook.config import CheckSpec

WINDOW_S = 12.0
HANGING_CHECKS = 100


def _judge(check: Check, observation: Observation, *, started_at: datetime) -> ProbeResult:
    return ProbeResult(
        check_id=check.id,
        started_at=started_at,
        state=State.DOWN if observation.error else State.UP,
        latency_ms=observation.latency_ms,
        error=observation.error,
    )


class _Sink:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []

    async def write(self, results: Sequence[ProbeResult]) -> None:
        self.results.extend(results)

    async def alive(self, *, stopping: bool = False) -> None:
        return None


def _http_check(check_id: str, url: str, *, every: str, timeout: str) -> Check:
    spec = {"http": {"url": url}, "every": every, "timeout": timeout}
    return Check(id=check_id, spec=CheckSpec.model_validate(spec))


async def _hanging_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accept, read the request, never answer: the connection stays open until the probe
        # gives up.
        writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], writers


async def _healthy_schedule(**scheduler_kwargs: Any) -> tuple[list[float], int]:
    """The healthy check's result times (seconds from start) over the window, and the most
    probes that ran at once."""
    hanging, hanging_port, writers = await _hanging_server()
    app = web.Application()
    app.router.add_get("/", _ok)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        healthy_port = runner.addresses[0][1]
        checks = [
            _http_check(
                f"hang-{i}", f"http://127.0.0.1:{hanging_port}/", every="11s", timeout="10s"
            )
            for i in range(HANGING_CHECKS)
        ]
        checks.append(
            _http_check("healthy", f"http://127.0.0.1:{healthy_port}/", every="2s", timeout="1s")
        )
        sink = _Sink()
        scheduler = Scheduler(checks, sink=sink, judge=_judge, **scheduler_kwargs)
        start = datetime.now(UTC)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(WINDOW_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        hanging.close()
        for writer in writers:
            writer.close()
        await hanging.wait_closed()
        await runner.cleanup()
    times = sorted(
        (r.started_at - start).total_seconds()
        for r in sink.results
        if r.check_id == "healthy" and r.state is State.UP
    )
    return times, scheduler.max_in_flight


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _gaps(times: list[float]) -> list[float]:
    """Gaps between results, counting the stretch from the last result to the window's end."""
    return [b - a for a, b in itertools.pairwise([*times, WINDOW_S])]


def _measure(**scheduler_kwargs: Any) -> tuple[list[float], int]:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_healthy_schedule(**scheduler_kwargs))


def test_a_hanging_target_does_not_starve_a_healthy_check() -> None:
    # 100 checks against a target that never answers (10 s timeouts) would fill all 64 slots;
    # the healthy check every 2 s must still get its results on time.
    times, max_in_flight = _measure()
    gaps = _gaps(times)
    print(f"healthy: {len(times)} results in {WINDOW_S:.0f} s, max gap {max(gaps):.1f} s")
    assert len(times) >= 5, times
    # Every 2 s on the grid; one missed grid point would make a 4 s gap.
    assert max(gaps) <= 3.5, times
    # The cap still holds.
    assert max_in_flight <= 64
