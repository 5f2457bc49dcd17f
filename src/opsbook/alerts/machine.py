"""The lifecycle of one rule alert, as a pure function: no store, no clock (STYLE.md R4).

An episode opens ``pending`` when the rule's expression first holds, fires once ``for`` is met
(a number of consecutive true evaluations, or a duration), and resolves after ``resolve_after``
false evaluations in a row, and not before ``keep_firing_for`` has passed since it went false.
A pending episode whose expression goes false closes ``inactive``: it never fired.

An episode that fires while its fingerprint has changed state ``flapping.transitions`` times
within ``flapping.window`` fires as *flapping*: one notification instead of a storm. It resolves
only after the expression has been false for a whole ``flapping.window``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from opsbook.alerts.models import AlertStatus
from opsbook.config.alerts import Flapping, ForSpec
from opsbook.config.units import format_duration


@dataclass(frozen=True, slots=True)
class Policy:
    """What a rule asks of the lifecycle (the rule's settings with the ``alerting:`` defaults)."""

    for_: ForSpec
    resolve_after: int
    keep_firing_for: timedelta = timedelta()
    flapping: Flapping = field(default_factory=Flapping)


@dataclass(frozen=True, slots=True)
class Episode:
    """The lifecycle part of an open alert row: ``status`` is pending or firing.

    ``true_count`` counts consecutive true evaluations while pending; ``false_count`` and
    ``false_since`` count the false ones while firing (a true one resets them).
    """

    status: AlertStatus
    started_at: datetime
    true_count: int = 1
    false_count: int = 0
    false_since: datetime | None = None
    flapping: bool = False


class Change(StrEnum):
    NONE = "none"
    COUNT = "count"
    """Only the counters changed; the status stays (no event needed)."""
    OPEN = "open"
    """A new episode; its status (pending or firing) is the step's ``episode.status``."""
    FIRE = "fire"
    INACTIVE = "inactive"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Step:
    """What to write after one evaluation.

    ``episode`` is the episode after the step; None when it closed or none is open. ``reason``
    says which part of the policy decided it (``3 failures``, ``clear 2 times in a row``), for
    the event message. ``stable`` marks the resolve of a flapping episode after a window of calm.
    """

    change: Change
    episode: Episode | None
    reason: str = ""
    stable: bool = False

    @property
    def to(self) -> AlertStatus | None:
        """The status the alert moves to, or None when its status stays."""
        if self.change is Change.OPEN and self.episode is not None:
            return self.episode.status
        return _TARGET.get(self.change)

    @property
    def starts_flapping(self) -> bool:
        return self.to is AlertStatus.FIRING and self.episode is not None and self.episode.flapping


_TARGET = {
    Change.FIRE: AlertStatus.FIRING,
    Change.INACTIVE: AlertStatus.INACTIVE,
    Change.RESOLVE: AlertStatus.RESOLVED,
}
NOTHING = Step(Change.NONE, None)


def step(
    current: Episode | None,
    verdict: bool | None,
    at: datetime,
    policy: Policy,
    *,
    recent_transitions: int = 0,
) -> Step:
    """The step after one evaluation at ``at`` whose expression is ``verdict``.

    ``verdict`` None means no data (a value missing, an empty window, a failed query): nothing
    changes, as one missing sample must neither fire nor resolve an alert. ``recent_transitions``
    is how many times this alert's fingerprint fired or resolved within ``policy.flapping.window``
    before ``at``; it matters only when the step would fire.
    """
    if verdict is None:
        return Step(Change.NONE, current)
    if current is None:
        if not verdict:
            return NOTHING
        opened = Episode(status=AlertStatus.PENDING, started_at=at)
        if _for_met(opened, at, policy):
            return _fire(opened, policy, recent_transitions, change=Change.OPEN)
        return Step(Change.OPEN, opened, reason=_waiting(opened, policy))
    if current.status is AlertStatus.PENDING:
        if not verdict:
            return Step(Change.INACTIVE, None, reason="false before it fired")
        counted = replace(current, true_count=current.true_count + 1)
        if _for_met(counted, at, policy):
            return _fire(counted, policy, recent_transitions, change=Change.FIRE)
        return Step(Change.COUNT, counted, reason=_waiting(counted, policy))
    if verdict:
        if current.false_count == 0 and current.false_since is None:
            return Step(Change.NONE, current)
        return Step(Change.COUNT, replace(current, false_count=0, false_since=None))
    counted = replace(
        current, false_count=current.false_count + 1, false_since=current.false_since or at
    )
    return _resolve_if_due(counted, at, policy) or Step(Change.COUNT, counted)


def tick(
    current: Episode | None, at: datetime, policy: Policy, *, recent_transitions: int = 0
) -> Step:
    """The step at ``at`` with no new evaluation: durations that have run out since the last one.

    A pending episode whose ``for`` duration has elapsed fires (its expression held at the last
    evaluation, or it would be inactive); a firing one already false often enough resolves once
    ``keep_firing_for`` (or, flapping, the flapping window) has passed.
    """
    if current is None:
        return NOTHING
    if current.status is AlertStatus.PENDING:
        if policy.for_.duration is not None and _for_met(current, at, policy):
            return _fire(current, policy, recent_transitions, change=Change.FIRE)
        return Step(Change.NONE, current)
    return _resolve_if_due(current, at, policy) or Step(Change.NONE, current)


def _for_met(episode: Episode, at: datetime, policy: Policy) -> bool:
    duration = policy.for_.duration
    if duration is not None:
        return at - episode.started_at >= duration
    return episode.true_count >= (policy.for_.failures or 1)


def _waiting(episode: Episode, policy: Policy) -> str:
    duration = policy.for_.duration
    if duration is not None:
        return f"firing if still true after {format_duration(duration)}"
    return f"{episode.true_count} of {policy.for_.describe()}"


def _fire(episode: Episode, policy: Policy, recent_transitions: int, *, change: Change) -> Step:
    flapping = recent_transitions >= policy.flapping.transitions
    fired = replace(episode, status=AlertStatus.FIRING, false_count=0, false_since=None)
    if flapping:
        window = format_duration(policy.flapping.window)
        return Step(
            change,
            replace(fired, flapping=True),
            reason=f"flapping: {recent_transitions} transitions in {window}",
        )
    return Step(change, fired, reason=_met(episode, policy))


def _met(episode: Episode, policy: Policy) -> str:
    duration = policy.for_.duration
    if duration is not None:
        return "true" if duration == timedelta() else f"true for {format_duration(duration)}"
    return policy.for_.describe() if (policy.for_.failures or 1) > 1 else "true"


def _resolve_if_due(episode: Episode, at: datetime, policy: Policy) -> Step | None:
    if episode.false_since is None:
        return None
    false_for = at - episode.false_since
    if episode.flapping:
        # Flapping ends only after a whole window of calm, or the storm would start again.
        window = policy.flapping.window
        if false_for >= window:
            return Step(
                Change.RESOLVE,
                None,
                reason=f"stable: false for {format_duration(window)}",
                stable=True,
            )
        return None
    if episode.false_count < policy.resolve_after or false_for < policy.keep_firing_for:
        return None
    n = episode.false_count
    reason = "clear once" if n == 1 else f"clear {n} times in a row"
    if policy.keep_firing_for > timedelta():
        reason += f" and for {format_duration(policy.keep_firing_for)}"
    return Step(Change.RESOLVE, None, reason=reason)
