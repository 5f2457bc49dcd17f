"""The metric probe against the demo service, its maths on increases, and the selector grammar."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.probes.metric import compute_values, histogram_quantile, parse_samples
from opsbook.config.checks import MetricValue
from opsbook.config.selectors import parse_selector

MakeCheck = Callable[..., Any]

SEED_VALUES = {
    # The seeds' "Error rate > 5%": 5xx answers over all answers since the previous scrape.
    "error_rate": {
        "ratio": {
            "numerator": 'http_requests_total{code=~"5.."}',
            "denominator": "http_requests_total",
        }
    },
    # The seeds' "p95 > 2s", here the median so the exact bucket maths is checkable.
    "p50_s": {
        "quantile": {"histogram": 'http_request_duration_seconds{path="/healthz"}', "q": 0.5}
    },
    "queue": {"sum": "queue_depth"},
}


async def _hit(url: str, times: int) -> None:
    import asyncio

    import aiohttp

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.get(f"{url}/healthz") as response:
            await response.read()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session) for _ in range(times)))


async def test_ratio_and_quantile_come_from_increases_between_scrapes(
    demo: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"{demo.url}/metrics", "values": SEED_VALUES})
    await _hit(demo.url, 7)  # traffic before the first scrape must not count
    first = await probe_for("metric").run(check, context=context)
    assert first.error is None
    assert first.values == {"error_rate": None, "p50_s": None, "queue": 0.0}

    demo.state.update({"error_rate": 0.2, "latency_ms": 300, "queue_depth": 1234})
    await _hit(demo.url, 10)
    second = await probe_for("metric").run(check, context=context)
    assert second.error is None
    assert second.status == 200
    assert second.values["error_rate"] == 0.2
    # All ten answers took 300 ms (wide margins, as CI machines stall): the 250-500 ms bucket,
    # interpolated half way.
    assert second.values["p50_s"] == pytest.approx(0.375)
    assert second.values["queue"] == 1234.0


async def test_no_traffic_between_scrapes_gives_no_ratio(
    demo: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"{demo.url}/metrics", "values": SEED_VALUES})
    await _hit(demo.url, 3)
    await probe_for("metric").run(check, context=context)
    obs = await probe_for("metric").run(check, context=context)
    assert (obs.values["error_rate"], obs.values["p50_s"]) == (None, None)


async def test_a_scrape_that_is_not_200_is_an_error(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"{http_url}/status/503"})
    obs = await probe_for("metric").run(check, context=context)
    assert (
        obs.error == f"scrape of {http_url.removeprefix('http://')} answered HTTP 503, expected 200"
    )


async def test_a_refused_scrape_says_so(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"http://127.0.0.1:{closed_port}/metrics"})
    obs = await probe_for("metric").run(check, context=context)
    assert obs.error == f"connect to 127.0.0.1:{closed_port} refused"


async def test_a_slow_scrape_times_out(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"{http_url}/slow?ms=2000"}, timeout="200ms")
    obs = await probe_for("metric").run(check, context=context)
    assert obs.error == f"scrape of {http_url.removeprefix('http://')} timed out after 0.2s"


async def test_a_body_that_is_not_prometheus_text_is_an_error(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("metric", {"url": f"{http_url}/status/200"})
    obs = await probe_for("metric").run(check, context=context)
    assert obs.error is not None
    assert obs.error.startswith(
        f"the scrape of {http_url.removeprefix('http://')} is not Prometheus text format ("
    )


COUNTERS_BEFORE = """
requests_total{code="200"} 100
requests_total{code="500"} 10
"""


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ('requests_total{code="200"} 190\nrequests_total{code="500"} 20\n', 0.1),
        # The process restarted: both counters start again from zero.
        ('requests_total{code="200"} 6\nrequests_total{code="500"} 4\n', 0.4),
        ('requests_total{code="200"} 100\nrequests_total{code="500"} 10\n', None),
        ('requests_total{code="200"} 100\n', None),
    ],
)
def test_ratio_handles_resets_and_no_traffic(after: str, expected: float | None) -> None:
    value = MetricValue.model_validate(
        {"ratio": {"numerator": 'requests_total{code="500"}', "denominator": "requests_total"}}
    )
    out = compute_values(
        {"r": value}, now=parse_samples(after), before=parse_samples(COUNTERS_BEFORE)
    )
    assert out["r"] == (pytest.approx(expected) if expected is not None else None)


INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.1, 0), (0.2, 10), (INF, 10)], 0.15),
        (0.95, [(0.1, 50), (0.5, 90), (1.0, 100), (INF, 100)], 0.75),
        (0.5, [(0.1, 10), (INF, 10)], 0.05),
        # A rank in the +Inf bucket gives the highest finite bound, as PromQL does.
        (0.99, [(0.1, 1), (1.0, 2), (INF, 10)], 1.0),
        (0.5, [(0.1, 0), (INF, 0)], None),
        (0.5, [(0.1, 5)], None),
        (0.5, [(-1.0, 5), (INF, 5)], -1.0),
    ],
)
def test_histogram_quantile_matches_promql(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = histogram_quantile(q, buckets)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("text", "name", "labels", "matches"),
    [
        ("up", "up", {}, True),
        ("up", "down", {}, False),
        ('http_requests_total{code=~"5.."}', "http_requests_total", {"code": "503"}, True),
        ('http_requests_total{code=~"5.."}', "http_requests_total", {"code": "5000"}, False),
        ('x{code!~"5.."}', "x", {"code": "200"}, True),
        ('x{a="1", b!="2",}', "x", {"a": "1", "b": "3"}, True),
        ('x{a="1",b!="2"}', "x", {"a": "1", "b": "2"}, False),
        ("x{a=''}", "x", {}, True),
        (' x { a = "q\\"uote" } ', "x", {"a": 'q"uote'}, True),
        ("ns:rule_name{}", "ns:rule_name", {}, True),
    ],
)
def test_selectors_match_like_promql(
    text: str, name: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(text).matches(name, labels) is matches


HINT = '(use e.g. http_requests_total{code=~"5.."})'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"'' is not a metric selector: expected a metric name at column 1 {HINT}"),
        ("5xx", f"'5xx' is not a metric selector: expected a metric name at column 1 {HINT}"),
        (
            "up{code}",
            f"'up{{code}}' is not a metric selector: expected one of =, !=, =~, !~ "
            f"at column 8 {HINT}",
        ),
        (
            "up{code=5}",
            f"'up{{code=5}}' is not a metric selector: expected a quoted value at column 9 {HINT}",
        ),
        (
            'up{code="5"',
            f"'up{{code=\"5\"' is not a metric selector: expected ',' or '}}' at column 12 {HINT}",
        ),
        (
            'up{code="5}',
            f"'up{{code=\"5}}' is not a metric selector: unterminated quoted value "
            f"at column 9 {HINT}",
        ),
        (
            'up{code=~"(5"}',
            f"'up{{code=~\"(5\"}}' is not a metric selector: bad regular expression "
            f"(missing ), unterminated subpattern) at column 10 {HINT}",
        ),
        (
            'up{="5"}',
            f"'up{{=\"5\"}}' is not a metric selector: expected a label name at column 4 {HINT}",
        ),
        ("up[5m]", f"'up[5m]' is not a metric selector: unexpected text at column 3 {HINT}"),
        (
            'up{a="\\d"}',
            f"'up{{a=\"\\\\d\"}}' is not a metric selector: unknown escape in a quoted value "
            f"at column 7 {HINT}",
        ),
    ],
)
def test_bad_selectors_are_refused_with_the_column(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_selector(text)
    assert str(info.value) == message


def test_a_bad_selector_is_refused_at_config_load(make_check: MakeCheck) -> None:
    with pytest.raises(pydantic.ValidationError, match="at column 8"):
        make_check("metric", {"url": "http://x/metrics", "values": {"v": {"sum": "up{code}"}}})


@pytest.mark.parametrize("value", [{}, {"sum": "up", "quantile": {"histogram": "h", "q": 0.5}}])
def test_a_value_needs_exactly_one_computation(value: dict[str, Any]) -> None:
    with pytest.raises(
        pydantic.ValidationError, match="set exactly one of sum, ratio, fraction, quantile"
    ):
        MetricValue.model_validate(value)


def test_the_bearer_token_is_not_in_the_check_repr(make_check: MakeCheck) -> None:
    check = make_check("metric", {"url": "http://x/metrics", "bearer_token": "sekrit"})
    assert "sekrit" not in repr(check)
