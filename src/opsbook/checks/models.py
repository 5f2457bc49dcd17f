"""What a probe sees and what opsbook concludes from it. Plain data; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from opsbook.config import CheckSpec

Value: TypeAlias = float | int | str | bool | None

BODY_LIMIT_BYTES = 64 * 1024
"""Bodies are kept up to this size; enough for any health JSON, bounded for storage."""


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Check:
    """A configured check: its id and its validated spec."""

    id: str
    spec: CheckSpec


@dataclass(frozen=True, slots=True)
class Observation:
    """What one probe saw, before conditions judge it.

    ``error`` is set when the probe could not get an answer at all, in words that say what failed
    (``connect to 10.0.0.5:5432 timed out after 5s``, never ``TimeoutError()``); such a probe is
    down whatever the conditions say. Fields a kind does not measure stay ``None``.
    """

    latency_ms: float
    connected: bool
    error: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    ip: str | None = None
    certificate_expires_at: datetime | None = None
    dns_rcode: str | None = None
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    """Latency broken down by phase: ``dns``, ``connect``, ``tls``, ``first_byte``."""
    values: Mapping[str, Value] = field(default_factory=dict)
    """Named values a kind measures (``connections_pct``, ``depth``, ``days_left``, ...)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome: the observation, judged. This is what the store keeps."""

    check_id: str
    started_at: datetime
    state: State
    latency_ms: float
    error: str | None = None
    failed_conditions: tuple[str, ...] = ()
    """Each failed condition rendered with resolved values: ``[STATUS] (500) == 200``."""
    status: int | None = None
    values: Mapping[str, Value] = field(default_factory=dict)
    timings_ms: Mapping[str, float] = field(default_factory=dict)
