"""What to do after a failed delivery: try again later, or give up (pure; STYLE.md R4).

Attempt n waits ``min(1s * 2**(n-1), 5m)`` times a random factor in [0.8, 1.2] (the jitter
spreads retries of one outage over time instead of sending them in one burst). A permanent
failure, or the tenth failed attempt, moves the notification to dead letters with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from opsbook.errors import DeliveryError

MAX_ATTEMPTS = 10
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
JITTER = (0.8, 1.2)


@dataclass(frozen=True, slots=True)
class Retry:
    due_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


def backoff(attempt: int, *, jitter: float) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based), scaled by ``jitter``."""
    exponent = min(max(attempt, 1) - 1, 20)
    return min(FIRST_DELAY * (1 << exponent), MAX_DELAY) * jitter


def after_failure(
    error: DeliveryError,
    *,
    attempts: int,
    now: datetime,
    jitter: float,
    retry_after: timedelta | None = None,
) -> Retry | GiveUp:
    """Decide the fate of a notification whose attempt number ``attempts`` failed with ``error``.

    ``retry_after`` (the receiver's ``Retry-After``) lengthens the wait, up to ``MAX_DELAY``;
    it never shortens it.
    """
    if error.permanent:
        return GiveUp(error.message)
    if attempts >= MAX_ATTEMPTS:
        return GiveUp(f"gave up after {attempts} attempts: {error.message}")
    wait = backoff(attempts, jitter=jitter)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_DELAY))
    return Retry(due_at=now + wait, error=error.message)
