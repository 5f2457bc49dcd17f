"""The ``metric`` kind: scrape a Prometheus text endpoint and compute named values from it.

``sum`` adds the matching samples as they are, and ``fraction`` divides two such sums (gauges).
``ratio``, ``quantile`` and ``increase`` work on increases since this check's previous scrape
(kept in ``ProbeContext.state`` with the time it was taken), as PromQL's ``increase`` and
``histogram_quantile`` do over a range; the first scrape, or no traffic in between, gives
``None``. A counter that went down was reset, and its whole current value counts as the
increase. ``increase`` is scaled from the time between the two scrapes (read from
``ProbeContext.clock``) to its ``per``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import ClassVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from opsbook.checks.models import Check, Observation, Value
from opsbook.checks.probes._errors import seconds
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.probes.http import client_error, read_capped, target_of
from opsbook.config.checks import MetricSpec, MetricValue
from opsbook.config.selectors import Selector

# A scrape this large is a misconfigured URL, not metrics worth parsing.
SCRAPE_LIMIT_BYTES = 16 * 1024 * 1024

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[SeriesKey, float]


def parse_samples(text: str) -> Samples:
    """Every sample of a text exposition, keyed by sample name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _matching(samples: Samples, selector: Selector, name: str | None = None) -> Samples:
    wanted = name or selector.name
    return {
        key: value
        for key, value in samples.items()
        if key[0] == wanted and selector.matches_labels(dict(key[1]))
    }


def _increases(now: Samples, before: Samples) -> Samples:
    # A series missing from the previous scrape started from zero since then.
    out: Samples = {}
    for key, value in now.items():
        previous = before.get(key, 0.0)
        out[key] = value - previous if value >= previous else value
    return out


def _ratio(now: Samples, before: Samples | None, spec: MetricValue) -> float | None:
    assert spec.ratio is not None, "called for ratio values"
    if before is None:
        return None
    numerator = sum(_increases(_matching(now, spec.ratio.numerator), before).values())
    denominator = sum(_increases(_matching(now, spec.ratio.denominator), before).values())
    return numerator / denominator if denominator > 0 else None


def _fraction(now: Samples, spec: MetricValue) -> float | None:
    assert spec.fraction is not None, "called for fraction values"
    numerator = _matching(now, spec.fraction.numerator)
    denominator = sum(_matching(now, spec.fraction.denominator).values())
    if not numerator or denominator <= 0:
        return None
    return sum(numerator.values()) / denominator


def _increase(
    now: Samples, before: Samples | None, spec: MetricValue, *, elapsed: timedelta | None
) -> float | None:
    assert spec.increase is not None, "called for increase values"
    if before is None or elapsed is None or elapsed <= timedelta():
        return None
    grown = sum(_increases(_matching(now, spec.increase.selector), before).values())
    return grown * (spec.increase.per / elapsed)


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over ``(upper_bound, cumulative_count)`` pairs.

    Linear interpolation inside the bucket holding the rank; the lowest bucket starts at 0 (when
    its bound is positive); a rank in the ``+Inf`` bucket gives the highest finite bound.
    """
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for index, (bound, count) in enumerate(ordered):
        if count >= rank:
            if math.isinf(bound):
                return ordered[-2][0]
            if index == 0 and bound <= 0:
                return bound
            in_bucket = count - below
            if in_bucket <= 0:
                return bound
            return lower + (bound - lower) * (rank - below) / in_bucket
        lower, below = bound, count
    return ordered[-2][0]


def _quantile(now: Samples, before: Samples | None, spec: MetricValue) -> float | None:
    assert spec.quantile is not None, "called for quantile values"
    if before is None:
        return None
    selector = spec.quantile.histogram
    increases = _increases(_matching(now, selector, f"{selector.name}_bucket"), before)
    by_bound: dict[float, float] = {}
    for (_, labels), value in increases.items():
        bound = dict(labels).get("le")
        if bound is not None:
            upper = float(bound)
            by_bound[upper] = by_bound.get(upper, 0.0) + value
    return histogram_quantile(spec.quantile.q, by_bound.items())


def compute_values(
    values: Mapping[str, MetricValue],
    *,
    now: Samples,
    before: Samples | None,
    elapsed: timedelta | None = None,
) -> dict[str, Value]:
    """Each configured value from this scrape and the previous one (``None`` on the first),
    taken ``elapsed`` apart (``increase`` values need it; without it they are ``None``)."""
    out: dict[str, Value] = {}
    for name, spec in values.items():
        if spec.sum is not None:
            matched = _matching(now, spec.sum)
            out[name] = sum(matched.values()) if matched else None
        elif spec.ratio is not None:
            out[name] = _ratio(now, before, spec)
        elif spec.fraction is not None:
            out[name] = _fraction(now, spec)
        elif spec.increase is not None:
            out[name] = _increase(now, before, spec, elapsed=elapsed)
        else:
            out[name] = _quantile(now, before, spec)
    return out


@dataclass(frozen=True, slots=True)
class _Scrape:
    """What a metric check remembers of its previous scrape: when, and the series it needs."""

    at: datetime
    samples: Samples


def _kept(samples: Samples, spec: MetricSpec) -> Samples:
    # Only series some value reads are remembered, so state stays small on large endpoints.
    names: set[str] = set()
    for value in spec.values.values():
        if value.ratio is not None:
            names.update((value.ratio.numerator.name, value.ratio.denominator.name))
        elif value.quantile is not None:
            names.add(f"{value.quantile.histogram.name}_bucket")
        elif value.increase is not None:
            names.add(value.increase.selector.name)
    return {key: v for key, v in samples.items() if key[0] in names}


class MetricProbe:
    kind: ClassVar[str] = "metric"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.metric
        assert spec is not None, "probe_for dispatches on the kind"
        session = await context.get_http()
        started = monotonic()
        scraped_at = context.clock.now()
        headers = {"Accept": "text/plain;version=0.0.4"}
        if spec.bearer_token is not None:
            headers["Authorization"] = f"Bearer {spec.bearer_token.reveal()}"
        try:
            async with asyncio.timeout(check.spec.timeout.total_seconds()):
                async with session.get(spec.url, headers=headers) as response:
                    status = response.status
                    raw = await read_capped(response, SCRAPE_LIMIT_BYTES + 1)
        except TimeoutError:
            error = f"scrape of {target_of(spec.url)} timed out after {seconds(check.spec.timeout)}"
            return Observation(
                latency_ms=(monotonic() - started) * 1000, connected=False, error=error
            )
        except aiohttp.ClientError as exc:
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=False,
                error=client_error(exc, spec.url, stage="connect"),
            )
        latency_ms = (monotonic() - started) * 1000
        if len(raw) > SCRAPE_LIMIT_BYTES:
            error = f"scrape of {target_of(spec.url)} is larger than {SCRAPE_LIMIT_BYTES} bytes"
            return Observation(latency_ms=latency_ms, connected=True, status=status, error=error)
        if status != 200:
            error = f"scrape of {target_of(spec.url)} answered HTTP {status}, expected 200"
            return Observation(latency_ms=latency_ms, connected=True, status=status, error=error)
        try:
            samples = parse_samples(raw.decode("utf-8", errors="replace"))
        except ValueError as exc:
            error = f"the scrape of {target_of(spec.url)} is not Prometheus text format ({exc})"
            return Observation(latency_ms=latency_ms, connected=True, status=status, error=error)
        previous = context.state.get(check.id)
        before = previous if isinstance(previous, _Scrape) else None
        values = compute_values(
            spec.values,
            now=samples,
            before=before.samples if before else None,
            elapsed=scraped_at - before.at if before else None,
        )
        context.state[check.id] = _Scrape(scraped_at, _kept(samples, spec))
        return Observation(latency_ms=latency_ms, connected=True, status=status, values=values)
