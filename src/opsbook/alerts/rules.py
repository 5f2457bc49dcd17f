"""Alert rules: their verdicts, and the labels and annotations of the alerts they raise.

A verdict answers "does the ``when:`` hold?" from a check's latest result or its recent window:
True, False, or None for "no data" (the value is missing from the result, the window holds no
results, the value cannot be compared); no data never fires and never resolves. Each verdict
carries what was observed, as values for the alert's history and as words for its summary
(``p95 (2,340 ms) > 2,000 ms``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State, Value
from opsbook.checks.service import StoredResult
from opsbook.config import Config
from opsbook.config.alert_expr import (
    DEFAULT_WINDOWS,
    LATENCY_METRICS,
    PERCENT_METRICS,
    WINDOW_METRICS,
    AlertExpr,
)
from opsbook.config.alerts import AlertRule
from opsbook.config.templates import render
from opsbook.config.units import format_duration
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

Result = ProbeResult | StoredResult

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
# A heartbeat result's ``values["status"]`` (checks/heartbeats_monitor.py) past its period.
_LATE_STATUSES = frozenset({"late", "down"})
_INCLUSIVE = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``holds`` None means no data. ``observed`` is JSON, stored with the alert's events."""

    holds: bool | None
    text: str
    observed: Mapping[str, JSONValue] = field(default_factory=dict)


def uses_window(expr: AlertExpr) -> bool:
    """True when ``expr`` reads a window of stored results rather than one result."""
    return expr.metric in WINDOW_METRICS


def verdict(conn: Connection, expr: AlertExpr, *, result: Result | None, now: datetime) -> Verdict:
    """The verdict of ``expr``: from ``result`` for state words and per-result metrics, from the
    stored window ``[now - expr.window, now]`` for window metrics (``result`` is not needed)."""
    if expr.state is not None:
        return _state_verdict(expr, result)
    if expr.metric is None:  # pragma: no cover - AlertExpr holds a state or a metric
        raise ValueError(f"{expr.text!r} has neither a state nor a metric")
    if uses_window(expr):
        return _window_verdict(conn, expr, now=now)
    if result is None:
        return Verdict(None, "no result yet", {"check": expr.check})
    return _result_verdict(expr, result)


def _state_verdict(expr: AlertExpr, result: Result | None) -> Verdict:
    if result is None:
        return Verdict(None, "no result yet", {"check": expr.check})
    observed: dict[str, JSONValue] = {
        "check": result.check_id,
        "state": result.state.value,
        "latency_ms": result.latency_ms,
        "status": result.status,
        "error": result.error,
        "failed_conditions": list(result.failed_conditions),
        "values": dict(result.values),
    }
    if expr.state == "late":
        status = result.values.get("status")
        observed["heartbeat"] = status if isinstance(status, str) else None
        holds = status in _LATE_STATUSES
        return Verdict(holds, result.error or f"heartbeat {status or 'unknown'}", observed)
    if expr.state == "failing":
        holds = result.state is not State.UP
    else:
        holds = result.state.value == expr.state
    return Verdict(holds, _describe(result), observed)


def _describe(result: Result) -> str:
    """What a result showed, in the condition language's words: ``[STATUS] (500) == 200``."""
    if result.failed_conditions:
        return "; ".join(result.failed_conditions)
    if result.error:
        return result.error
    return result.state.value


def _result_verdict(expr: AlertExpr, result: Result) -> Verdict:
    metric = expr.metric or ""
    value: Value
    if metric == "latency":
        value = result.latency_ms
    elif metric == "status":
        value = result.status
    else:
        value = result.values.get(metric.removeprefix("value."))
    return _compare(expr, value, {"check": result.check_id, "values": dict(result.values)})


def _window_verdict(conn: Connection, expr: AlertExpr, *, now: datetime) -> Verdict:
    metric = expr.metric or ""
    length = expr.window or DEFAULT_WINDOWS[metric]
    # ``window`` reads [start, end); the minute holding ``now`` (the results just stored) counts.
    stats = service.window(conn, check_id=expr.check, start=now - length, end=now + _INCLUSIVE)
    observed: dict[str, JSONValue] = {
        "check": expr.check,
        "window_s": length.total_seconds(),
        "results": stats.n_results,
    }
    if stats.n_results == 0:
        return Verdict(None, f"no results in the last {format_duration(length)}", observed)
    by_metric: dict[str, float | None] = {
        "p50": stats.p50_ms,
        "p90": stats.p90_ms,
        "p95": stats.p95_ms,
        "p99": stats.p99_ms,
        "avg": stats.mean_ms,
        "availability": stats.availability,
        "error_rate": 100 * stats.n_down / stats.n_results,
    }
    return _compare(expr, by_metric[metric], observed)


def _compare(expr: AlertExpr, value: Value, observed: dict[str, JSONValue]) -> Verdict:
    metric = expr.metric or ""
    name = metric.removeprefix("value.")
    observed = {**observed, "metric": name, "value": value, "threshold": expr.threshold}
    if value is None:
        return Verdict(None, f"{name} was not measured", observed)
    op = expr.op or "=="
    left, right = _comparable(value, expr.threshold)
    if left is None or right is None:
        return Verdict(
            None,
            f"{name} ({_show(value, expr)}) cannot be compared with {_show(expr.threshold, expr)}",
            observed,
        )
    holds = _COMPARE[op](left, right)
    text = f"{name} ({_show(value, expr)}) {op} {_show(expr.threshold, expr)}"
    return Verdict(holds, text, observed)


def _comparable(
    value: Value, threshold: float | bool | str | None
) -> tuple[object | None, object | None]:
    """``value`` and ``threshold`` as two things Python can compare, or Nones if they differ in
    kind (a bool against a number, a word against a number)."""
    if isinstance(value, bool) or isinstance(threshold, bool):
        return (value, threshold) if type(value) is type(threshold) else (None, None)
    number = _number(value)
    limit = _number(threshold)
    if number is not None and limit is not None:
        return number, limit
    if isinstance(value, str) and isinstance(threshold, str):
        return value, threshold
    return None, None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _show(value: object, expr: AlertExpr) -> str:
    """``2340.4`` -> ``2,340 ms`` for latencies, ``99.95`` -> ``99.95%`` for percents, and a
    ratio compared with a percent (``payment_failure_ratio > 1%``, stored 0.01) as a percent."""
    number = _number(value) if not isinstance(value, str) else None
    if number is None:
        return str(value)
    metric = expr.metric or ""
    if metric in LATENCY_METRICS:
        return f"{_digits(number, whole=number >= 100)} ms"
    if metric in PERCENT_METRICS or (expr.percent and metric.endswith("_pct")):
        return f"{_digits(number)}%"
    if expr.percent:
        return f"{_digits(number * 100)}%"
    return _digits(number)


def _digits(number: float, *, whole: bool = False) -> str:
    if whole:
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


# -- what a rule's alert carries --------------------------------------------------------------


def rule_severity(config: Config, rule: AlertRule) -> str:
    """The rule's severity; without one, the least urgent configured (they are listed most
    urgent first: SEV1..SEV4)."""
    return rule.severity or list(config.severities)[-1]


def rule_labels(config: Config, name: str, rule: AlertRule, *, severity: str) -> dict[str, str]:
    """A check rule's alert labels: ``alertname``, ``severity``, ``check``, ``component`` (the
    first component listing the check, if any), then the check's labels and the rule's.

    For a Prometheus rule, only the rule's labels: each series adds its own (``series_labels``).
    """
    if rule.when is None:
        return dict(rule.labels)
    check_id = rule.when.check
    labels = {"alertname": name, "severity": severity, "check": check_id}
    component = next((c for c, spec in config.components.items() if check_id in spec.checks), None)
    if component is not None:
        labels["component"] = component
    spec = config.checks.get(check_id)
    if spec is not None:
        labels.update(spec.labels)
    labels.update(rule.labels)
    return labels


def series_labels(
    name: str, labels: Mapping[str, str], *, severity: str, series: Mapping[str, str]
) -> dict[str, str]:
    """A Prometheus rule's alert for one series, labelled as Prometheus' own alerting rules do:
    the series' labels without ``__name__``, then the rule's, then ``alertname``."""
    found = {k: v for k, v in series.items() if k != "__name__"}
    found.update(labels)
    found["alertname"] = name
    found["severity"] = severity
    return found


def sample_verdict(expr: str, series: Mapping[str, str], value: float) -> Verdict:
    """A series in a Prometheus answer: the expression holds for it (PromQL filters the rest)."""
    shown = ", ".join(f'{k}="{v}"' for k, v in sorted(series.items()))
    text = f"{expr} = {value:g}" + (f" for {{{shown}}}" if shown else "")
    return Verdict(True, text, {"value": value, "series": dict(series)})


def alert_annotations(
    name: str,
    rule: AlertRule,
    *,
    severity: str,
    found: Verdict,
    labels: Mapping[str, str],
    value: object,
    check_id: str | None,
) -> dict[str, str]:
    """``summary`` (the expression and what was observed) and ``runbook`` by default, then the
    rule's annotation templates rendered (see ``config.templates``).

    A template that fails on these values keeps its raw text and is logged: a broken
    annotation must not stop the alert.
    """
    expr = rule.when.text if rule.when is not None else name
    found_annotations = {"summary": f"{expr}: {found.text}"}
    if rule.runbook:
        found_annotations["runbook"] = rule.runbook
    variables: dict[str, object] = {
        "value": value,
        "values": found.observed.get("values") or {},
        "threshold": rule.when.threshold if rule.when is not None else None,
        "check": check_id or "",
        "rule": name,
        "labels": dict(labels),
        "severity": severity,
    }
    for key, template in rule.annotations.items():
        try:
            found_annotations[key] = render(template, variables)
        except ValueError as exc:
            log.warning("annotation_template_failed", rule=name, annotation=key, error=str(exc))
            found_annotations[key] = template
    return found_annotations
