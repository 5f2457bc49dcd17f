"""The incident lifecycle's rules, pure (STYLE.md R4): which status moves are legal, and what a
severity name looks like.

Statuses move forward (investigating -> identified -> monitoring -> resolved, skipping steps is
fine). The one step back is monitoring -> investigating: the fix did not hold (a regression).
Nothing leaves resolved except a reopen, which is its own action so the timeline says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from opsbook.errors import InputError
from opsbook.incidents.models import IncidentStatus

ORDER: dict[IncidentStatus, int] = {status: i for i, status in enumerate(IncidentStatus)}
_SEVERITY = re.compile(r"SEV[1-9]|P[0-9]")


def transition_problem(current: IncidentStatus, target: IncidentStatus) -> str | None:
    """Why ``current -> target`` is illegal, as the end of a sentence; None when it is legal.

    Staying in an open status is legal: it is one more update ("still investigating").
    """
    if current is IncidentStatus.RESOLVED:
        return (
            f"cannot go from resolved to {target}: a resolved incident only reopens "
            "(opsbook incident reopen)"
        )
    if ORDER[target] >= ORDER[current]:
        return None
    if current is IncidentStatus.MONITORING and target is IncidentStatus.INVESTIGATING:
        return None
    return (
        f"cannot go back from {current} to {target}: statuses move forward, and only "
        "monitoring may go back to investigating (a regression)"
    )


def check_severity(name: str, *, known: Collection[str] | None = None) -> str:
    """``name`` if it is a severity (SEV1..SEV9, P0..P9, and one of ``known`` when given);
    else ``InputError`` naming ``severity`` and what it accepts, not ``name`` (it may be a
    secret pasted in the wrong place)."""
    if not _SEVERITY.fullmatch(name):
        raise InputError(
            "severity: not a severity name (use SEV1..SEV9 or P0..P9)",
            field="severity",
        )
    if known is not None and name not in known:
        raise InputError(
            f"severity: not a configured severity (use {', '.join(known)})",
            field="severity",
        )
    return name
