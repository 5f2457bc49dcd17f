"""Simulated time over real probes: a loaded config's checks run against a real in-process demo
service, their results are stored and fed to the alert engine, and "for 10m" takes seconds.

Everything is real except the clock. One ``FrozenClock`` is shared by the demo service (its
simulated users' counters move by exactly the time it advances), the probes (``ProbeContext``:
the metric kind's increases, the tls kind's days left), the judged results (``started_at``) and
the alert engine. ``advance`` walks the checks' schedule like the scheduler does: each check on
its ``every`` grid, and after a DOWN result again ``retry_every`` later (the shortest of the
check's and its rules', as ``opsbook serve`` does). At each time something is due::

    probe_for(kind).run(check, context=ctx) -> judge(...) -> record_results(conn, ...)
        -> AlertEngine.evaluate(t, results=...) -> AlertEngine.evaluate(t)

A probe is as slow as the demo service really is, so faults that sleep (``latency_ms``) cost
real time; stage ``api_latency_ms`` to slow the simulated API traffic instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import trustme
from aiohttp import web

from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import Alert, AlertNotice, AlertStatus
from opsbook.alerts.records import row_to_alert
from opsbook.alerts.tables import alert as alert_table
from opsbook.checks.judge import judge
from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.service import record_results
from opsbook.clock import FrozenClock
from opsbook.config import Config, load
from opsbook.demo import DemoState, create_demo_app
from opsbook.store import create_engine, upgrade
from opsbook.web.app import checks_with_rule_retries

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TRAFFIC_RPS = 10.0
# The scheduler's allowance past a probe's own timeout before it cancels it.
BACKSTOP = dt.timedelta(seconds=1)


@dataclass
class Probed:
    """One judged probe, as the harness ran it."""

    at: dt.datetime
    check_id: str
    state: State


@dataclass
class _Due:
    check: Check
    grid: dt.datetime
    planned: dt.datetime


@dataclass
class Harness:
    """A config's checks and rules in simulated time. Build one with ``harness()``."""

    config: Config
    engine: sa.Engine
    clock: FrozenClock
    demo: DemoState
    context: ProbeContext
    alerts: AlertEngine
    notices: list[AlertNotice] = field(default_factory=list)
    probed: list[Probed] = field(default_factory=list)
    _due: dict[str, _Due] = field(default_factory=dict)

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    def stage(self, faults: Mapping[str, object]) -> None:
        """Change the demo service's faults now (``{}`` clears them)."""
        self.demo.update(dict(faults))

    async def step(self) -> dt.datetime:
        """Run everything due at the next time something is due; return that time."""
        at = min(d.planned for d in self._due.values())
        await self._run_at(at)
        return at

    async def advance(self, seconds: float) -> None:
        """Run every probe due within the next ``seconds``, then evaluate at the end time."""
        end = self.now + dt.timedelta(seconds=seconds)
        while min(d.planned for d in self._due.values()) <= end:
            await self.step()
        self._move_to(end)
        self.alerts.evaluate(end)

    def open_alerts(self) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(alert_table).where(
                    alert_table.c.status.in_([AlertStatus.PENDING.value, AlertStatus.FIRING.value])
                )
            )
            return [row_to_alert(row) for row in rows]

    def firing(self) -> set[str]:
        """Names of the rules with a firing alert."""
        return {a.labels["alertname"] for a in self.open_alerts() if a.status is AlertStatus.FIRING}

    def pending(self) -> set[str]:
        return {
            a.labels["alertname"] for a in self.open_alerts() if a.status is AlertStatus.PENDING
        }

    def status(self, rule: str) -> AlertStatus | None:
        """The status of ``rule``'s open alert, or None when it has none."""
        found = [a.status for a in self.open_alerts() if a.labels["alertname"] == rule]
        return found[0] if found else None

    def all_alerts(self) -> list[Alert]:
        """Every alert row, open or not, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alert_table).order_by(alert_table.c.id))
            return [row_to_alert(row) for row in rows]

    def results_of(self, check_id: str, *, since: dt.datetime) -> list[Probed]:
        return [p for p in self.probed if p.check_id == check_id and p.at > since]

    # -- one time step -----------------------------------------------------------------------

    def _move_to(self, at: dt.datetime) -> None:
        if at > self.now:
            self.clock.advance(at - self.now)

    async def _run_at(self, at: dt.datetime) -> None:
        self._move_to(at)
        due = [d for _, d in sorted(self._due.items()) if d.planned <= at]
        results = [await self._probe(d.check, at) for d in due]
        for d, result in zip(due, results, strict=True):
            self._plan_next(d, result, at)
            self.probed.append(Probed(at, result.check_id, result.state))
        intervals = {c.id: c.spec.every for c in (d.check for d in self._due.values())}
        with self.engine.begin() as conn:
            record_results(conn, results=results, intervals=intervals)
        self.alerts.evaluate(at, results=results)
        self.alerts.evaluate(at)

    async def _probe(self, check: Check, at: dt.datetime) -> ProbeResult:
        timeout = check.spec.timeout + BACKSTOP
        try:
            observation = await asyncio.wait_for(
                probe_for(check.spec.kind).run(check, context=self.context),
                timeout=timeout.total_seconds(),
            )
        except TimeoutError:
            observation = Observation(
                latency_ms=timeout / dt.timedelta(milliseconds=1),
                connected=False,
                error="timed out",
            )
        return judge(check, observation, started_at=at)

    def _plan_next(self, due: _Due, result: ProbeResult, at: dt.datetime) -> None:
        retry = due.check.spec.retry_every
        if result.state is State.DOWN and retry is not None:
            due.planned = at + retry
            return
        every = due.check.spec.every
        while due.grid <= at:
            due.grid += every
        due.planned = due.grid


class TlsTarget:
    """A local TLS server whose certificate can be swapped for one expiring at another time."""

    def __init__(self, ca: trustme.CA, *, clock: FrozenClock) -> None:
        self._ca = ca
        self._clock = clock
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server: asyncio.Server | None = None
        self.port = 0

    def expire_in(self, days: float) -> None:
        """Serve a certificate that expires ``days`` after the simulated now."""
        now = self._clock.now()
        leaf = self._ca.issue_cert(
            "127.0.0.1",
            "localhost",
            not_before=now - dt.timedelta(days=30),
            not_after=now + dt.timedelta(days=days),
        )
        # New handshakes use the new certificate; the context is shared with the server.
        leaf.configure_cert(self._context)

    async def start(self) -> None:
        async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self._server = await asyncio.start_server(close, "127.0.0.1", 0, ssl=self._context)
        sock: socket.socket = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@asynccontextmanager
async def harness(
    config_path: Path,
    *,
    store_url: str,
    environ: Mapping[str, str] | None = None,
    clock: FrozenClock | None = None,
    traffic_rps: float = TRAFFIC_RPS,
) -> AsyncIterator[Harness]:
    """Serve a fresh demo service, load ``config_path`` against it (``DEMO_URL``), migrate the
    store at ``store_url``, and yield a ``Harness`` at ``clock``'s now (default ``START``) with
    every check due. Pass ``clock`` to share it with other targets (``TlsTarget``)."""
    clock = clock or FrozenClock(START)
    start = clock.now()
    demo = DemoState(clock=clock, traffic_rps=traffic_rps)
    runner = web.AppRunner(create_demo_app(demo), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    env = {"DEMO_URL": f"http://{host}:{port}", **(environ or {})}
    config = load(config_path, environ=env)
    engine = create_engine(store_url)
    context = ProbeContext(clock=clock)
    try:
        upgrade(engine)
        notices: list[AlertNotice] = []

        def emit(conn: sa.Connection, batch: Sequence[AlertNotice]) -> None:
            notices.extend(batch)

        h = Harness(
            config=config,
            engine=engine,
            clock=clock,
            demo=demo,
            context=context,
            alerts=AlertEngine(config, engine, clock=clock, emit=emit),
            notices=notices,
        )
        for check in checks_with_rule_retries(config):
            if check.spec.kind != "heartbeat":
                h._due[check.id] = _Due(check, grid=start, planned=start)
        yield h
    finally:
        await context.close()
        engine.dispose()
        await runner.cleanup()
