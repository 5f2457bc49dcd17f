"""Alert rows through the lifecycle: one evaluation pass applies ``machine`` steps to the store.

Each step becomes the writes it asks for, through ``records`` so every status change leaves an
event with the values that caused it: a new episode (``open_alert``), counters only (an
update, no event), or a transition (``set_status``), plus the ``flapping``/``stable`` events.
The pass keeps the open rule alerts in memory so a batch with several results of one check
steps the same episode forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.alerts import machine, records
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.rules import Verdict, alert_annotations
from opsbook.alerts.tables import alert, alert_event
from opsbook.config.alert_expr import AlertExpr
from opsbook.config.alerts import AlertRule
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

RULE_SOURCES = (AlertSource.RULE.value, AlertSource.PROMETHEUS.value)


@dataclass(frozen=True, slots=True)
class PreparedRule:
    """A configured rule with what every evaluation of it needs, computed once."""

    name: str
    rule: AlertRule
    severity: str
    policy: machine.Policy
    labels: Mapping[str, str]
    """Check rules: the alert's labels. Prometheus rules: the labels added to each series'."""


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open rule alert and its lifecycle counters."""

    alert: Alert
    episode: machine.Episode


class Pass:
    """One evaluation's working state: the open rule alerts, and the writes that change them."""

    def __init__(self, conn: Connection, *, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.transitions = 0
        self.fired: set[str] = set()
        """The severities of the alerts this pass moved to firing (the engine's ``on_page``)."""
        self._open = {o.alert.fingerprint: o for o in load_open(conn)}

    def find(self, fingerprint: str) -> OpenAlert | None:
        return self._open.get(fingerprint)

    def open_for_rule(self, rule: str) -> list[OpenAlert]:
        return [o for o in self._open.values() if o.alert.rule == rule]

    def check_rule(self, r: PreparedRule, found: Verdict) -> None:
        expr = when_of(r)
        labels = r.labels
        value = found.observed.get("value")
        self.step(
            r,
            found,
            labels=labels,
            fingerprint=rule_fingerprint(r),
            value=value if value is not None else found.text,
            check_id=expr.check,
        )

    def step(
        self,
        r: PreparedRule,
        found: Verdict,
        *,
        labels: Mapping[str, str],
        fingerprint: str,
        value: object = None,
        check_id: str | None = None,
    ) -> None:
        current = self._open.get(fingerprint)
        episode = current.episode if current else None
        decided = machine.step(episode, found.holds, self.now, r.policy)
        if decided.to is AlertStatus.FIRING:
            recent = _recent_transitions(self.conn, fingerprint, self.now, r.policy)
            decided = machine.step(
                episode, found.holds, self.now, r.policy, recent_transitions=recent
            )
        context = _Context(r, found, labels=labels, value=value, check_id=check_id)
        self._write(current, decided, context, fingerprint=fingerprint)

    def tick(self, current: OpenAlert | None, r: PreparedRule) -> None:
        if current is None:
            return
        decided = machine.tick(current.episode, self.now, r.policy)
        if decided.to is AlertStatus.FIRING:
            recent = _recent_transitions(self.conn, current.alert.fingerprint, self.now, r.policy)
            decided = machine.tick(current.episode, self.now, r.policy, recent_transitions=recent)
        last = current.alert.values
        found = Verdict(None, decided.reason, last)
        context = _Context(
            r,
            found,
            labels=current.alert.labels,
            value=last.get("value"),
            check_id=current.alert.check_id,
        )
        self._write(current, decided, context, fingerprint=current.alert.fingerprint)

    def close_orphans(self, rules: Mapping[str, PreparedRule]) -> None:
        """Close open rule alerts no configured rule will evaluate again: the rule was removed,
        changed kind, or now labels its alert differently (a new severity, new labels).

        Left open, they would fire forever; Prometheus drops them on a rule reload too.
        """
        for fingerprint, current in list(self._open.items()):
            name = current.alert.rule or ""
            r = rules.get(name)
            if r is None:
                reason = f"rule {name} is no longer in the config"
            elif (current.alert.source is AlertSource.PROMETHEUS) != (
                r.rule.prometheus is not None
            ):
                reason = f"rule {name} changed between when and prometheus"
            elif r.rule.when is not None and fingerprint != rule_fingerprint(r):
                reason = f"rule {name} now labels its alert differently"
            else:
                continue
            was = current.alert.status
            to = AlertStatus.RESOLVED if was is AlertStatus.FIRING else AlertStatus.INACTIVE
            records.set_status(
                self.conn,
                current.alert,
                to,
                now=self.now,
                message=reason,
                values=dict(current.alert.values),
            )
            del self._open[fingerprint]
            self._log(current.alert.id, name, was, to)

    def _write(
        self,
        current: OpenAlert | None,
        decided: machine.Step,
        context: _Context,
        *,
        fingerprint: str,
    ) -> None:
        change = decided.change
        if change is machine.Change.NONE:
            return
        episode = decided.episode
        observed = dict(context.verdict.observed)
        message = _message(context.verdict, decided)
        if change is machine.Change.OPEN and episode is not None:
            alert_id = records.open_alert(
                self.conn,
                fingerprint=fingerprint,
                source=AlertSource.PROMETHEUS if context.rule.rule.prometheus else AlertSource.RULE,
                labels=context.labels,
                severity=context.rule.severity,
                status=episode.status,
                now=self.now,
                annotations=_annotations(context),
                values=observed,
                rule=context.rule.name,
                check_id=context.check_id,
                message=message,
            )
            self.conn.execute(
                alert.update()
                .where(alert.c.id == alert_id)
                .values(**_counters(episode), flapping=episode.flapping)
            )
            if decided.starts_flapping:
                _flapping_event(self.conn, alert_id, self.now, decided, observed)
            self._open[fingerprint] = OpenAlert(records.get_alert(self.conn, alert_id), episode)
            if episode.status is AlertStatus.FIRING:
                self.fired.add(context.rule.severity)
            self._log(alert_id, context.rule.name, None, episode.status)
            return
        if current is None:  # pragma: no cover - the machine changes only open episodes
            return
        alert_id = current.alert.id
        if change is machine.Change.COUNT and episode is not None:
            self.conn.execute(
                alert.update()
                .where(alert.c.id == alert_id)
                .values(**_counters(episode), values=observed, last_seen_at=self.now)
            )
            self._open[fingerprint] = OpenAlert(replace(current.alert, values=observed), episode)
            return
        to = decided.to
        if to is None:  # pragma: no cover - every other change has a target status
            return
        columns: dict[str, Any] = {"last_seen_at": self.now}
        if episode is not None:
            columns.update(_counters(episode), flapping=episode.flapping)
        if to is AlertStatus.FIRING:
            self.fired.add(current.alert.severity)
        if to is AlertStatus.FIRING and context.verdict.holds is not None:
            # Rendered from what tripped it; a timer firing keeps those rendered at the open.
            columns["annotations"] = _annotations(context)
        if decided.stable:
            records.add_event(
                self.conn,
                alert_id=alert_id,
                at=self.now,
                kind="stable",
                values=observed,
                message=decided.reason,
            )
        records.set_status(
            self.conn,
            current.alert,
            to,
            now=self.now,
            message=message,
            values=observed or dict(current.alert.values),
            **columns,
        )
        if decided.starts_flapping:
            _flapping_event(self.conn, alert_id, self.now, decided, observed)
        if episode is None:
            del self._open[fingerprint]
        else:
            fired = replace(current.alert, status=to, fired_at=current.alert.fired_at or self.now)
            self._open[fingerprint] = OpenAlert(fired, episode)
        self._log(alert_id, context.rule.name, current.alert.status, to)

    def _log(
        self, alert_id: int, rule: str, was: AlertStatus | None, to: AlertStatus | None
    ) -> None:
        self.transitions += 1
        log.info(
            "alert_transition",
            alert=alert_id,
            rule=rule,
            **{"from": was.value if was else None, "to": to.value if to else None},
        )


@dataclass(frozen=True, slots=True)
class _Context:
    """What a write needs besides the step: the rule, the verdict, the alert's identity."""

    rule: PreparedRule
    verdict: Verdict
    labels: Mapping[str, str]
    value: object
    check_id: str | None


def _message(found: Verdict, decided: machine.Step) -> str:
    if found.holds is None:
        return decided.reason or found.text
    return f"{found.text} ({decided.reason})" if decided.reason else found.text


def _counters(episode: machine.Episode) -> dict[str, Any]:
    return {
        "true_count": episode.true_count,
        "false_count": episode.false_count,
        "false_since": episode.false_since,
    }


def _flapping_event(
    conn: Connection,
    alert_id: int,
    now: datetime,
    decided: machine.Step,
    observed: Mapping[str, JSONValue],
) -> None:
    records.add_event(
        conn, alert_id=alert_id, at=now, kind="flapping", values=observed, message=decided.reason
    )


def when_of(r: PreparedRule) -> AlertExpr:
    if r.rule.when is None:  # pragma: no cover - only check rules are evaluated over results
        raise ValueError(f"rule {r.name!r} has no when")
    return r.rule.when


def rule_fingerprint(r: PreparedRule) -> str:
    return records.fingerprint(r.labels)


def _annotations(context: _Context) -> dict[str, str]:
    r = context.rule
    return alert_annotations(
        r.name,
        r.rule,
        severity=r.severity,
        found=context.verdict,
        labels=context.labels,
        value=context.value,
        check_id=context.check_id,
    )


# -- store reads and the passes after the rules -----------------------------------------------


def load_open(conn: Connection) -> list[OpenAlert]:
    rows = conn.execute(
        # ``>= ''`` is IS NOT NULL (open keys are fingerprints) in a form SQLite answers from
        # the unique index on open_key; IS NOT NULL makes it scan every episode ever stored.
        sa.select(alert).where(alert.c.open_key >= "", alert.c.source.in_(RULE_SOURCES))
    )
    return [_open_from_row(row) for row in rows]


def _open_from_row(row: Any) -> OpenAlert:
    episode = machine.Episode(
        status=AlertStatus(row.status),
        started_at=row.started_at,
        true_count=row.true_count,
        false_count=row.false_count,
        false_since=row.false_since,
        flapping=bool(row.flapping),
    )
    return OpenAlert(records.row_to_alert(row), episode)


def _recent_transitions(
    conn: Connection, fingerprint: str, now: datetime, policy: machine.Policy
) -> int:
    """How many times ``fingerprint`` fired or resolved within the flapping window."""
    since = now - policy.flapping.window
    query = (
        sa.select(sa.func.count())
        .select_from(alert_event.join(alert, alert_event.c.alert_id == alert.c.id))
        .where(
            alert.c.fingerprint == fingerprint,
            alert_event.c.kind.in_((AlertStatus.FIRING.value, AlertStatus.RESOLVED.value)),
            alert_event.c.at > since,
        )
    )
    return int(conn.scalar(query) or 0)


def expire_ingested(run: Pass) -> None:
    """Alertmanager's rule: an alert whose ``endsAt`` passed is resolved unless sent again."""
    rows = run.conn.execute(
        sa.select(alert).where(
            alert.c.open_key.is_not(None),
            alert.c.source.not_in(RULE_SOURCES),
            alert.c.status == AlertStatus.FIRING.value,
            alert.c.ends_at <= run.now,
        )
    )
    for row in rows.all():
        expired = records.row_to_alert(row)
        ends_at = expired.ends_at.isoformat() if expired.ends_at else "?"
        records.set_status(
            run.conn,
            expired,
            AlertStatus.RESOLVED,
            now=run.now,
            message=f"endsAt passed ({ends_at})",
            values=dict(expired.values),
        )
        run.transitions += 1
        log.info(
            "alert_transition",
            alert=expired.id,
            rule=expired.rule,
            **{"from": expired.status.value, "to": AlertStatus.RESOLVED.value},
        )
