"""``depends_on``: while a check's dependency is down, alerts over the check are suppressed and
linked to the root cause's alert, so one database outage is one page, not twenty.

Gatus and healthchecks have had this request open for years; Alertmanager's inhibition rules
do the same by label matching. Here the links come from the config, so nobody writes matchers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from opsbook.alerts import records
from opsbook.alerts.models import Alert, AlertStatus
from opsbook.alerts.tables import alert
from opsbook.checks.models import State
from opsbook.checks.service import current_states
from opsbook.config import Config


def transitive_dependencies(config: Config) -> dict[str, frozenset[str]]:
    """Each check's ``depends_on``, followed through; checks with none are left out.

    Config refuses cycles at load; this stops on one anyway rather than loop.
    """
    found: dict[str, frozenset[str]] = {}
    for check_id, spec in config.checks.items():
        seen: set[str] = set()
        todo = list(spec.depends_on)
        while todo:
            dep = todo.pop()
            if dep in seen or dep == check_id:
                continue
            seen.add(dep)
            dep_spec = config.checks.get(dep)
            if dep_spec is not None:
                todo.extend(dep_spec.depends_on)
        if seen:
            found[check_id] = frozenset(seen)
    return found


def suppress_dependents(
    conn: Connection,
    *,
    opened: Sequence[Alert],
    depends: Mapping[str, frozenset[str]],
    now: datetime,
) -> None:
    """Suppress the ``opened`` alerts over checks with a dependency down; lift it when none is.

    The reason names the root causes: the dependencies that are down while none of their own
    dependencies is (``db is down``). ``suppressed_by`` is the open alert of a rule over the
    first root cause, firing before pending; None while there is none. Each change is an event
    (``suppressed``/``unsuppressed``); dispatch then leaves suppressed alerts out of notices.
    """
    dependents = [a for a in opened if a.check_id in depends]
    if not dependents:
        return
    wanted = set().union(*(depends[a.check_id or ""] for a in dependents))
    down = {s.check_id for s in current_states(conn, check_ids=wanted) if s.state is State.DOWN}
    for target in dependents:
        down_deps = depends[target.check_id or ""] & down
        if not down_deps:
            if target.suppressed_reason is not None:
                _set(conn, target, None, None, now=now, message="its dependencies are up")
            continue
        roots = sorted(d for d in down_deps if not depends.get(d, frozenset()) & down)
        roots = roots or sorted(down_deps)
        reason = f"{', '.join(roots)} {'is' if len(roots) == 1 else 'are'} down"
        by = _root_alert(opened, roots)
        if (target.suppressed_reason, target.suppressed_by) != (reason, by):
            linked = f"; root cause: alert {by}" if by is not None else ""
            _set(conn, target, reason, by, now=now, message=reason + linked)


def _root_alert(opened: Sequence[Alert], roots: Sequence[str]) -> int | None:
    for root in roots:
        candidates = sorted(
            (a for a in opened if a.check_id == root),
            key=lambda a: (a.status is not AlertStatus.FIRING, a.id),
        )
        if candidates:
            return candidates[0].id
    return None


def _set(
    conn: Connection,
    target: Alert,
    reason: str | None,
    by: int | None,
    *,
    now: datetime,
    message: str,
) -> None:
    conn.execute(
        alert.update()
        .where(alert.c.id == target.id)
        .values(suppressed_reason=reason, suppressed_by=by, updated_at=now)
    )
    records.add_event(
        conn,
        alert_id=target.id,
        at=now,
        kind="suppressed" if reason is not None else "unsuppressed",
        values={"suppressed_by": by, "reason": reason},
        message=message,
    )
