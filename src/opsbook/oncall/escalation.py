"""The levels of an escalation policy, in the order they page, with when each one starts.

Pure: the timers that wait for an acknowledgement and page the next level belong to incidents.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Literal, cast

from opsbook.config import Config
from opsbook.errors import NotFound

TargetKind = Literal["schedule", "person", "channel"]


@dataclasses.dataclass(frozen=True)
class Target:
    """Whom a level notifies: a schedule (its on-call person at that time), a person or a
    channel."""

    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclasses.dataclass(frozen=True)
class Level:
    """One page of a policy. ``number`` is the configured level (1-based) and ``round`` the
    repetition (0 for the first pass); ``after`` is how long after the escalation starts this
    level is paged when nobody acknowledges; ``wait`` is None only for the very last level."""

    number: int
    round: int
    notify: tuple[Target, ...]
    wait: timedelta | None
    after: timedelta


def escalation_levels(config: Config, policy: str) -> list[Level]:
    """Every level the policy pages if nobody acknowledges, repeats unrolled, in order.

    Raises ``NotFound`` (field ``policy``) for a policy that is not configured.
    """
    found = config.oncall.escalation.get(policy)
    if found is None:
        known = ", ".join(config.oncall.escalation) or "none are configured"
        raise NotFound(f"no escalation policy named {policy!r} (known: {known})", field="policy")
    out: list[Level] = []
    after = timedelta()
    for round_ in range(found.repeat + 1):
        for number, level in enumerate(found.levels, start=1):
            targets = tuple(_target(text) for text in level.notify)
            out.append(Level(number, round_, targets, level.wait, after))
            after += level.wait or timedelta()
    return out


def _target(text: str) -> Target:
    kind, _, name = text.partition(":")
    return Target(cast(TargetKind, kind), name)
