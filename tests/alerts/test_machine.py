"""The alert lifecycle as a pure function: table tests of every step, then whole sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.alerts.machine import Change, Episode, Policy, Step, step, tick
from opsbook.alerts.models import AlertStatus
from opsbook.config.alerts import Flapping, ForSpec

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
s = timedelta(seconds=1)
m = timedelta(minutes=1)

PENDING = AlertStatus.PENDING
FIRING = AlertStatus.FIRING
RESOLVED = AlertStatus.RESOLVED
INACTIVE = AlertStatus.INACTIVE

IMMEDIATE = Policy(for_=ForSpec(failures=1), resolve_after=2)
THREE = Policy(for_=ForSpec(failures=3), resolve_after=2)
TEN_MINUTES = Policy(for_=ForSpec(duration=10 * m), resolve_after=2)
ZERO_DURATION = Policy(for_=ForSpec(duration=timedelta()), resolve_after=2)
KEEP = Policy(for_=ForSpec(failures=1), resolve_after=2, keep_firing_for=5 * m)
ONE = Policy(for_=ForSpec(failures=1), resolve_after=1)
FLAPPY = Policy(
    for_=ForSpec(failures=1),
    resolve_after=1,
    flapping=Flapping(transitions=4, window=timedelta(hours=1)),
)


def pending(true_count: int = 1, started_at: datetime = T0) -> Episode:
    return Episode(status=PENDING, started_at=started_at, true_count=true_count)


def firing(
    false_count: int = 0, false_since: datetime | None = None, *, flapping: bool = False
) -> Episode:
    return Episode(
        status=FIRING,
        started_at=T0,
        true_count=3,
        false_count=false_count,
        false_since=false_since,
        flapping=flapping,
    )


@pytest.mark.parametrize(
    ("current", "verdict", "at", "policy", "change", "to", "after"),
    [
        # No episode: false or no data changes nothing; true opens one.
        (None, False, T0, THREE, Change.NONE, None, None),
        (None, None, T0, THREE, Change.NONE, None, None),
        (None, True, T0, THREE, Change.OPEN, PENDING, pending(1)),
        (None, True, T0, TEN_MINUTES, Change.OPEN, PENDING, pending(1)),
        # ... and fires at once when `for` is already met.
        (None, True, T0, IMMEDIATE, Change.OPEN, FIRING, Episode(FIRING, T0, 1)),
        (None, True, T0, ZERO_DURATION, Change.OPEN, FIRING, Episode(FIRING, T0, 1)),
        # Pending: counts true evaluations and fires at the count or the duration.
        (pending(1), True, T0 + s, THREE, Change.COUNT, None, pending(2)),
        (pending(2), True, T0 + 2 * s, THREE, Change.FIRE, FIRING, Episode(FIRING, T0, 3)),
        (pending(1), True, T0 + 9 * m, TEN_MINUTES, Change.COUNT, None, pending(2)),
        (pending(1), True, T0 + 10 * m, TEN_MINUTES, Change.FIRE, FIRING, Episode(FIRING, T0, 2)),
        # Pending and false: the episode closes without firing.
        (pending(2), False, T0 + s, THREE, Change.INACTIVE, INACTIVE, None),
        (pending(1), False, T0 + 9 * m, TEN_MINUTES, Change.INACTIVE, INACTIVE, None),
        # Pending and no data: nothing.
        (pending(2), None, T0 + s, THREE, Change.NONE, None, pending(2)),
        # Firing and true: a false streak is forgotten; no streak means nothing to write.
        (firing(), True, T0 + m, THREE, Change.NONE, None, firing()),
        (firing(1, T0), True, T0 + m, THREE, Change.COUNT, None, firing()),
        # Firing and false: counted; resolved at resolve_after.
        (firing(), False, T0 + m, THREE, Change.COUNT, None, firing(1, T0 + m)),
        (firing(1, T0), False, T0 + m, THREE, Change.RESOLVE, RESOLVED, None),
        (firing(), False, T0 + m, ONE, Change.RESOLVE, RESOLVED, None),
        # ... and not before keep_firing_for has passed since it went false.
        (firing(1, T0), False, T0 + m, KEEP, Change.COUNT, None, firing(2, T0)),
        (firing(4, T0), False, T0 + 5 * m, KEEP, Change.RESOLVE, RESOLVED, None),
        # Firing and no data: nothing, neither resolve nor reset.
        (firing(1, T0), None, T0 + m, THREE, Change.NONE, None, firing(1, T0)),
        # Flapping: resolve_after does not apply, only a whole window of false.
        (firing(flapping=True), False, T0, FLAPPY, Change.COUNT, None, None),
        (firing(5, T0, flapping=True), False, T0 + 59 * m, FLAPPY, Change.COUNT, None, None),
        (firing(5, T0, flapping=True), False, T0 + 60 * m, FLAPPY, Change.RESOLVE, RESOLVED, None),
    ],
)
def test_step(
    current: Episode | None,
    verdict: bool | None,
    at: datetime,
    policy: Policy,
    change: Change,
    to: AlertStatus | None,
    after: Episode | None,
) -> None:
    result = step(current, verdict, at, policy)
    assert result.change is change
    assert result.to is to
    if after is not None:
        assert result.episode == after
    if change in (Change.INACTIVE, Change.RESOLVE):
        assert result.episode is None


@pytest.mark.parametrize(
    ("current", "at", "policy", "change"),
    [
        (None, T0 + m, TEN_MINUTES, Change.NONE),
        # A pending duration that ran out fires without a new evaluation.
        (pending(1), T0 + 9 * m, TEN_MINUTES, Change.NONE),
        (pending(1), T0 + 10 * m, TEN_MINUTES, Change.FIRE),
        # A count is only met by evaluations, never by time.
        (pending(2), T0 + 10 * m, THREE, Change.NONE),
        # A firing alert resolves on time only once it was false often enough.
        (firing(), T0 + 10 * m, KEEP, Change.NONE),
        (firing(1, T0), T0 + 10 * m, KEEP, Change.NONE),
        (firing(2, T0), T0 + 4 * m, KEEP, Change.NONE),
        (firing(2, T0), T0 + 5 * m, KEEP, Change.RESOLVE),
        (firing(1, T0, flapping=True), T0 + 59 * m, FLAPPY, Change.NONE),
        (firing(1, T0, flapping=True), T0 + 60 * m, FLAPPY, Change.RESOLVE),
    ],
)
def test_tick(current: Episode | None, at: datetime, policy: Policy, change: Change) -> None:
    assert tick(current, at, policy).change is change


def run(
    verdicts: list[bool | None], policy: Policy, every: timedelta = 30 * s
) -> tuple[list[Step], Episode | None]:
    """Feed ``verdicts`` one ``every`` apart; the steps and the episode at the end."""
    episode: Episode | None = None
    steps = []
    for i, verdict in enumerate(verdicts):
        result = step(episode, verdict, T0 + i * every, policy)
        steps.append(result)
        episode = result.episode
    return steps, episode


def test_one_good_probe_does_not_end_an_outage() -> None:
    steps, episode = run([True, True, True, False, True], THREE)
    assert [x.to for x in steps] == [PENDING, None, FIRING, None, None]
    assert episode == Episode(FIRING, T0, 3)
    assert all(x.change is not Change.OPEN for x in steps[1:])


def test_three_failures_fire_on_the_third_and_two_successes_resolve() -> None:
    steps, episode = run([True, True, True, False, False], THREE)
    assert [x.to for x in steps] == [PENDING, None, FIRING, None, RESOLVED]
    assert steps[2].reason == "3 failures"
    assert steps[4].reason == "clear 2 times in a row"
    assert episode is None


def test_a_break_in_the_failures_starts_the_count_again() -> None:
    steps, episode = run([True, True, False, True, True], THREE)
    assert [x.change for x in steps] == [
        Change.OPEN,
        Change.COUNT,
        Change.INACTIVE,
        Change.OPEN,
        Change.COUNT,
    ]
    assert episode == pending(2, started_at=T0 + 3 * 30 * s)


def test_missing_data_neither_fires_nor_resolves() -> None:
    steps, episode = run([True, None, True, None, True], THREE)
    assert [x.to for x in steps] == [PENDING, None, None, None, FIRING]
    steps, episode = run([True, True, True, False, None, None], THREE)
    assert episode is not None and episode.false_count == 1


def test_keep_firing_for_holds_the_alert_after_enough_successes() -> None:
    policy = Policy(for_=ForSpec(failures=1), resolve_after=2, keep_firing_for=2 * m)
    steps, _ = run([True, False, False, False, False, False], policy)
    # False from +30s; two falses at +60s, but resolved only 2m after +30s.
    assert [x.to for x in steps] == [FIRING, None, None, None, None, RESOLVED]
    assert steps[-1].reason == "clear 5 times in a row and for 2m"


@pytest.mark.parametrize(
    ("recent", "flapping"),
    [(0, False), (3, False), (4, True), (9, True)],
)
def test_it_fires_as_flapping_after_enough_transitions(recent: int, flapping: bool) -> None:
    opened = step(None, True, T0, FLAPPY, recent_transitions=recent)
    assert opened.to is FIRING
    assert opened.starts_flapping is flapping
    fired = step(pending(), True, T0, THREE, recent_transitions=recent)
    assert fired.change is Change.COUNT  # not due: transitions never fire a pending alert
    if flapping:
        assert opened.reason == f"flapping: {recent} transitions in 1h"


def test_a_flapping_alert_resolves_only_after_a_window_of_calm() -> None:
    opened = step(None, True, T0, FLAPPY, recent_transitions=4)
    episode = opened.episode
    assert episode is not None and episode.flapping
    at = T0
    for verdict in [False, True, False, False]:
        at += 10 * m
        result = step(episode, verdict, at, FLAPPY)
        assert result.to is None
        episode = result.episode
    assert episode is not None and episode.false_since == T0 + 30 * m
    assert tick(episode, T0 + 89 * m, FLAPPY).to is None
    calm = tick(episode, T0 + 90 * m, FLAPPY)
    assert calm.to is RESOLVED
    assert calm.stable
    assert calm.reason == "stable: false for 1h"


def test_a_pending_duration_is_measured_from_the_first_true() -> None:
    steps, _ = run([True, True, True], TEN_MINUTES, every=5 * m)
    assert [x.to for x in steps] == [PENDING, None, FIRING]
    assert steps[2].reason == "true for 10m"
