"""From "alerts are firing" to "notices go out": mutes, grouping and timing (Alertmanager's
dispatcher and notification pipeline), run inside the caller's transaction.

Group state lives in ``alert_group``, one row per group key (``<receiver>:{label="value", ...}``):
the ids last notified as firing, when the group was first seen and last notified, and a sequence
that numbers its notices. A row is kept after its group empties (so notice keys never repeat)
unless it never sent anything. ``first_seen_at`` is when the alerts now waiting for the group's
first notice were first seen; once a notice went out it is kept just before
``last_notified_at``, so ``first_seen_at >= last_notified_at`` (or no notice yet) reads "waiting".
An emptied group that gets alerts again waits ``group_wait`` from then, as a new Alertmanager
group would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.alerts.failures import mark_failed
from opsbook.alerts.maintenance import OpenWindow, covers, open_windows
from opsbook.alerts.models import Alert, AlertNotice, AlertSource, AlertStatus, Emit, NoticeReason
from opsbook.alerts.records import add_event, row_to_alert
from opsbook.alerts.routing import Receiver, receivers
from opsbook.alerts.silences import active_silences, matches
from opsbook.alerts.tables import alert, alert_event, alert_group
from opsbook.config import Config
from opsbook.config.alerts import AlertRule
from opsbook.tasks import TaskFailures, describe_error
from opsbook.textsafe import repair
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

_INSTANT = timedelta(microseconds=1)

TASK = "alerts"
MAX_GROUP_KEY_CHARS = 200
"""Longer keys are cut and end in a hash, so ``<receiver>:<key>#<n>`` fits notify's key column."""


@dataclass(frozen=True, slots=True)
class _GroupState:
    key: str
    receiver: str
    labels: Mapping[str, str]
    notified_firing: frozenset[int]
    first_seen_at: datetime
    last_notified_at: datetime | None
    sequence: int
    notified_resolved: frozenset[int] = frozenset()

    @property
    def is_waiting(self) -> bool:
        """Empty of notified alerts, and ``first_seen_at`` marks alerts seen since the last
        notice (not a leftover from before it)."""
        return self.last_notified_at is None or self.first_seen_at >= self.last_notified_at


@dataclass(slots=True)
class _Group:
    key: str
    receiver: str
    labels: dict[str, str]
    firing: list[Alert]


def _rule(config: Config, item: Alert) -> AlertRule | None:
    if item.source in (AlertSource.RULE, AlertSource.PROMETHEUS) and item.rule:
        return config.alerts.get(item.rule)
    return None


def route(config: Config, item: Alert) -> list[Receiver]:
    """The receivers of ``item``'s notices, each with its ``group_by`` label names: its rule's
    ``notify``, else the ``alerting.routes`` its labels match, else ``alerting.notify`` (see
    ``routing.receivers``)."""
    return receivers(config, rule=_rule(config, item), labels=item.labels)


def group_labels(labels: Mapping[str, str], group_by: Sequence[str]) -> dict[str, str]:
    """The labels that name the group; a label the alert lacks is the empty string."""
    return {name: labels.get(name, "") for name in group_by}


def group_key(receiver: str, labels: Mapping[str, str]) -> str:
    """``web-hook:{alertname="api-down", severity="SEV1"}``; sorted, values JSON-quoted."""
    inner = ", ".join(
        f"{name}={json.dumps(labels[name], ensure_ascii=False)}" for name in sorted(labels)
    )
    key = f"{receiver}:{{{inner}}}"
    if len(key) <= MAX_GROUP_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_GROUP_KEY_CHARS - 17]}~{digest}"


def _send_resolved(config: Config, item: Alert) -> bool:
    rule = _rule(config, item)
    if rule is not None and rule.send_resolved is not None:
        return rule.send_resolved
    return config.alerting.send_resolved


def _repeat_every(config: Config, items: Iterable[Alert]) -> timedelta:
    found = [
        rule.repeat_every
        for item in items
        if (rule := _rule(config, item)) is not None and rule.repeat_every is not None
    ]
    return min([*found, config.alerting.repeat_every])


def _is_active(item: Alert) -> bool:
    return item.status is AlertStatus.FIRING and not item.is_muted and item.acknowledged_at is None


# --- step 1: mutes ------------------------------------------------------------------------


def _silence_message(
    now_by: Sequence[str], added: Sequence[str], removed: Sequence[str], texts: Mapping[str, str]
) -> str:
    parts = [f"silenced by {texts.get(i, i)}" for i in added]
    if not added:
        parts.append(f"still silenced by {', '.join(now_by)}")
    if removed:
        parts.append(f"silence {', '.join(removed)} no longer applies")
    return "; ".join(parts)


def _update_mutes(
    conn: Connection, firing: list[Alert], *, config: Config, now: datetime
) -> list[Alert]:
    """Set ``silenced_by`` and ``maintenance`` on each firing alert; an event per change."""
    silences = active_silences(conn, now=now)
    texts = {
        s.id: f"{s.id} (until {_iso(s.ends_at)}, {s.created_by}: {s.comment})" for s in silences
    }
    openings = open_windows(config, now)
    out: list[Alert] = []
    for item in firing:
        silenced_by = tuple(s.id for s in silences if matches(s.matchers, item.labels))
        window = _window(config, openings, item.labels)
        maintenance = window.name if window is not None else None
        if silenced_by == item.silenced_by and maintenance == item.maintenance:
            out.append(item)
            continue
        conn.execute(
            alert.update()
            .where(alert.c.id == item.id)
            .values(silenced_by=list(silenced_by), maintenance=maintenance, updated_at=now)
        )
        if silenced_by != item.silenced_by:
            added = [i for i in silenced_by if i not in item.silenced_by]
            removed = [i for i in item.silenced_by if i not in silenced_by]
            if silenced_by:
                kind = "silenced"
                message = _silence_message(silenced_by, added, removed, texts)
            else:
                kind = "unsilenced"
                message = f"no longer silenced: silence {', '.join(removed)} ended or was expired"
            add_event(
                conn,
                alert_id=item.id,
                at=now,
                kind=kind,
                message=message,
                values={"silenced_by": list(silenced_by)},
            )
        if maintenance != item.maintenance:
            if window is not None:
                message = f"held by maintenance window {window.name!r} until {_iso(window.end)}"
            else:
                message = f"maintenance window {item.maintenance!r} ended"
            add_event(
                conn,
                alert_id=item.id,
                at=now,
                kind="maintenance",
                message=message,
                values={"maintenance": maintenance},
            )
        out.append(replace(item, silenced_by=silenced_by, maintenance=maintenance))
    return out


def _window(
    config: Config, openings: Sequence[OpenWindow], labels: Mapping[str, str]
) -> OpenWindow | None:
    return next((o for o in openings if covers(config, o, labels)), None)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- step 2-3: groups -----------------------------------------------------------------------


def _plan(config: Config, firing: Sequence[Alert]) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for item in firing:
        for receiver in route(config, item):
            labels = group_labels(item.labels, receiver.group_by)
            key = group_key(receiver.name, labels)
            group = groups.setdefault(key, _Group(key, receiver.name, labels, []))
            group.firing.append(item)
    return groups


def _load_states(conn: Connection) -> dict[str, _GroupState]:
    states: dict[str, _GroupState] = {}
    for row in conn.execute(sa.select(alert_group)):
        receivers = list(row.receivers or [])
        states[row.group_key] = _GroupState(
            key=row.group_key,
            receiver=str(receivers[0]) if receivers else row.group_key.split(":", 1)[0],
            labels=dict(row.group_labels),
            notified_firing=frozenset(int(i) for i in row.notified_firing),
            notified_resolved=frozenset(int(i) for i in row.notified_resolved),
            first_seen_at=row.first_seen_at,
            last_notified_at=row.last_notified_at,
            sequence=int(row.sequence),
        )
    return states


def _load_alerts(conn: Connection, ids: Collection[int]) -> dict[int, Alert]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(alert).where(alert.c.id.in_(sorted(ids))))
    return {int(row.id): row_to_alert(row) for row in rows}


# --- step 4: what each group sends ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decision:
    state: _GroupState | None
    """The row to keep (None: delete it, or never write one)."""
    reason: NoticeReason | None = None
    alerts: tuple[Alert, ...] = ()


def _decide(
    group: _Group | None,
    state: _GroupState | None,
    *,
    alerts_by_id: Mapping[int, Alert],
    config: Config,
    now: datetime,
) -> _Decision:
    """What one group sends this pass, and the state it keeps (pure: no I/O):

    1. Sort the alerts notified as firing: still active or acknowledged (kept), resolved with
       send_resolved (a resolved notice is due), or muted / resolved without send_resolved /
       moved to another group (dropped silently).
    2. New = active alerts not notified yet. A group with nothing kept and nothing resolved
       pending is fresh: it sends its first notification ``group_wait`` after it was first seen.
    3. Otherwise, new or resolved alerts go out once ``group_interval`` has passed since the last
       notice; with neither, active (non-flapping) alerts are repeated after ``repeat_every``.
    """
    firing = group.firing if group is not None else []
    in_group = {a.id for a in firing}
    active = [a for a in firing if _is_active(a)]
    notified = state.notified_firing if state is not None else frozenset()
    kept: set[int] = set()
    resolved: list[Alert] = []
    for alert_id in sorted(notified):
        item = alerts_by_id.get(alert_id)
        if item is None:
            continue
        if item.status is AlertStatus.FIRING:
            if alert_id in in_group and not item.is_muted:
                kept.add(alert_id)
        elif item.status is AlertStatus.RESOLVED and _send_resolved(config, item):
            resolved.append(item)
    new = [a for a in active if a.id not in notified]
    fresh = not kept and not resolved
    receiver = group.receiver if group is not None else state.receiver if state else ""
    labels = dict(group.labels) if group is not None else dict(state.labels) if state else {}
    key = group.key if group is not None else state.key if state else ""

    if state is None:
        first_seen = now
    elif fresh and not state.is_waiting:
        first_seen = now  # an emptied group gets alerts again: group_wait counts from now
    else:
        first_seen = state.first_seen_at
    last = state.last_notified_at if state is not None else None
    sequence = state.sequence if state is not None else 0
    timing = config.alerting

    reason: NoticeReason | None = None
    notice_alerts: list[Alert] = []
    if fresh:
        if new and now - first_seen >= timing.group_wait:
            reason = "flapping" if all(a.flapping for a in new) else "first notification"
            notice_alerts = active
    else:
        since_last = now - (last or first_seen)
        if (new or resolved) and since_last >= timing.group_interval:
            if new:
                reason = "flapping" if all(a.flapping for a in new) else "new alerts added"
            else:
                reason = "some alerts resolved" if active else "all alerts resolved"
            notice_alerts = active + resolved
        else:
            steady = [a for a in active if not a.flapping]
            if not new and steady and since_last >= _repeat_every(config, steady):
                reason = "repeat interval elapsed"
                notice_alerts = steady

    if reason is not None:
        sent_resolved = {a.id for a in notice_alerts if a.status is AlertStatus.RESOLVED}
        after = _GroupState(
            key=key,
            receiver=receiver,
            labels=labels,
            notified_firing=frozenset(kept | {a.id for a in active}),
            notified_resolved=frozenset(sent_resolved),
            first_seen_at=min(first_seen, now - _INSTANT),
            last_notified_at=now,
            sequence=sequence + 1,
        )
        return _Decision(after, reason, tuple(sorted(notice_alerts, key=lambda a: a.id)))

    pending_ids = kept | {a.id for a in resolved}
    if not pending_ids and not active:
        # Idle: a group that never sent anything leaves no row; one that did keeps its
        # sequence, with first_seen_at no later than its last notice.
        if state is None or state.sequence == 0 or last is None:
            return _Decision(None)
        first_seen = last - _INSTANT if state.is_waiting else state.first_seen_at
        return _Decision(replace(state, notified_firing=frozenset(), first_seen_at=first_seen))
    after = _GroupState(
        key=key,
        receiver=receiver,
        labels=labels,
        notified_firing=frozenset(pending_ids),
        notified_resolved=state.notified_resolved if state is not None else frozenset(),
        first_seen_at=first_seen,
        last_notified_at=last,
        sequence=sequence,
    )
    return _Decision(after)


def _save(conn: Connection, before: _GroupState | None, after: _GroupState | None) -> None:
    if after == before:
        return
    if after is None:
        if before is not None:
            conn.execute(alert_group.delete().where(alert_group.c.group_key == before.key))
        return
    values: dict[str, Any] = {
        "receivers": [after.receiver],
        "group_labels": dict(after.labels),
        "notified_firing": sorted(after.notified_firing),
        "notified_resolved": sorted(after.notified_resolved),
        "first_seen_at": after.first_seen_at,
        "last_notified_at": after.last_notified_at,
        "sequence": after.sequence,
    }
    if before is None:
        conn.execute(alert_group.insert().values(group_key=after.key, **values))
    else:
        conn.execute(
            alert_group.update().where(alert_group.c.group_key == after.key).values(**values)
        )


def _record_notified(conn: Connection, notices: Sequence[AlertNotice]) -> None:
    rows: list[dict[str, Any]] = []
    for notice in notices:
        for item in notice.alerts:
            values: dict[str, JSONValue] = {
                "receiver": notice.receiver,
                "reason": notice.reason,
                "notice": notice.key,
            }
            rows.append(
                {
                    "alert_id": item.id,
                    "at": notice.at,
                    "kind": "notified",
                    "from_status": None,
                    "to_status": None,
                    "values": values,
                    "message": f"notified {notice.receiver} ({notice.reason}; "
                    f"{'resolved' if item.status is AlertStatus.RESOLVED else 'firing'})",
                }
            )
    if rows:
        conn.execute(alert_event.insert(), rows)


# A group's state before and after this pass, and the notice it decided on (None: none due).
_Decided = tuple[_GroupState | None, _GroupState | None, AlertNotice | None]


def _commit_groups(
    conn: Connection, decided: Sequence[_Decided], *, emit: Emit | None
) -> list[AlertNotice]:
    """Save the groups' new states, mark their alerts notified and emit their notices."""
    for before, after, _ in decided:
        _save(conn, before, after)
    notices = [notice for _, _, notice in decided if notice is not None]
    _record_notified(conn, notices)
    if emit is not None and notices:
        emit(conn, notices)
    return notices


def _group_failed(
    conn: Connection,
    decided: _Decided,
    exc: Exception,
    *,
    now: datetime,
    failures: TaskFailures | None,
) -> None:
    before, after, notice = decided
    reason = describe_error(exc)
    group = after.key if after is not None else before.key if before is not None else "?"
    log.warning("alert_group_failed", group=repair(group), error=reason)
    if failures is not None:
        failures.item_failed(TASK)
    for item in notice.alerts if notice is not None else ():
        with conn.begin_nested():
            mark_failed(conn, alert_id=item.id, task=TASK, reason=reason, now=now)


def dispatch(
    conn: Connection,
    *,
    config: Config,
    now: datetime,
    emit: Emit | None,
    external_url: str | None = None,
    failures: TaskFailures | None = None,
) -> list[AlertNotice]:
    """One dispatch pass in ``conn``'s transaction; returns the notices it produced.

    1. Every firing alert gets its current silences and maintenance window written to it
       (events ``silenced``/``unsilenced``/``maintenance`` on change).
    2. Firing alerts that are not muted (dependency, silence, maintenance) and not acknowledged
       are active. They are grouped per receiver (``route``: the rule's ``notify``, else the
       matching ``alerting.routes``, else ``alerting.notify``; no receiver, no notice) by that
       receiver's ``group_by`` labels.
    3. Each group decides by its timing knobs whether a notice is due (see ``_decide``); its
       state is saved, and each alert in a notice gets a ``notified`` event.
    4. ``emit(conn, notices)`` stores them for delivery in the same transaction.

    A group whose notice cannot be stored (its text cannot be rendered, ...) is rolled back
    alone: its alerts get a ``failed`` event with the reason, ``failures`` counts it under
    ``alerts``, and every other group's notice goes out.
    """
    rows = conn.execute(
        sa.select(alert).where(alert.c.status == AlertStatus.FIRING.value).order_by(alert.c.id)
    )
    firing = _update_mutes(conn, [row_to_alert(r) for r in rows], config=config, now=now)
    groups = _plan(config, firing)
    states = _load_states(conn)
    alerts_by_id = {a.id: a for a in firing}
    missing = {i for s in states.values() for i in s.notified_firing} - set(alerts_by_id)
    alerts_by_id.update(_load_alerts(conn, missing))

    decided: list[_Decided] = []
    for key in sorted(set(groups) | set(states)):
        group, state = groups.get(key), states.get(key)
        decision = _decide(group, state, alerts_by_id=alerts_by_id, config=config, now=now)
        notice = None
        if decision.reason is not None and decision.state is not None:
            after = decision.state
            notice = AlertNotice(
                key=f"{after.key}#{after.sequence}",
                receiver=after.receiver,
                group_key=after.key,
                group_labels=dict(after.labels),
                status="firing"
                if any(a.status is AlertStatus.FIRING for a in decision.alerts)
                else "resolved",
                reason=decision.reason,
                alerts=decision.alerts,
                at=now,
                external_url=external_url,
            )
        decided.append((state, decision.state, notice))
    try:
        # Batched (the hot path), in a savepoint so a failure can be retried group by group.
        with conn.begin_nested():
            notices = _commit_groups(conn, decided, emit=emit)
    except Exception:
        notices = []
        for one in decided:
            try:
                with conn.begin_nested():
                    notices += _commit_groups(conn, [one], emit=emit)
            except Exception as exc:
                # This group alone is rolled back (its state stays, so the next pass retries
                # it), its alerts are marked failed with the reason, and the others go out.
                _group_failed(conn, one, exc, now=now, failures=failures)
    return notices
