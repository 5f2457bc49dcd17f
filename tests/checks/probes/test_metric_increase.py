"""The metric probe's ``increase`` values: a counter's growth between scrapes, per ``per``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pydantic
import pytest
from aiohttp.test_utils import TestServer

from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.probes.metric import compute_values, parse_samples
from opsbook.clock import FrozenClock
from opsbook.config import loads
from opsbook.config.checks import MetricValue
from opsbook.demo import DemoState, create_demo_app
from opsbook.errors import ConfigError

MakeCheck = Callable[..., Any]

BEFORE = """
auth_failures_total 100
logins_total{result="failed"} 40
logins_total{result="ok"} 500
"""


def _increase(selector: str, per: str | None = None) -> MetricValue:
    spec: dict[str, Any] = {"selector": selector}
    if per is not None:
        spec["per"] = per
    return MetricValue.model_validate({"increase": spec})


@pytest.mark.parametrize(
    ("value", "after", "elapsed", "expected"),
    [
        # 20 more in two minutes is 10 a minute (Lift's "Auth failures > 10 per minute").
        (_increase("auth_failures_total"), "auth_failures_total 120\n", timedelta(minutes=2), 10.0),
        (
            _increase("auth_failures_total", "1h"),
            "auth_failures_total 110\n",
            timedelta(minutes=1),
            600.0,
        ),
        (
            _increase("auth_failures_total", "30s"),
            "auth_failures_total 130\n",
            timedelta(minutes=1),
            15.0,
        ),
        # The process restarted: the whole current value is the increase, as in PromQL.
        (_increase("auth_failures_total"), "auth_failures_total 7\n", timedelta(minutes=1), 7.0),
        (_increase("auth_failures_total"), "auth_failures_total 100\n", timedelta(minutes=1), 0.0),
        # Only the selected series count; a series new since the last scrape counts from zero.
        (
            _increase('logins_total{result="failed"}'),
            'logins_total{result="failed"} 52\nlogins_total{result="ok"} 900\n',
            timedelta(minutes=1),
            12.0,
        ),
        (
            _increase("logins_total"),
            'logins_total{result="failed"} 40\nlogins_total{result="ok"} 500\n'
            'logins_total{result="sso"} 3\n',
            timedelta(minutes=1),
            3.0,
        ),
        # No series matched: nothing grew.
        (_increase("payments_total"), "auth_failures_total 120\n", timedelta(minutes=1), 0.0),
        # Two scrapes at the same instant have no rate.
        (_increase("auth_failures_total"), "auth_failures_total 120\n", timedelta(), None),
    ],
)
def test_increase_is_the_growth_scaled_to_per(
    value: MetricValue, after: str, elapsed: timedelta, expected: float | None
) -> None:
    out = compute_values(
        {"v": value}, now=parse_samples(after), before=parse_samples(BEFORE), elapsed=elapsed
    )
    assert out["v"] == (pytest.approx(expected) if expected is not None else None)


def test_the_first_scrape_has_no_increase() -> None:
    out = compute_values(
        {"v": _increase("auth_failures_total")},
        now=parse_samples(BEFORE),
        before=None,
        elapsed=None,
    )
    assert out == {"v": None}


def test_per_defaults_to_a_minute() -> None:
    assert _increase("auth_failures_total").increase is not None
    assert _increase("auth_failures_total").increase.per == timedelta(minutes=1)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("per", "message"),
    [
        ("0s", "per must be longer than 0s (e.g. 1m)"),
        ("soon", "'soon' is not a duration"),
    ],
)
def test_a_bad_per_is_refused(per: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        _increase("auth_failures_total", per)


def test_a_bad_increase_is_refused_at_load_with_its_line() -> None:
    text = """\
service: shop
checks:
  app:
    metric:
      url: http://127.0.0.1:8081/metrics
      values:
        auth_failures_per_min:
          increase: {selector: "auth_failures_total{", per: 1m}
"""
    with pytest.raises(ConfigError) as caught:
        loads(text, file="opsbook.yaml")
    rendered = str(caught.value)
    assert "opsbook.yaml:8:" in rendered
    assert "checks.app.metric.values.auth_failures_per_min.increase.selector" in rendered
    assert "is not a metric selector" in rendered


def test_increase_and_sum_together_are_refused() -> None:
    with pytest.raises(
        pydantic.ValidationError,
        match="set exactly one of sum, ratio, fraction, quantile or increase \\(found 2\\)",
    ):
        MetricValue.model_validate({"sum": "up", "increase": {"selector": "auth_failures_total"}})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def demo_url(clock: FrozenClock) -> AsyncIterator[tuple[str, DemoState]]:
    state = DemoState(clock=clock)
    server = TestServer(create_demo_app(state))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), state
    await server.close()


async def test_it_reads_the_demo_services_auth_failures_per_minute(
    demo_url: tuple[str, DemoState], clock: FrozenClock, make_check: MakeCheck
) -> None:
    url, state = demo_url
    values = {"auth_failures_per_min": {"increase": {"selector": "auth_failures_total"}}}
    check = make_check("metric", {"url": f"{url}/metrics", "values": values})
    context = ProbeContext(clock=clock)
    try:
        first = await probe_for("metric").run(check, context=context)
        assert first.values == {"auth_failures_per_min": None}
        state.update({"auth_failures_per_min": 30})
        clock.advance(timedelta(seconds=30))
        second = await probe_for("metric").run(check, context=context)
        assert second.values == {"auth_failures_per_min": 30.0}
        state.update({"auth_failures_per_min": None})
        clock.advance(timedelta(minutes=2))
        third = await probe_for("metric").run(check, context=context)
        assert third.values == {"auth_failures_per_min": 0.0}
    finally:
        await context.close()
