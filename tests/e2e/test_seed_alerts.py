"""Every alert rule of every example config, exercised end to end on the demo service.

For each rule: a healthy run opens no alert at all; staging the rule's fault makes exactly that
rule fire, after its ``for`` and not before (the step before it fires it is pending, or absent
for a rule that fires on the first evaluation); no other rule fires except the companions the
table names (with why); clearing the fault resolves it after ``resolve_after`` good results (or,
for a window rule, once the bad results leave the window), and everything else that fired
resolves too. Time is simulated (``harness``): the probes, the store and the engine are real.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from harness import START, Harness, TlsTarget, harness

from opsbook.alerts.models import AlertStatus
from opsbook.clock import FrozenClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEALTHY = dt.timedelta(minutes=10)
HEALTHY_CERT_DAYS = 90


@dataclass(frozen=True)
class Case:
    """One rule, the fault that should trip it, and the rules that legitimately fire with it."""

    seed: str
    rule: str
    fault: Mapping[str, object] = field(default_factory=dict)
    cert_days: float | None = None
    """Serve a certificate expiring this many days from now instead of staging a demo fault."""
    companions: frozenset[str] = frozenset()
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.seed}:{self.rule}"


DOWN = {"down": True}

CASES = [
    # LiLove: its "Alert Configuration" table.
    Case("lilove", "health-check-failure", DOWN),
    Case("lilove", "error-rate", {"error_rate": 0.2}),
    Case("lilove", "response-time", {"api_latency_ms": 3000}),
    Case("lilove", "payment-failures", {"payment_failure_rate": 0.1}),
    Case("lilove", "database-connections", {"db_connections": 9}),
    Case("lilove", "memory-usage", {"memory_pct": 90}),
    # in-midst-my-life: its Critical and Warning alert tables.
    Case("in-midst-my-life", "api-down", DOWN),
    Case("in-midst-my-life", "database-connection-exhausted", {"db_connections": 10}),
    Case("in-midst-my-life", "error-rate-spike", {"error_rate": 0.2}),
    Case("in-midst-my-life", "disk-space-critical", {"disk_used_pct": 95}),
    Case("in-midst-my-life", "high-latency", {"api_latency_ms": 3000}),
    Case("in-midst-my-life", "memory-pressure", {"memory_pct": 85}),
    Case("in-midst-my-life", "queue-backlog", {"queue_depth": 5000}),
    Case("in-midst-my-life", "certificate-expiry", cert_days=10),
    # Lift: "Monitoring Alerts to Set Up".
    Case("lift", "error-rate", {"error_rate": 0.2}),
    Case("lift", "database-latency", {"db_latency_ms": 800}),
    Case("lift", "memory-usage", {"memory_pct": 85}),
    Case("lift", "disk-space", {"disk_used_pct": 95}),
    Case("lift", "payment-failures", {"payment_failure_rate": 0.1}),
    Case("lift", "auth-failures", {"auth_failures_per_min": 30}),
    Case("lift", "api-response-time", {"api_latency_ms": 3000}),
    # The Lovable shop: "Key Metrics to Watch" and the P0 "Site down".
    Case(
        "lovable-shop",
        "site-down",
        DOWN,
        companions=frozenset({"uptime"}),
        why="one failed probe of the site takes the hour's availability below 99.9%",
    ),
    Case(
        "lovable-shop",
        "error-rate",
        {"error_rate": 0.2},
        companions=frozenset({"uptime"}),
        why="the site's own probes get their share of the injected 500s",
    ),
    Case("lovable-shop", "response-time", {"api_latency_ms": 4000}),
    Case(
        "lovable-shop",
        "uptime",
        DOWN,
        companions=frozenset({"site-down"}),
        why="the outage that costs the uptime is the site being down",
    ),
    Case("lovable-shop", "memory-usage", {"memory_pct": 85}),
    Case("lovable-shop", "database-connections", {"db_connections": 9}),
    # The bundled demo's own selection.
    Case(
        "demo",
        "site-down",
        DOWN,
        companions=frozenset({"database-down"}),
        why="/ops/uptime goes down with the rest of the service",
    ),
    Case("demo", "database-down", {"database": "down"}),
    Case("demo", "error-rate", {"error_rate": 0.2}),
    Case("demo", "response-time", {"api_latency_ms": 3000}),
    Case("demo", "auth-failures", {"auth_failures_per_min": 30}),
    Case("demo", "queue-backlog", {"queue_depth": 5000, "dlq": 12}),
]


def test_every_rule_of_every_example_has_a_case() -> None:
    from opsbook.config import load

    cased = {(c.seed, c.rule) for c in CASES}
    for path in sorted(EXAMPLES.glob("*/opsbook.yaml")):
        config = load(path, environ={})
        for rule in config.alerts:
            assert (path.parent.name, rule) in cased, f"no test stages {path.parent.name}:{rule}"
    for case in CASES:
        assert bool(case.companions) == bool(case.why), f"{case.id}: say why companions fire"


@asynccontextmanager
async def _running(case: Case, store_url: str) -> AsyncIterator[tuple[Harness, TlsTarget]]:
    clock = FrozenClock(START)
    tls = TlsTarget(trustme.CA(), clock=clock)
    tls.expire_in(HEALTHY_CERT_DAYS)
    await tls.start()
    environ = {"DEMO_TLS_HOST": "127.0.0.1", "DEMO_TLS_PORT": str(tls.port)}
    path = EXAMPLES / case.seed / "opsbook.yaml"
    try:
        async with harness(path, store_url=store_url, environ=environ, clock=clock) as h:
            yield h, tls
    finally:
        await tls.stop()


def _stage(case: Case, h: Harness, tls: TlsTarget) -> None:
    if case.cert_days is not None:
        tls.expire_in(case.cert_days)
    else:
        h.stage(case.fault)


def _clear(case: Case, h: Harness, tls: TlsTarget) -> None:
    if case.cert_days is not None:
        tls.expire_in(HEALTHY_CERT_DAYS)
    else:
        h.stage({})


async def _exercise(case: Case, store_url: str) -> None:
    async with _running(case, store_url) as (h, tls):
        rule = h.config.alerts[case.rule]
        assert rule.when is not None
        check = h.config.checks[rule.when.check]
        allowed = {case.rule, *case.companions}

        # 1. Healthy: nothing opens, not even a pending alert.
        await h.advance(HEALTHY.total_seconds())
        assert h.all_alerts() == []

        # 2. The fault: only this rule (and its companions) fire, after `for`.
        _stage(case, h, tls)
        staged_at = h.now
        fire_by = staged_at + _fire_bound(h, case)
        history: list[tuple[dt.datetime, AlertStatus | None]] = []
        while h.status(case.rule) is not AlertStatus.FIRING:
            at = await h.step()
            assert at <= fire_by, f"{case.id} did not fire by {fire_by - staged_at}"
            assert h.firing() <= allowed, f"{case.id}: unexpected {h.firing() - allowed}"
            history.append((at, h.status(case.rule)))
        fired_at = history[-1][0]
        before = [status for _, status in history[:-1]]
        assert set(before) <= {None, AlertStatus.PENDING}
        probes = h.results_of(rule.when.check, since=staged_at)
        if rule.for_.duration is not None:
            pending_since = next(at for at, status in history if status is not None)
            assert before and before[-1] is AlertStatus.PENDING, "fired without pending first"
            assert rule.for_.duration <= fired_at - pending_since, "fired before its for"
            assert fired_at - pending_since <= rule.for_.duration + check.every, "fired late"
        else:
            failures = rule.for_.failures or 1
            # One evaluation per probe: it fires on the failures-th probe since the fault.
            assert len(probes) == failures, [(p.at, p.state) for p in probes]
            if failures > 1:
                assert before[-1] is AlertStatus.PENDING

        # Companions fire too (they may need a step or two more); nothing else does.
        if case.companions:
            settle_by = h.now + dt.timedelta(minutes=5)
            while h.firing() != allowed:
                assert await h.step() <= settle_by, f"{case.id}: only {h.firing()} fire"
                assert h.firing() <= allowed
        await h.advance(check.every.total_seconds())
        assert h.firing() == allowed

        # 3. Cleared: it resolves after resolve_after good results, then everything is quiet.
        _clear(case, h, tls)
        cleared_at = h.now
        resolve_after = rule.resolve_after or h.config.alerting.resolve_after
        window = rule.when.window or dt.timedelta()
        resolve_by = cleared_at + window + check.every * (resolve_after + 1) + rule.keep_firing_for
        while h.status(case.rule) is not None:
            at = await h.step()
            assert at <= resolve_by, f"{case.id} did not resolve by {resolve_by - cleared_at}"
            assert h.firing() <= allowed
        resolved = [a for a in h.all_alerts() if a.labels["alertname"] == case.rule]
        assert [a.status for a in resolved] == [AlertStatus.RESOLVED]
        if rule.when.window is None:
            good = h.results_of(rule.when.check, since=cleared_at)
            assert len(good) == resolve_after, [(p.at, p.state) for p in good]
        quiet_by = h.now + dt.timedelta(hours=2)
        while h.open_alerts():
            assert await h.step() <= quiet_by, f"still open: {h.open_alerts()}"
        fired = {a.labels["alertname"] for a in h.all_alerts() if a.fired_at is not None}
        assert fired == allowed


def _fire_bound(h: Harness, case: Case) -> dt.timedelta:
    """The latest a correct engine may fire: the rule's check probes within one ``every``, then
    ``for`` (a duration, or failures one ``retry_every`` or ``every`` apart)."""
    rule = h.config.alerts[case.rule]
    assert rule.when is not None
    check = h.config.checks[rule.when.check]
    every = check.every
    if rule.for_.duration is not None:
        return every * 2 + rule.for_.duration
    gap = check.retry_every or every
    return every + gap * ((rule.for_.failures or 1) - 1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_the_rule_fires_alone_after_its_for_and_resolves(case: Case, tmp_path: Path) -> None:
    await _exercise(case, f"sqlite:///{tmp_path / 'opsbook.db'}")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "case", [CASES[0], next(c for c in CASES if c.rule == "high-latency")], ids=lambda c: c.id
)
async def test_it_behaves_the_same_on_postgres(case: Case, pg_url: str) -> None:
    await _exercise(case, pg_url)
