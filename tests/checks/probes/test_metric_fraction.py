"""The metric probe's ``fraction`` values: one sum over another in the same scrape (gauges)."""

from __future__ import annotations

import pytest

from opsbook.checks.probes.metric import compute_values, parse_samples
from opsbook.config import loads
from opsbook.config.checks import MetricValue

HEAP = MetricValue.model_validate(
    {
        "fraction": {
            "numerator": "nodejs_heap_size_used_bytes",
            "denominator": "nodejs_heap_size_total_bytes",
        }
    }
)
POOL = MetricValue.model_validate(
    {
        "fraction": {
            "numerator": 'db_pool_connections{state="active"}',
            "denominator": "db_pool_connections",
        }
    }
)


@pytest.mark.parametrize(
    ("value", "scrape", "expected"),
    [
        # in-midst-my-life's "Heap usage > 80%".
        (HEAP, "nodejs_heap_size_used_bytes 450\nnodejs_heap_size_total_bytes 500\n", 0.9),
        (
            POOL,
            'db_pool_connections{state="active"} 9\ndb_pool_connections{state="idle"} 1\n',
            0.9,
        ),
        # Nothing to divide: no value rather than a made-up 0.
        (HEAP, "nodejs_heap_size_total_bytes 500\n", None),
        (HEAP, "nodejs_heap_size_used_bytes 450\n", None),
        (HEAP, "nodejs_heap_size_used_bytes 0\nnodejs_heap_size_total_bytes 0\n", None),
        (HEAP, "nodejs_heap_size_used_bytes 0\nnodejs_heap_size_total_bytes 500\n", 0.0),
    ],
)
def test_fraction_divides_the_current_sums(
    value: MetricValue, scrape: str, expected: float | None
) -> None:
    # A gauge needs no previous scrape: the first one already has the value.
    out = compute_values({"v": value}, now=parse_samples(scrape), before=None)
    assert out["v"] == (pytest.approx(expected) if expected is not None else None)


def test_a_percent_threshold_on_a_fraction_is_a_fraction() -> None:
    config = loads(
        """\
service: shop
checks:
  app:
    metric:
      url: http://127.0.0.1:8081/metrics
      values:
        heap_used:
          fraction:
            numerator: nodejs_heap_size_used_bytes
            denominator: nodejs_heap_size_total_bytes
alerts:
  memory-pressure: {when: app heap_used > 80%}
""",
        file="opsbook.yaml",
    )
    when = config.alerts["memory-pressure"].when
    assert when is not None
    assert (when.metric, when.threshold) == ("value.heap_used", pytest.approx(0.8))
