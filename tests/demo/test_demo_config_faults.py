"""The README's tour, fault by fault: each staged fault pages the rule a reader expects of the
bundled config (``examples/demo/opsbook.yaml``), and nothing else pages.

A slow site is the response-time rule (SEV2), not site-down or database-down (SEV1); a site that
drops connections is site-down, with database-down (its check is served by the same process)
held back as a dependent of it. Time is simulated (``e2e/harness.py``): the demo service, the
probes, the judge, the store and the alert engine are the real ones, on one ``FrozenClock``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pytest

from e2e.harness import Harness, harness
from opsbook.alerts.models import AlertStatus
from opsbook.checks.judge import judge
from opsbook.checks.models import Check, Observation, ProbeResult
from opsbook.checks.probes import probe_for

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo" / "opsbook.yaml"
HEALTHY = dt.timedelta(minutes=10)


def _paging(h: Harness) -> set[str]:
    """Firing alerts that notify: not held back by a dependency, silence or maintenance."""
    return {
        a.labels["alertname"]
        for a in h.open_alerts()
        if a.status is AlertStatus.FIRING and not a.is_muted
    }


def _cache_slow_probes(h: Harness) -> None:
    """Probe each http check for real once per staged fault set, then reuse its observation.

    ``latency_ms`` really sleeps, so every probe of a slowed endpoint costs real seconds; the
    demo's health endpoints answer the same every time under a latency fault (no error sampler
    runs), so one real probe per check stands for all of them. The metric check is probed every
    time: its counters move with the simulated clock, and ``/metrics`` is never slowed.
    """
    cache: dict[tuple[str, object], Observation] = {}

    async def probe(check: Check, at: dt.datetime) -> ProbeResult:
        key = (check.id, h.demo.faults)
        if check.spec.kind != "http" or not h.demo.faults.latency_ms:
            return await real(check, at)
        if key not in cache:
            cache[key] = await probe_for(check.spec.kind).run(check, context=h.context)
        return judge(check, cache[key], started_at=at)

    real = h._probe
    h._probe = probe  # type: ignore[method-assign]


async def _prime(h: Harness) -> None:
    """Run the first real probe of every http check at once (one sleep, not one per check)."""
    checks = [c for c in (d.check for d in h._due.values()) if c.spec.kind == "http"]
    await asyncio.gather(*(h._probe(c, h.now) for c in checks))


TOUR = [
    # fault, the rules that page, the latest they may take to fire after the fault
    ({"latency_ms": 3000}, {"response-time"}, dt.timedelta(minutes=11)),
    ({"error_rate": 0.2}, {"error-rate"}, dt.timedelta(minutes=6)),
    ({"down": True}, {"site-down"}, dt.timedelta(minutes=1)),
    ({"database": "down"}, {"database-down"}, dt.timedelta(minutes=2)),
]


@pytest.mark.parametrize(("fault", "pages", "within"), TOUR, ids=lambda v: str(v))
async def test_each_tour_fault_pages_only_the_rule_a_reader_expects(
    fault: Mapping[str, object], pages: set[str], within: dt.timedelta, tmp_path: Path
) -> None:
    async with harness(DEMO_CONFIG, store_url=f"sqlite:///{tmp_path / 'opsbook.db'}") as h:
        _cache_slow_probes(h)
        await h.advance(HEALTHY.total_seconds())
        assert h.all_alerts() == []

        h.stage(fault)
        await _prime(h)
        deadline = h.now + within
        while _paging(h) != pages:
            assert await h.step() <= deadline, f"{fault}: only {_paging(h)} page"
            assert _paging(h) <= pages, f"{fault} also pages {_paging(h) - pages}"
        # A minute more: nothing else joins in.
        await h.advance(60)
        assert _paging(h) == pages


async def test_a_down_site_holds_database_down_back_as_its_dependent(tmp_path: Path) -> None:
    async with harness(DEMO_CONFIG, store_url=f"sqlite:///{tmp_path / 'opsbook.db'}") as h:
        await h.advance(HEALTHY.total_seconds())
        h.stage({"down": True})
        await h.advance(120)
        database = [a for a in h.open_alerts() if a.labels["alertname"] == "database-down"]
        assert [a.suppressed_reason for a in database] == ["healthz is down"]
        site = next(a for a in h.open_alerts() if a.labels["alertname"] == "site-down")
        assert site.fired_at is not None and database[0].fired_at is not None
        # The site's rule fires first, so the incident is the site's (autodeclare).
        assert site.fired_at < database[0].fired_at
