"""The fault model of the demo service: what is broken right now, and how a payload changes it.

Pure: no I/O, no clock. ``set_faults`` (replace) and ``apply_faults`` (merge) validate a whole
payload before anything changes, so a bad request leaves the current faults exactly as they were
(STYLE.md R12).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any, Literal, TypeGuard

from opsbook.errors import InputError

DatabaseState = Literal["ok", "down"]

# Ten minutes is longer than any probe timeout worth staging; anything beyond is a typo.
MAX_LATENCY_MS = 600_000
# LiLove's pool: "max 10 connections"; its alert is "> 8/10 for 5min".
DB_POOL_MAX = 10
# A million a minute is an attack no demo needs; anything beyond is a typo.
MAX_PER_MIN = 1_000_000


@dataclass(frozen=True)
class Faults:
    """What the demo service does wrong. The defaults are a healthy service."""

    down: bool = False
    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int | None = None
    body: str | None = None
    queue_depth: int = 0
    dlq: int = 0
    database: DatabaseState = "ok"
    # Resources and business counters, at healthy levels by default (see docs/demo.md).
    memory_pct: float = 40.0
    disk_used_pct: float = 55.0
    db_connections: int = 3
    auth_failures_per_min: float = 0.0
    payment_failure_rate: float = 0.0
    api_latency_ms: float = 0.0
    db_latency_ms: float = 0.0

    @property
    def is_healthy(self) -> bool:
        return self == Faults()

    def to_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass in Python, but `true` is not a number in JSON.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{key} must be true or false, not {value!r}", field=key)
    return value


def _latency_ms(key: str, value: object) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise InputError(f"{key} must be a number of milliseconds, not {value!r}", field=key)
    latency = float(value)
    if not 0 <= latency <= MAX_LATENCY_MS:
        raise InputError(
            f"{key} must be between 0 and {MAX_LATENCY_MS} milliseconds, not {value!r}", field=key
        )
    return latency


def _fraction(key: str, value: object) -> float:
    if not _is_number(value) or not 0 <= float(value) <= 1:
        raise InputError(f"{key} must be a number from 0 to 1 (e.g. 0.2), not {value!r}", field=key)
    return float(value)


def _status(key: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
        raise InputError(f"{key} must be an HTTP status from 100 to 599, not {value!r}", field=key)
    return value


def _body(key: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(f"{key} must be a string (sent verbatim), not {value!r}", field=key)
    return value


def _count(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{key} must be a whole number >= 0, not {value!r}", field=key)
    return value


def _percent(key: str, value: object) -> float:
    if not _is_number(value) or not 0 <= float(value) <= 100:
        raise InputError(
            f"{key} must be a percentage from 0 to 100 (e.g. 90), not {value!r}", field=key
        )
    return float(value)


def _connections(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= DB_POOL_MAX:
        raise InputError(
            f"{key} must be a whole number of connections from 0 to {DB_POOL_MAX} "
            f"(the pool's size), not {value!r}",
            field=key,
        )
    return value


def _per_min(key: str, value: object) -> float:
    if not _is_number(value) or not 0 <= float(value) <= MAX_PER_MIN:
        raise InputError(
            f"{key} must be a number per minute from 0 to {MAX_PER_MIN}, not {value!r}", field=key
        )
    return float(value)


def _database(key: str, value: object) -> DatabaseState:
    if value == "ok":
        return "ok"
    if value == "down":
        return "down"
    raise InputError(f"{key} must be 'ok' or 'down', not {value!r}", field=key)


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "down": _bool,
    "latency_ms": _latency_ms,
    "error_rate": _fraction,
    "status": _status,
    "body": _body,
    "queue_depth": _count,
    "dlq": _count,
    "database": _database,
    "memory_pct": _percent,
    "disk_used_pct": _percent,
    "db_connections": _connections,
    "auth_failures_per_min": _per_min,
    "payment_failure_rate": _fraction,
    "api_latency_ms": _latency_ms,
    "db_latency_ms": _latency_ms,
}


def apply_faults(current: Faults, payload: object) -> Faults:
    """Return ``current`` with ``payload`` merged in (``PATCH /_faults``, RFC 7396 merge patch).

    A key set to ``null`` returns that one fault to its healthy default; keys left out keep
    their value, so ``{}`` changes nothing. Raises ``InputError`` naming the offending key
    (``field``) for a payload that is not an object, an unknown key, or a value of the wrong
    type or range; nothing is applied in that case.
    """
    if not isinstance(payload, Mapping):
        raise InputError('the fault payload must be a JSON object, e.g. {"down": true}', field="$")
    healthy = Faults()
    # Any: each value is checked by its key's own parser, which mypy cannot follow per key.
    changes: dict[str, Any] = {}
    for key, value in payload.items():
        parse = _PARSERS.get(key)
        if parse is None:
            known = ", ".join(_PARSERS)
            raise InputError(f"unknown fault {key!r} (known: {known})", field=str(key))
        changes[key] = getattr(healthy, key) if value is None else parse(key, value)
    return replace(current, **changes)


def set_faults(payload: object) -> Faults:
    """The faults ``payload`` describes, every other fault healthy (``POST /_faults``).

    Replacing rather than merging makes each call stage exactly what it says: the README's tour
    posts ``{"latency_ms": 3000}`` then ``{"error_rate": 0.2}``, and the second must not stay
    slow. ``{}`` is a healthy service. Raises ``InputError`` as ``apply_faults`` does.
    """
    return apply_faults(Faults(), payload)


class ErrorSampler:
    """Decides which requests fail so that exactly ``rate`` of them do, with no randomness.

    Request ``n`` (1-based) fails when ``floor(n * rate)`` steps up, so 100 requests at 0.2 give
    exactly 20 failures, evenly spread. The rate is read as the decimal the user typed (``0.2`` is
    1/5, not the nearest binary float), which keeps the count exact.
    """

    def __init__(self, rate: float = 0.0) -> None:
        self._rate = Fraction(str(rate))
        self._seen = 0

    @property
    def rate(self) -> float:
        return float(self._rate)

    def should_fail(self) -> bool:
        """Count one request and say whether it must fail."""
        return self.failures(1) == 1

    def failures(self, count: int) -> int:
        """Count ``count`` more requests and say how many of them fail."""
        before = math.floor(self._seen * self._rate)
        self._seen += count
        return math.floor(self._seen * self._rate) - before
