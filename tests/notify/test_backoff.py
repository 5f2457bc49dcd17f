"""Retry policy: exponential backoff with jitter, capped; permanent or tenth failures give up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_helpers import T0

from opsbook.errors import DeliveryError
from opsbook.notify.retry import GiveUp, Retry, after_failure, backoff

S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("attempt", "jitter", "wait"),
    [
        (1, 1.0, 1 * S),
        (2, 1.0, 2 * S),
        (3, 1.0, 4 * S),
        (9, 1.0, 256 * S),
        (10, 1.0, 300 * S),
        (40, 1.0, 300 * S),
        (1, 0.8, 0.8 * S),
        (3, 1.2, 4.8 * S),
        (12, 1.2, 360 * S),
    ],
)
def test_attempt_n_waits_twice_as_long_as_the_one_before_up_to_five_minutes(
    attempt: int, jitter: float, wait: timedelta
) -> None:
    assert backoff(attempt, jitter=jitter) == wait


def test_a_transient_failure_is_retried_at_the_backoff_time() -> None:
    decision = after_failure(DeliveryError("answered 503"), attempts=2, now=T0, jitter=1.0)
    assert decision == Retry(due_at=T0 + 2 * S, error="answered 503")


def test_a_permanent_failure_gives_up_at_once_with_the_reason() -> None:
    error = DeliveryError("answered 404 Not Found", permanent=True)
    assert after_failure(error, attempts=1, now=T0, jitter=1.0) == GiveUp("answered 404 Not Found")


def test_the_tenth_failure_gives_up_and_says_why() -> None:
    decision = after_failure(DeliveryError("answered 500"), attempts=10, now=T0, jitter=1.0)
    assert decision == GiveUp("gave up after 10 attempts: answered 500")
    assert isinstance(after_failure(DeliveryError("x"), attempts=9, now=T0, jitter=1.0), Retry)


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, 1 * S), (30 * S, 30 * S), (timedelta(hours=2), 300 * S), (0 * S, 1 * S)],
)
def test_retry_after_lengthens_the_wait_up_to_the_cap_and_never_shortens_it(
    retry_after: timedelta | None, wait: timedelta
) -> None:
    decision = after_failure(
        DeliveryError("answered 429"), attempts=1, now=T0, jitter=1.0, retry_after=retry_after
    )
    assert decision == Retry(due_at=T0 + wait, error="answered 429")
