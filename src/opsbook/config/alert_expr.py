"""The ``when:`` language of alert rules, parsed once at config load into an ``AlertExpr``.

An expression names one check, then either a state or a comparison::

    api down                       # the check's latest result is down
    api failing                    # not up (down or degraded)
    api degraded | api up
    nightly-backup late            # heartbeat: past its period (late or down)
    api p95 > 2s                   # latency percentile over a window (default 5m)
    api p95 > 2s over 10m          # ... over an explicit window
    api availability < 99.9%       # share of time up over a window (default 1h)
    api error_rate > 5%            # share of down results over a window (default 5m)
    api latency > 500ms            # the latest result's latency
    api status >= 500              # the latest HTTP status
    db connections_pct > 80        # a value the check's kind measures
    db connections > 80%           # the same: a percent threshold on X means X_pct
    queue value.depth > 1000       # ``value.`` is optional but explicit
    cert days_left < 14

Thresholds are normalised when parsed: latency thresholds to milliseconds (``2s`` -> 2000.0, a
bare number is milliseconds as in Gatus' ``[RESPONSE_TIME]``), percents to 0-100 numbers
(``99.9%`` -> 99.9), ``true``/``false`` to bools. Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeAlias

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

Comparison: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
StateWord: TypeAlias = Literal["down", "up", "degraded", "failing", "late"]

LATENCY_METRICS = ("latency", "p50", "p90", "p95", "p99", "avg")
"""Measured in milliseconds. ``latency`` is the latest result; the others read a window."""
WINDOW_METRICS = ("p50", "p90", "p95", "p99", "avg", "availability", "error_rate")
"""Computed over ``over`` (or the default window) from stored results and rollups."""
PERCENT_METRICS = ("availability", "error_rate")
BUILTIN_METRICS = (*LATENCY_METRICS, "availability", "error_rate", "status")
DEFAULT_WINDOWS: dict[str, timedelta] = {
    "p50": timedelta(minutes=5),
    "p90": timedelta(minutes=5),
    "p95": timedelta(minutes=5),
    "p99": timedelta(minutes=5),
    "avg": timedelta(minutes=5),
    "error_rate": timedelta(minutes=5),
    "availability": timedelta(hours=1),
}


@dataclass(frozen=True, slots=True)
class AlertExpr:
    """A parsed ``when:``. Exactly one of ``state`` and ``metric`` is set.

    ``metric`` is a builtin (``BUILTIN_METRICS``) or ``"value.<name>"`` for a value the check's
    kind measures (bare names and the ``X > 80%`` sugar are resolved to this form when the
    config is validated against the check, see ``resolve``). ``window`` is set for the window
    metrics (explicit ``over`` or the default). ``percent`` records that the threshold was
    written with ``%``.
    """

    text: str
    check: str
    state: StateWord | None = None
    metric: str | None = None
    op: Comparison | None = None
    threshold: float | bool | str | None = None
    window: timedelta | None = None
    percent: bool = False

    def __str__(self) -> str:
        return self.text

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.to_string_ser_schema()
        )


def _validate(value: object) -> AlertExpr:
    if isinstance(value, AlertExpr):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an alert expression (write e.g. 'api down')")
    return parse_alert_expr(value)


def parse_alert_expr(text: str) -> AlertExpr:
    """Parse one ``when:``; raises ``ValueError`` with the whole user-facing sentence.

    Checks only the shape (a check id, a known state word or a metric, an operator, a threshold
    of the right unit for a builtin metric). Whether the check exists and measures the value is
    decided in ``Config``, which sees the checks.
    """
    raise NotImplementedError("issue 4: alert expression parser")


def resolve(expr: AlertExpr, *, kind: str, values: frozenset[str] | None) -> AlertExpr:
    """``expr`` with a bare value name rewritten to ``value.<name>`` for a check of ``kind``
    measuring ``values`` (None: any name, e.g. a metric check's values are its own config).

    Raises ``ValueError`` with the user-facing sentence for a state word or a value the kind
    cannot produce (``late`` on an http check, ``days_left`` on a postgres check), or an
    impossible threshold (``availability > 100%``, a duration against a count).
    """
    raise NotImplementedError("issue 4: alert expression resolution")
