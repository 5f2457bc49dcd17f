"""Alerts from outside: Alertmanager API v2 and webhooks, PagerDuty Events v2, generic webhooks.

Each ``ingest_*`` function runs in the caller's transaction; the web layer commits before it
answers 2xx, so an acknowledged alert survives a crash. All of them share one path (``_apply``):

- one bulk read of the open alerts for every fingerprint in the request (locked for the
  transaction: ``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on PostgreSQL), then writes
  grouped by the values they set (``_Batch``). A 100-alert batch is a handful of statements,
  never one SELECT per alert;
- idempotent: a firing alert whose fingerprint is open refreshes ``last_seen_at`` / ``ends_at``
  (and its annotations), and leaves an event only when something a person would see changed;
  a resolve for an unknown or closed fingerprint changes nothing;
- a trigger after a resolve opens a new episode (a new ``alert`` row).

Fingerprints: Alertmanager-API alerts use ``records.fingerprint`` of their labels plus
``integration=<name>`` and the integration's configured labels (so two integrations never share
an alert). PagerDuty and webhook alerts are keyed by their dedup key instead, scoped to the
integration, so their labels may change from one trigger to the next.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.ingest_models import (
    PagerDutyEvent,
    PostableAlert,
    WebhookAlert,
    WebhookMessage,
)
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.records import add_event, fingerprint, row_to_alert, set_status
from opsbook.alerts.tables import alert, alert_event
from opsbook.config import Config
from opsbook.config.alerts import Integration
from opsbook.errors import InputError, NotFound
from opsbook.redaction import Secret
from opsbook.types import JSONValue

INTEGRATION_LABEL = "integration"
PAGERDUTY_ALERTNAME = "pagerduty"
# PagerDuty's severities, most to least urgent, mapped onto the configured ones by position.
_PAGERDUTY_RANK = {"critical": 0, "error": 1, "warning": 2}
# The label name "" cannot be sent (names are validated non-empty), so it cannot collide.
_SUMMARY_KEY = ""


@dataclass(frozen=True, slots=True)
class _Incoming:
    """One alert as received, after labels, severity and times were worked out."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: str
    started_at: datetime
    ends_at: datetime | None
    values: dict[str, JSONValue]
    dedup_key: str | None = None
    resolved_at: datetime | None = None
    """Set when this is a resolve: the episode ends at this time."""


@dataclass
class IngestReport:
    """What one request did. Pass one to an ``ingest_*`` function to learn it.

    The web layer wakes the alert engine only when ``needs_dispatch``: a plain re-send (what
    Prometheus does every evaluation) changes nothing dispatch acts on, and a dispatch pass
    reads every open alert, so waking it per request would cost more than the ingest itself.
    """

    opened: int = 0
    refreshed: int = 0
    resolved: int = 0
    acknowledged: int = 0
    relabelled: int = 0
    """Refreshed alerts whose labels or severity changed (their routing may have)."""

    @property
    def needs_dispatch(self) -> bool:
        return bool(self.opened or self.resolved or self.acknowledged or self.relabelled)


# Which integration a credential belongs to


def integration_for_token(config: Config, token: str, *, kind: str) -> str | None:
    """The integration of ``kind`` ("alertmanager" or "webhook") whose token is ``token``.

    Every configured token is compared, in constant time (``hmac.compare_digest``), so the
    answer's timing says nothing about how much of a token matched or which one.
    """
    return _match(((n, _token_of(i, kind)) for n, i in config.integrations.items()), token)


def integration_for_routing_key(config: Config, routing_key: Secret) -> str | None:
    """The PagerDuty integration whose ``routing_key`` this is (constant time, as above)."""
    keys = (
        (name, i.pagerduty.routing_key if i.pagerduty else None)
        for name, i in config.integrations.items()
    )
    return _match(keys, routing_key.reveal())


def _token_of(integration: Integration, kind: str) -> Secret | None:
    if kind == "alertmanager" and integration.alertmanager is not None:
        return integration.alertmanager.token
    if kind == "webhook" and integration.webhook is not None:
        return integration.webhook.token
    return None


def _match(candidates: Iterable[tuple[str, Secret | None]], given: str) -> str | None:
    given_bytes = given.encode()
    found: str | None = None
    for name, secret in candidates:
        if secret is None:
            continue
        if hmac.compare_digest(secret.reveal().encode(), given_bytes) and found is None:
            found = name
    return found


def is_valid_signature(secret: Secret, body: bytes, signature: str) -> bool:
    """``signature`` is ``sha256=<hex HMAC-SHA256 of body>`` under ``secret`` (constant time)."""
    expected = "sha256=" + hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


# The four ingest paths


def ingest_alertmanager_alerts(
    conn: Connection,
    *,
    config: Config,
    integration: str,
    alerts: Sequence[PostableAlert],
    now: datetime,
    report: IngestReport | None = None,
) -> int:
    """Store Alertmanager API v2 alerts (``POST /api/v2/alerts``); the number received.

    As in Alertmanager: no ``startsAt`` means now (or ``endsAt`` when that is earlier); no
    ``endsAt`` means now + ``alerting.resolve_timeout``; an ``endsAt`` at or before now
    resolves the open alert with that fingerprint (and is ignored when there is none).
    """
    spec = _integration(config, integration, "alertmanager")
    timeout = config.alerting.resolve_timeout
    items: list[_Incoming] = []
    for sent in alerts:
        labels, fp = _identity(sent.labels, integration, spec)
        ends_at = sent.ends_at if sent.ends_at is not None else now + timeout
        starts_at = sent.starts_at if sent.starts_at is not None else min(now, ends_at)
        items.append(
            _Incoming(
                fingerprint=fp,
                labels=_with_defaults(labels, config, spec, alertname=integration),
                annotations=dict(sent.annotations),
                severity=_severity(config, spec, sent.labels.get("severity")),
                started_at=min(starts_at, now),
                ends_at=ends_at,
                values=_link(sent.generator_url),
                resolved_at=ends_at if ends_at <= now else None,
            )
        )
    _apply(
        conn,
        items,
        source=AlertSource.ALERTMANAGER,
        integration=integration,
        now=now,
        via=f"Alertmanager API integration {integration}",
        report=report,
    )
    return len(alerts)


def ingest_alertmanager_webhook(
    conn: Connection,
    *,
    config: Config,
    integration: str,
    message: WebhookMessage,
    now: datetime,
    report: IngestReport | None = None,
) -> int:
    """Store the alerts of one Alertmanager webhook message; the number received.

    Each alert's own ``status`` decides: firing opens or refreshes (with no ``ends_at``:
    Alertmanager sends the resolve), resolved closes the open alert with that fingerprint.
    """
    spec = _integration(config, integration, "alertmanager")
    items: list[_Incoming] = []
    for sent in message.alerts:
        labels, fp = _identity(sent.labels, integration, spec)
        resolved = sent.status == "resolved"
        ended = sent.ends_at if sent.ends_at is not None else now
        items.append(
            _Incoming(
                fingerprint=fp,
                labels=_with_defaults(labels, config, spec, alertname=integration),
                annotations=dict(sent.annotations),
                severity=_severity(config, spec, sent.labels.get("severity")),
                started_at=min(sent.starts_at or now, now),
                ends_at=min(ended, now) if resolved else None,
                values=_link(sent.generator_url),
                resolved_at=min(ended, now) if resolved else None,
            )
        )
    _apply(
        conn,
        items,
        source=AlertSource.ALERTMANAGER,
        integration=integration,
        now=now,
        via=f"Alertmanager webhook integration {integration}",
        report=report,
    )
    return len(message.alerts)


def ingest_pagerduty(
    conn: Connection,
    *,
    config: Config,
    integration: str,
    event: PagerDutyEvent,
    now: datetime,
    report: IngestReport | None = None,
) -> str:
    """Apply one PagerDuty Events v2 event; the ``dedup_key`` it applied to.

    ``trigger`` opens an alert or refreshes the open one with that key; ``acknowledge`` and
    ``resolve`` on an unknown or resolved key are dropped (PagerDuty answers 202 for those too).
    """
    spec = _integration(config, integration, "pagerduty")
    via = f"PagerDuty integration {integration}"
    if event.event_action == "trigger":
        payload = event.payload
        if payload is None:
            raise InputError("a trigger needs a payload", field="$.payload", location="body")
        key = event.dedup_key or derived_dedup_key(event)
        sent = {"alertname": payload.class_ or payload.component or PAGERDUTY_ALERTNAME}
        sent["source"] = payload.source
        for name, value in (("component", payload.component), ("group", payload.group)):
            if value:
                sent[name] = value
        severity = pagerduty_severity(config, payload.severity)
        annotations = {"summary": payload.summary}
        for name, value in (("client", event.client), ("client_url", event.client_url)):
            if value:
                annotations[name] = value
        details = payload.custom_details
        item = _Incoming(
            fingerprint=_keyed_fingerprint(integration, key),
            labels=_with_defaults(
                _labels(sent, integration, spec), config, spec, severity=severity
            ),
            annotations=annotations,
            severity=severity,
            started_at=min(payload.timestamp or now, now),
            ends_at=None,
            values=dict(details) if isinstance(details, dict) else _details(details),
            dedup_key=key,
        )
        _apply(
            conn,
            [item],
            source=AlertSource.PAGERDUTY,
            integration=integration,
            now=now,
            via=via,
            report=report,
        )
        return key
    key = event.dedup_key or ""
    if not key:
        raise InputError(
            f"dedup_key is required to {event.event_action}", field="$.dedup_key", location="body"
        )
    found = _open_alert(conn, _keyed_fingerprint(integration, key))
    if found is None:
        return key
    if event.event_action == "resolve":
        set_status(
            conn, found, AlertStatus.RESOLVED, now=now, message=f"resolved by {via}", ends_at=now
        )
        if report is not None:
            report.resolved += 1
    elif found.acknowledged_at is None:
        if report is not None:
            report.acknowledged += 1
        conn.execute(
            alert.update().where(alert.c.id == found.id).values(acknowledged_at=now, updated_at=now)
        )
        add_event(
            conn, alert_id=found.id, at=now, kind="acknowledged", message=f"acknowledged by {via}"
        )
    return key


def ingest_webhook(
    conn: Connection,
    *,
    config: Config,
    integration: str,
    items: Sequence[WebhookAlert],
    now: datetime,
    report: IngestReport | None = None,
) -> list[Alert]:
    """Apply opsbook's generic webhook alerts; the alerts they opened, refreshed or resolved,
    in the order first named (a resolve for an unknown key names none)."""
    spec = _integration(config, integration, "webhook")
    incoming: list[_Incoming] = []
    for sent in items:
        key = webhook_key(sent)
        fp = _keyed_fingerprint(integration, key)
        if sent.status == "resolved":
            # Only the fingerprint and the time matter to a resolve.
            incoming.append(
                _Incoming(
                    fingerprint=fp,
                    labels={},
                    annotations={},
                    severity="",
                    started_at=now,
                    ends_at=now,
                    values={},
                    dedup_key=key,
                    resolved_at=now,
                )
            )
            continue
        summary = sent.summary or ""
        severity = _webhook_severity(config, spec, sent.severity)
        labels = _labels(sent.labels, integration, spec)
        incoming.append(
            _Incoming(
                fingerprint=fp,
                labels=_with_defaults(
                    labels, config, spec, alertname=summary[:200], severity=severity
                ),
                annotations={**sent.annotations, "summary": summary},
                severity=severity,
                started_at=min(sent.starts_at or now, now),
                ends_at=None,
                values=_link(sent.url),
                dedup_key=key,
            )
        )
    touched = _apply(
        conn,
        incoming,
        source=AlertSource.WEBHOOK,
        integration=integration,
        now=now,
        via=f"webhook integration {integration}",
        report=report,
    )
    rows = conn.execute(sa.select(alert).where(alert.c.id.in_(list(touched.values()))))
    by_id = {row.id: row_to_alert(row) for row in rows}
    return [by_id[alert_id] for alert_id in touched.values()]


# Keys, labels, severities


def webhook_key(item: WebhookAlert) -> str:
    """The dedup key of a generic webhook alert: its ``key``, else a fingerprint of its labels
    and summary (so a resolve must repeat both, or name the key)."""
    if item.key:
        return item.key
    return fingerprint({**item.labels, _SUMMARY_KEY: item.summary or ""})


def derived_dedup_key(event: PagerDutyEvent) -> str:
    """A trigger without ``dedup_key`` gets one derived from its content (PagerDuty makes a
    random one), so a client retrying the same request does not open a second alert."""
    payload = event.payload
    content: dict[str, Any] = {"client": event.client, "client_url": event.client_url}
    if payload is not None:
        content |= {
            "summary": payload.summary,
            "source": payload.source,
            "severity": payload.severity,
            "timestamp": payload.timestamp.isoformat() if payload.timestamp else None,
            "component": payload.component,
            "group": payload.group,
            "class": payload.class_,
            "custom_details": payload.custom_details,
        }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def pagerduty_severity(config: Config, word: str) -> str:
    """critical, error, warning -> the first, second, third configured severity (clamped to the
    last); info -> the last one."""
    names = list(config.severities)
    rank = _PAGERDUTY_RANK.get(word)
    return names[-1] if rank is None else names[min(rank, len(names) - 1)]


def _severity(config: Config, spec: Integration, label: str | None) -> str:
    """``label`` when it names a configured severity (any case), else the integration's
    severity, else the lowest configured one."""
    return _severity_cached(tuple(config.severities), spec.severity, label)


@lru_cache(maxsize=1024)
def _severity_cached(names: tuple[str, ...], fallback: str | None, label: str | None) -> str:
    if label:
        for name in names:
            if name.lower() == label.lower():
                return name
    return fallback or names[-1]


def _webhook_severity(config: Config, spec: Integration, given: str | None) -> str:
    """A configured severity name as is, a PagerDuty word mapped, else the integration's."""
    if given is None:
        return spec.severity or list(config.severities)[-1]
    if given in config.severities:
        return given
    return pagerduty_severity(config, given)


def _integration(config: Config, name: str, kind: str) -> Integration:
    spec = config.integrations.get(name)
    if spec is None or spec.kind != kind:
        raise NotFound(f"no {kind} integration named {name!r}", field="integration")
    return spec


def _labels(sent: Mapping[str, str], integration: str, spec: Integration) -> dict[str, str]:
    # The configured labels and the integration's name win over what the sender says: a sender
    # cannot pass its alerts off as another integration's, or route around the config.
    return {**sent, **spec.labels, INTEGRATION_LABEL: integration}


def _identity(
    sent: Mapping[str, str], integration: str, spec: Integration
) -> tuple[dict[str, str], str]:
    labels = _labels(sent, integration, spec)
    return labels, _fingerprint_cached(tuple(sorted(labels.items())))


@lru_cache(maxsize=16384)
def _fingerprint_cached(items: tuple[tuple[str, str], ...]) -> str:
    # Prometheus re-sends the same label sets every evaluation; FNV over each byte in Python
    # is the costliest step of a batch, and this makes it a dict lookup.
    return fingerprint(dict(items))


def _keyed_fingerprint(integration: str, key: str) -> str:
    return _fingerprint_cached(((INTEGRATION_LABEL, integration), ("dedup_key", key)))


def _with_defaults(
    labels: dict[str, str],
    config: Config,
    spec: Integration,
    *,
    alertname: str = "",
    severity: str = "",
) -> dict[str, str]:
    """Every alert carries ``alertname`` and ``severity`` labels; a sent one is kept as is
    (``severity="page"`` stays, while the alert's severity column holds the configured name)."""
    out = dict(labels)
    out.setdefault("alertname", alertname or labels.get(INTEGRATION_LABEL, "alert"))
    out.setdefault("severity", severity or _severity(config, spec, labels.get("severity")))
    return out


def _link(url: str | None) -> dict[str, JSONValue]:
    return {"generator_url": url} if url else {}


def _details(details: JSONValue) -> dict[str, JSONValue]:
    return {} if details is None else {"custom_details": details}


# The shared write path

# What _apply reads of an open alert: what it compares and what a resolve needs, no more
# (decoding whole rows into ``Alert`` was most of a batch's cost).
_COMPARED = (
    alert.c.id,
    alert.c.open_key,
    alert.c.status,
    alert.c.started_at,
    alert.c.labels,
    alert.c.annotations,
    alert.c.severity,
    alert.c["values"],
)


def _lock_open(
    conn: Connection, fingerprints: Sequence[str], columns: Sequence[Any]
) -> dict[str, Any]:
    """Rows of the open alerts among ``fingerprints``, locked until the transaction ends."""
    if conn.dialect.name == "sqlite":
        # pysqlite starts its transaction at the first write, so a read before it could be
        # stale by the time we write. BEGIN IMMEDIATE takes the write lock first instead.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    rows = conn.execute(_select_open(tuple(columns)), {"fingerprints": list(fingerprints)})
    return {row.open_key: row for row in rows}


@lru_cache(maxsize=8)
def _select_open(columns: tuple[Any, ...]) -> sa.Select[Any]:
    by_key = alert.c.open_key.in_(sa.bindparam("fingerprints", expanding=True))
    return sa.select(*columns).where(by_key).with_for_update()


def _open_alert(conn: Connection, fingerprint: str) -> Alert | None:
    row = _lock_open(conn, [fingerprint], [alert]).get(fingerprint)
    return row_to_alert(row) if row is not None else None


def _changed_columns(row: Any, item: _Incoming) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    if row.annotations != item.annotations:
        changed["annotations"] = item.annotations
    if row.labels != item.labels:
        changed["labels"] = item.labels
    if row.severity != item.severity:
        changed["severity"] = item.severity
    if row.values != item.values:
        changed["values"] = item.values
    return changed


def _describe(row: Any, changed: Mapping[str, Any]) -> str:
    words = {"annotations": "annotations", "labels": "labels", "values": "details"}
    parts = [
        f"severity {row.severity} -> {changed[name]}" if name == "severity" else words[name]
        for name in changed
    ]
    return ", ".join(parts)


def _apply(
    conn: Connection,
    items: Sequence[_Incoming],
    *,
    source: AlertSource,
    integration: str,
    now: datetime,
    via: str,
    report: IngestReport | None,
) -> dict[str, int]:
    """Open, refresh or resolve each item's alert; the ids of the alerts touched, by
    fingerprint, in the order first named. The last item for a fingerprint wins (as in
    Alertmanager).

    Statements: one locked SELECT; one UPDATE per distinct set of new values (a Prometheus
    re-send of 100 alerts shares its ``endsAt``: one UPDATE); one multi-row INSERT with
    RETURNING for new alerts; one INSERT ... SELECT per distinct event.
    """
    latest: dict[str, _Incoming] = {}
    order: dict[str, None] = {}
    for item in items:
        latest[item.fingerprint] = item
        order.setdefault(item.fingerprint)
    if not latest:
        return {}
    current = _lock_open(conn, list(latest), _COMPARED)
    touched: dict[str, int] = {}
    new: list[_Incoming] = []
    updates = _Batch(alert, conn)
    events = _Batch(alert_event, conn)
    counts = IngestReport()
    for fp, item in latest.items():
        row = current.get(fp)
        if row is None:
            if item.resolved_at is None:
                new.append(item)
            continue
        touched[fp] = row.id
        if item.resolved_at is not None:
            at = max(min(item.resolved_at, now), row.started_at)
            counts.resolved += 1
            updates.add(
                row.id,
                status=AlertStatus.RESOLVED.value,
                open_key=None,
                resolved_at=at,
                ends_at=at,
                last_seen_at=now,
                updated_at=now,
            )
            events.add(
                row.id,
                **_event(now, "resolved", f"resolved by {via}", AlertStatus(row.status)),
            )
            continue
        counts.refreshed += 1
        changed = _changed_columns(row, item)
        if not changed:
            updates.add(row.id, ends_at=item.ends_at, last_seen_at=now)
            continue
        counts.relabelled += bool({"labels", "severity"} & set(changed))
        updates.add(row.id, **changed, ends_at=item.ends_at, last_seen_at=now, updated_at=now)
        # The new values are on the row; the event says what changed, so the events of one
        # re-send are alike and go in as one INSERT ... SELECT.
        message = f"received again from {via}: {_describe(row, changed)} changed"
        events.add(row.id, **_event(now, "received", message, None))
    updates.update()
    if new:
        opened = _insert(conn, new, source=source, integration=integration, now=now)
        counts.opened += len(opened)
        touched |= opened
        for i in new:
            message = f"received from {via}"
            events.add(opened[i.fingerprint], **_event(now, "firing", message, None, i.values))
    events.insert_from_alerts()
    if report is not None:
        for name in ("opened", "refreshed", "resolved", "relabelled"):
            setattr(report, name, getattr(report, name) + getattr(counts, name))
    return {fp: touched[fp] for fp in order if fp in touched}


class _Batch:
    """Rows to write for many alerts, gathered by the values they write: alerts that get the
    same values share one statement (``UPDATE ... WHERE id IN``, ``INSERT ... SELECT``), which
    binds each value once instead of once per row. Past ``_MAX_GROUPS`` distinct value sets it
    falls back to one ``executemany`` per shape of row. Statements are built once per shape
    (``_statement``): building one per call costs more than running it for a single alert.
    """

    def __init__(self, table: sa.Table, conn: Connection) -> None:
        self._table = table
        self._conn = conn
        self._groups: dict[tuple[tuple[str, Any], ...], tuple[dict[str, Any], list[int]]] = {}
        self._rows: dict[tuple[str, ...], list[dict[str, Any]]] | None = None
        """Rows by shape, once there are too many groups to be worth grouping."""

    def add(self, alert_id: int, **values: Any) -> None:
        if self._rows is not None:
            self._rows.setdefault(tuple(values), []).append({"b_id": alert_id, **values})
            return
        key = tuple((name, _hashable(value)) for name, value in values.items())
        group = self._groups.get(key)
        if group is not None:
            group[1].append(alert_id)
            return
        self._groups[key] = (values, [alert_id])
        if len(self._groups) > _MAX_GROUPS:
            self._rows = {}
            for known, ids in self._groups.values():
                rows = self._rows.setdefault(tuple(known), [])
                rows.extend({"b_id": i, **known} for i in ids)
            self._groups.clear()

    def _run(self, verb: str, *, many: bool, rows: list[dict[str, Any]]) -> None:
        names = tuple(name for name in rows[0] if name != "b_id")
        self._conn.execute(_statement(self._table.name, verb, names, many), rows)

    def update(self) -> None:
        """``UPDATE alert`` for every alert added."""
        self._write("update")

    def insert_from_alerts(self) -> None:
        """``INSERT`` one row per alert added, ``alert_id`` being the alert's id."""
        self._write("insert")

    def _write(self, verb: str) -> None:
        for rows in (self._rows or {}).values():
            self._run(verb, many=False, rows=rows)
        for values, ids in self._groups.values():
            if len(ids) == 1:
                self._run(verb, many=False, rows=[{"b_id": ids[0], **values}])
            else:
                self._run(verb, many=True, rows=[{"b_id": ids, **values}])


@lru_cache(maxsize=256)
def _statement(table: str, verb: str, names: tuple[str, ...], many: bool) -> sa.Executable:
    """``UPDATE <table> SET <names> WHERE id = :b_id`` (``id IN :b_id`` when ``many``), or
    ``INSERT INTO alert_event (alert_id, <names>)`` from ``:b_id`` (a SELECT over the alert
    ids when ``many``). Values bind as ``:<name>``."""
    target = alert if table == "alert" else alert_event
    ids: sa.BindParameter[Any] = sa.bindparam("b_id", expanding=many)
    params = {name: sa.bindparam(name, type_=target.c[name].type) for name in names}
    if verb == "update":
        which = target.c.id.in_(ids) if many else target.c.id == ids
        return target.update().where(which).values(params)
    if not many:
        return target.insert().values(alert_id=ids, **params)
    select = sa.select(alert.c.id, *params.values()).where(alert.c.id.in_(ids))
    return target.insert().from_select(["alert_id", *names], select)


_MAX_GROUPS = 8


def _hashable(value: Any) -> Any:
    """A key equal for equal values. The type is part of it: ``1``, ``1.0`` and ``True`` are
    equal in Python but not the same JSON."""
    if isinstance(value, dict):
        try:
            return frozenset((k, v.__class__, v) for k, v in value.items())
        except TypeError:  # nested objects or arrays
            return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, list):
        return json.dumps(value, sort_keys=True, default=str)
    return (value.__class__, value)


def _insert(
    conn: Connection,
    items: Sequence[_Incoming],
    *,
    source: AlertSource,
    integration: str,
    now: datetime,
) -> dict[str, int]:
    rows: list[dict[str, Any]] = [
        {
            "fingerprint": item.fingerprint,
            "open_key": item.fingerprint,
            "source": source.value,
            # The table keeps the integration name in ``rule`` for ingested alerts.
            "rule": integration,
            "integration": integration,
            "dedup_key": item.dedup_key,
            "check_id": None,
            "labels": item.labels,
            "annotations": item.annotations,
            "severity": item.severity,
            "status": AlertStatus.FIRING.value,
            "started_at": item.started_at,
            "fired_at": item.started_at,
            "ends_at": item.ends_at,
            "last_seen_at": now,
            "updated_at": now,
            "values": item.values,
            "silenced_by": [],
        }
        for item in items
    ]
    # RETURNING the open_key too, rather than asking for rows in parameter order: SQLAlchemy
    # can only batch an ordered RETURNING with a sentinel column, and goes row by row without.
    returned = conn.execute(alert.insert().returning(alert.c.id, alert.c.open_key), rows)
    return {open_key: int(alert_id) for alert_id, open_key in returned}


def _event(
    at: datetime,
    kind: str,
    message: str,
    from_status: AlertStatus | None,
    values: Mapping[str, JSONValue] | None = None,
) -> dict[str, Any]:
    to_status = {"firing": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED}.get(kind)
    return {
        "at": at,
        "kind": kind,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value if to_status else None,
        "values": dict(values or {}),
        "message": message,
    }
