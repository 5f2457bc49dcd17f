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
(``99.9%`` -> 99.9), ``true``/``false`` to bools; ``resolve`` then divides a percent by 100
when it is compared with a metric check's ratio value (a fraction). Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeAlias, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from opsbook.config.checks import REDIS_VALUES, CheckSpec
from opsbook.config.units import parse_duration

Comparison: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
StateWord: TypeAlias = Literal["down", "up", "degraded", "failing", "late"]
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
STATE_WORDS: tuple[StateWord, ...] = get_args(StateWord)
HEARTBEAT_STATES: tuple[StateWord, ...] = ("down", "up", "late", "failing")

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


_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_VALUE_NAME = re.compile(r"(?:value\.)?[A-Za-z_][A-Za-z0-9_-]*")
# A run of operator characters, possibly split by spaces ("= =", "=<", ">").
_BARE_OPERATOR = re.compile(r"[=!<>]+(?:\s+[=!<>]+)*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)%")
_STATES_TEXT = "down, up, degraded, failing, late"
_METRIC_HINT = f"use {_STATES_TEXT}, or a metric such as p95 > 2s"


_EXAMPLES = {
    **{m: "> 2s" for m in LATENCY_METRICS},
    "availability": "< 99.9%",
    "error_rate": "> 5%",
    "status": ">= 500",
}


def parse_alert_expr(text: str) -> AlertExpr:
    """Parse one ``when:``; raises ``ValueError`` with the whole user-facing sentence.

    Checks only the shape (a check id, a known state word or a metric, an operator, a threshold
    of the right unit for a builtin metric). Whether the check exists and measures the value is
    decided in ``Config``, which sees the checks.
    """
    source = " ".join(text.split())
    if not source:
        raise ValueError("the expression is empty (write e.g. 'api down' or 'api p95 > 2s')")
    try:
        return _parse(source)
    except ValueError as exc:
        raise ValueError(f"{source!r}: {exc}") from None


def _parse(source: str) -> AlertExpr:
    check, *rest = source.split(" ")
    if "for" in rest:
        at = rest.index("for")
        before = " ".join([check, *rest[:at]])
        after = " ".join(rest[at + 1 :]) or "10m"
        if _valid(before) is None:
            # The part before 'for' is wrong too; say so once it stands on its own.
            raise ValueError(f"'for' is a key of its own: move it to for: {after!r}")
        raise ValueError(f"'for' is a key of its own: write when: {before!r} and for: {after!r}")
    ops = [i for i, word in enumerate(rest) if word in COMPARISONS]
    if not ops:
        spacing = _spacing_problem(source)
        if spacing:
            raise ValueError(spacing)
    if not _SLUG.fullmatch(check):
        raise ValueError(
            f"{check!r} is not a check id (use the id from checks:, lowercase letters, digits, "
            "'-' and '_', e.g. api-health)"
        )
    if not ops:
        return _state(source, check, rest)
    if len(ops) > 1:
        raise ValueError(
            f"it has {len(ops)} operators; an expression compares one metric with one threshold "
            "(write one rule per comparison)"
        )
    at = ops[0]
    op = next(c for c in COMPARISONS if c == rest[at])
    if at == 0:
        raise ValueError(f"nothing before {op!r}: name a metric (e.g. '{check} p95 > 2s')")
    if at > 1:
        raise ValueError(
            f"{' '.join(rest[:at])!r} is not a metric (name one, e.g. p95, error_rate or "
            "value.depth)"
        )
    metric = _metric(rest[0], check)
    if at + 1 == len(rest):
        raise ValueError(f"nothing after {op!r}: write a threshold (e.g. '{check} p95 > 2s')")
    threshold, percent = _threshold(metric, op, rest[at + 1])
    window = _window(metric, rest[at + 2 :])
    return AlertExpr(
        source,
        check,
        metric=metric,
        op=op,
        threshold=threshold,
        window=window,
        percent=percent,
    )


def _spacing_problem(source: str) -> str | None:
    match = _BARE_OPERATOR.search(source)
    if match is None:
        return None
    written = match.group()
    op = "".join(written.split())  # "= =" is "==" typed with a space
    before, after = source[: match.start()].strip(), source[match.end() :].strip()
    fixed_op = {"=": "==", "===": "==", "=<": "<=", "=>": ">=", "=!": "!=", "<>": "!="}.get(op, op)
    fixed = _valid(f"{before} {fixed_op} {after}") if fixed_op in COMPARISONS else None
    write = f"; write {fixed!r}" if fixed else ""
    if op not in COMPARISONS or written != op:
        return f"{written!r} is not an operator{write or ' (use ==, !=, <, <=, > or >=)'}"
    if not after:
        return f"nothing after {op!r}: write a threshold (e.g. 'api p95 > 2s')"
    lead = f"put a space on each side of {op!r}"
    return f"{lead}: write {fixed!r}" if fixed else lead


def _valid(candidate: str) -> str | None:
    """``candidate`` if it parses: a correction that is refused in turn would only mislead."""
    try:
        _parse(candidate)
    except ValueError:
        return None
    return candidate


def _state(source: str, check: str, rest: list[str]) -> AlertExpr:
    if not rest:
        raise ValueError(
            f"{check!r} names a check but no state or comparison "
            f"(write e.g. '{check} down' or '{check} p95 > 2s')"
        )
    word = rest[0]
    if word in STATE_WORDS:
        if len(rest) > 1:
            raise ValueError(
                f"unexpected {' '.join(rest[1:])!r} after {word!r} "
                f"(a state is written alone, e.g. '{check} {word}')"
            )
        return AlertExpr(source, check, state=word)
    if word in BUILTIN_METRICS or word.startswith("value."):
        example = f"{check} {word} {_EXAMPLES.get(word, '> 10')}"
        raise ValueError(f"{word!r} needs a comparison (write e.g. {example!r})")
    raise ValueError(f"{word!r} is not a state or a metric ({_METRIC_HINT})")


def _metric(word: str, check: str) -> str:
    if word in STATE_WORDS:
        raise ValueError(f"{word!r} is a state, not a metric: write '{check} {word}'")
    if word in BUILTIN_METRICS:
        return word
    if not _VALUE_NAME.fullmatch(word) or word == "value.":
        raise ValueError(f"{word!r} is not a state or a metric ({_METRIC_HINT})")
    return word


def _threshold(metric: str, op: Comparison, word: str) -> tuple[float | bool, bool]:
    """The threshold as stored (milliseconds, 0-100 percents, numbers, bools) and whether it
    was written with ``%``."""
    if metric in LATENCY_METRICS:
        try:
            # A bare number is milliseconds, as in Gatus' [RESPONSE_TIME].
            millis = (
                float(word)
                if _NUMBER.fullmatch(word)
                else parse_duration(word) / timedelta(milliseconds=1)
            )
        except ValueError:
            raise ValueError(
                f"{word!r} is not a duration ({metric} is a latency: use e.g. 2s or 500ms)"
            ) from None
        _bounds(metric, op, millis, low=0.0, high=None, shown=word)
        return millis, False
    if metric in PERCENT_METRICS:
        match = _PERCENT.fullmatch(word)
        if match is None:
            raise ValueError(f"{word!r} is not a percentage ({metric} is a share: use e.g. 5%)")
        value = float(match.group(1))
        _bounds(metric, op, value, low=0.0, high=100.0, shown=word)
        return value, True
    if metric == "status":
        if not _NUMBER.fullmatch(word) or not 100 <= float(word) <= 599 or "." in word:
            raise ValueError(f"{word!r} is not an HTTP status (use a number from 100 to 599)")
        return float(word), False
    return _value_threshold(metric, op, word)


def _value_threshold(metric: str, op: Comparison, word: str) -> tuple[float | bool, bool]:
    name = metric.removeprefix("value.")
    if word in ("true", "false"):
        if op not in ("==", "!="):
            raise ValueError(f"{word} compares only with == or != (write '{name} == {word}')")
        return word == "true", False
    if _NUMBER.fullmatch(word):
        return float(word), False
    match = _PERCENT.fullmatch(word)
    if match is not None:
        value = float(match.group(1))
        _bounds(name, op, value, low=0.0, high=100.0, shown=word)
        return value, True
    try:
        seconds = parse_duration(word).total_seconds()
    except ValueError:
        raise ValueError(
            f"{word!r} is not a threshold (use a number, a percentage such as 80%, true or false)"
        ) from None
    if name.endswith("_s"):
        raise ValueError(f"{name} is in seconds: write {seconds:g} instead of {word!r}")
    raise ValueError(
        f"{word!r} is a duration, but {name} is a number (only the latency metrics "
        f"{', '.join(LATENCY_METRICS)} take durations)"
    )


def _bounds(
    name: str, op: Comparison, value: float, *, low: float, high: float | None, shown: str
) -> None:
    """Refuse a threshold outside ``[low, high]`` and comparisons that can never be true or
    are always true there (``availability > 100%``, ``error_rate >= 0%``)."""
    unit = "%" if shown.endswith("%") else ""
    if high is None:
        span = f"{name} is never negative"
    else:
        span = f"{name} is between {low:g}{unit} and {high:g}{unit}"
    if value < low or (high is not None and value > high):
        raise ValueError(f"{shown!r} is out of range ({span})")
    never = (op == ">" and value == high) or (op == "<" and value == low)
    always = (op == ">=" and value == low) or (op == "<=" and value == high)
    if never or always:
        verdict = "can never be true" if never else "is always true"
        raise ValueError(f"{name} {op} {shown} {verdict} ({span})")


def _window(metric: str, tail: list[str]) -> timedelta | None:
    if not tail:
        return DEFAULT_WINDOWS.get(metric)
    if tail[0] != "over":
        raise ValueError(
            f"unexpected {' '.join(tail)!r} after the threshold (to set a window write 'over 10m')"
        )
    if metric not in WINDOW_METRICS:
        raise ValueError(
            f"'over' sets a window, and {metric} has none (windows go with "
            f"{', '.join(WINDOW_METRICS)})"
        )
    if len(tail) != 2:
        raise ValueError("'over' takes one duration (e.g. over 10m)")
    try:
        window = parse_duration(tail[1])
    except ValueError:
        raise ValueError(f"{tail[1]!r} is not a window (use e.g. over 10m or over 1h)") from None
    if window <= timedelta():
        raise ValueError("the window must be longer than 0s")
    return window


POSTGRES_VALUES = (
    "connections_used",
    "connections_max",
    "connections_pct",
    "longest_query_s",
    "idle_in_transaction",
    "replication_lag_s",
)
TLS_VALUES = ("days_left", "hostname_match", "chain_valid")
COMMAND_VALUES = ("exit_code",)
BOOLEAN_VALUES = frozenset({"hostname_match", "chain_valid"})
"""Values that are true or false (tls); every other value is a number."""
_NO_STATUS = tuple(m for m in BUILTIN_METRICS if m != "status")
_KIND_METRICS: dict[str, tuple[str, ...]] = {"http": BUILTIN_METRICS, "heartbeat": ()}


def kind_metrics(kind: str) -> tuple[str, ...]:
    """The builtin metrics a check of ``kind`` has: all for http, none for heartbeat (it is
    pinged, not probed), all but ``status`` for the rest."""
    return _KIND_METRICS.get(kind, _NO_STATUS)


def measured_values(spec: CheckSpec) -> frozenset[str]:
    """The names ``value.<name>`` can take for ``spec``: fixed per kind, plus a redis check's
    queue names and a metric check's configured values."""
    if spec.postgres is not None:
        return frozenset(POSTGRES_VALUES)
    if spec.redis is not None:
        return frozenset((*REDIS_VALUES, *spec.redis.queues))
    if spec.tls is not None:
        return frozenset(TLS_VALUES)
    if spec.metric is not None:
        return frozenset(spec.metric.values)
    if spec.command is not None:
        return frozenset(COMMAND_VALUES)
    return frozenset()


def fraction_values(spec: CheckSpec) -> frozenset[str]:
    """Values that are fractions between 0 and 1 (a metric check's ``ratio`` and ``fraction``
    values): a ``1%`` threshold against them is stored as 0.01."""
    if spec.metric is None:
        return frozenset()
    return frozenset(
        name for name, value in spec.metric.values.items() if value.ratio or value.fraction
    )


def resolve(
    expr: AlertExpr,
    *,
    kind: str,
    values: frozenset[str] | None,
    fractions: frozenset[str] = frozenset(),
) -> AlertExpr:
    """``expr`` with a bare value name rewritten to ``value.<name>`` for a check of ``kind``
    measuring ``values`` (None: any name, e.g. a metric check's values are its own config).

    ``fractions`` are values between 0 and 1: a percent threshold against one is divided by
    100. The result is computed from ``expr.text``, so resolving twice gives the same answer.

    Raises ``ValueError`` with the user-facing sentence for a state word or a value the kind
    cannot produce (``late`` on an http check, ``days_left`` on a postgres check), or an
    impossible threshold (``availability > 100%``, a duration against a count).
    """
    try:
        source = parse_alert_expr(expr.text)
    except ValueError:
        source = expr
    try:
        return _resolve(source, kind=kind, values=values, fractions=fractions)
    except ValueError as exc:
        raise ValueError(f"{expr.text!r}: {exc}") from None


_BUILTIN_MEANING = {
    "latency": "latest response time",
    "p50": "median response time",
    "p90": "90th percentile response time",
    "p95": "95th percentile response time",
    "p99": "99th percentile response time",
    "avg": "mean response time",
    "availability": "share of time up",
    "error_rate": "share of failed probes",
    "status": "HTTP status",
}


def _a(kind: str) -> str:
    return f"an {kind}" if kind == "http" else f"a {kind}"


def _resolve(
    expr: AlertExpr, *, kind: str, values: frozenset[str] | None, fractions: frozenset[str]
) -> AlertExpr:
    if expr.state is not None:
        if kind == "heartbeat" and expr.state not in HEARTBEAT_STATES:
            raise ValueError(
                f"a heartbeat check is up, late or down, never {expr.state} "
                f"(use {', '.join(HEARTBEAT_STATES)})"
            )
        if kind != "heartbeat" and expr.state == "late":
            raise ValueError(
                f"'late' is only for heartbeat checks; {expr.check} is {_a(kind)} check "
                "(use down, up, degraded or failing)"
            )
        return expr
    metric = expr.metric or ""
    if kind == "heartbeat":
        raise ValueError(
            f"a heartbeat check measures no metrics, it is only pinged "
            f"(use a state: {', '.join(HEARTBEAT_STATES)}, e.g. '{expr.check} late')"
        )
    if metric in BUILTIN_METRICS:
        if values is not None and metric in values:
            # The check measures a value of the same name: saying which one is meant is cheaper
            # than an alert that silently watches the other.
            raise ValueError(
                f"{metric} is ambiguous: {expr.check} measures a value named {metric} and "
                f"{metric} is also opsbook's own {_BUILTIN_MEANING[metric]}; write "
                f"'value.{metric}' for the check's value"
            )
        if metric not in kind_metrics(kind):
            raise ValueError(
                f"{metric} is the HTTP status and {expr.check} is {_a(kind)} check "
                f"({_measures(kind, values)})"
            )
        return expr
    name = _value_name(expr, metric, kind=kind, values=values)
    threshold = _typed_threshold(expr, name, fractions=fractions)
    return dataclasses.replace(expr, metric=f"value.{name}", threshold=threshold)


def _value_name(expr: AlertExpr, metric: str, *, kind: str, values: frozenset[str] | None) -> str:
    name = metric.removeprefix("value.")
    if values is None or name in values:
        return name
    explicit = metric.startswith("value.")
    if not explicit and expr.percent and f"{name}_pct" in values:
        return f"{name}_pct"
    close = difflib.get_close_matches(name, sorted(values), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ValueError(f"{_measures(kind, values)}, not {name!r}{hint}")


def _measures(kind: str, values: frozenset[str] | None) -> str:
    builtins = ", ".join(kind_metrics(kind))
    if not values:
        if kind == "metric":
            return f"a metric check measures {builtins} and the values under its metric.values"
        return f"{_a(kind)} check measures {builtins}"
    ordered = [
        v for v in (*POSTGRES_VALUES, *TLS_VALUES, *COMMAND_VALUES, *REDIS_VALUES) if v in values
    ]
    ordered += sorted(values - set(ordered))
    return f"{_a(kind)} check measures {', '.join(ordered)} (and {builtins})"


def _typed_threshold(
    expr: AlertExpr, name: str, *, fractions: frozenset[str]
) -> float | bool | str | None:
    threshold = expr.threshold
    op = expr.op or "=="
    if name in BOOLEAN_VALUES and not isinstance(threshold, bool):
        raise ValueError(f"{name} is true or false (write '{expr.check} {name} == false')")
    if isinstance(threshold, bool):
        if name not in BOOLEAN_VALUES:
            raise ValueError(f"{name} is a number, not true or false")
        return threshold
    if not isinstance(threshold, float):
        return threshold
    if name in fractions:
        if expr.percent:
            return threshold / 100
        _bounds(name, op, threshold, low=0.0, high=1.0, shown=f"{threshold:g}")
        return threshold
    if name.endswith("_pct"):
        shown = f"{threshold:g}" + ("%" if expr.percent else "")
        _bounds(name, op, threshold, low=0.0, high=100.0, shown=shown)
        return threshold
    if expr.percent:
        raise ValueError(
            f"{name} is not a percentage (drop the % and compare a number, or compare a "
            "value ending in _pct)"
        )
    return threshold
