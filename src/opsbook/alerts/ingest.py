"""Alerts from outside: Alertmanager API v2 and webhooks, PagerDuty Events v2, generic webhooks.

Each ``ingest_*`` function runs in the caller's transaction; the web layer commits before it
answers 2xx, so an acknowledged alert survives a crash. All of them share one write path
(``ingest_writes.apply_writes``):

- one bulk read of the open alerts for every fingerprint in the request (locked for the
  transaction: ``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on PostgreSQL), then writes
  grouped by the values they set. A 100-alert batch is a handful of statements, never one
  SELECT per alert;
- idempotent: a firing alert whose fingerprint is open refreshes ``last_seen_at`` / ``ends_at``
  (and its annotations and details), and leaves an event only when its labels or severity
  changed (its routing may have); a resolve for an unknown or closed fingerprint changes
  nothing;
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
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.ingest_models import (
    PagerDutyEvent,
    PostableAlert,
    WebhookAlert,
    WebhookMessage,
)
from opsbook.alerts.ingest_writes import (
    Incoming,
    IngestReport,
    Writes,
    apply_writes,
    lock_open,
)
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.records import add_event, fingerprint, row_to_alert, set_status
from opsbook.alerts.tables import alert
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
    writes = alertmanager_writes(config=config, integration=integration, alerts=alerts, now=now)
    _write(conn, writes, report)
    return len(alerts)


def alertmanager_writes(
    *, config: Config, integration: str, alerts: Sequence[PostableAlert], now: datetime
) -> Writes:
    """What ``ingest_alertmanager_alerts`` writes, worked out without the store (for group
    commit: ``apply_writes`` many requests' at once). Raises ``NotFound`` for an unknown
    integration."""
    spec = _integration(config, integration, "alertmanager")
    default_ends = now + config.alerting.resolve_timeout
    # Worked out once per request, not per alert: this loop runs for every alert received.
    fixed = {**spec.labels, INTEGRATION_LABEL: integration}
    names = tuple(config.severities)
    items: list[Incoming] = []
    for sent in alerts:
        sent_labels = sent.labels
        labels = {**sent_labels, **fixed}
        fp = _fingerprint_cached(tuple(sorted(labels.items())))
        ends_at = sent.ends_at if sent.ends_at is not None else default_ends
        starts_at = sent.starts_at if sent.starts_at is not None else min(now, ends_at)
        severity = _severity_cached(names, spec.severity, sent_labels.get("severity"))
        items.append(
            Incoming(
                fingerprint=fp,
                # ``labels`` is this alert's own copy: it is used as is when it already has
                # both labels every alert carries (what Prometheus sends).
                labels=labels
                if "alertname" in labels and "severity" in labels
                else _with_defaults(labels, config, spec, alertname=integration),
                annotations=dict(sent.annotations),
                severity=severity,
                started_at=starts_at if starts_at < now else now,
                ends_at=ends_at,
                values=_link(sent.generator_url),
                resolved_at=ends_at if ends_at <= now else None,
            )
        )
    via = f"Alertmanager API integration {integration}"
    return Writes(items, AlertSource.ALERTMANAGER, integration, via, now)


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
    writes = alertmanager_webhook_writes(
        config=config, integration=integration, message=message, now=now
    )
    _write(conn, writes, report)
    return len(message.alerts)


def alertmanager_webhook_writes(
    *, config: Config, integration: str, message: WebhookMessage, now: datetime
) -> Writes:
    """What ``ingest_alertmanager_webhook`` writes, worked out without the store."""
    spec = _integration(config, integration, "alertmanager")
    items: list[Incoming] = []
    for sent in message.alerts:
        labels, fp = _identity(sent.labels, integration, spec)
        resolved = sent.status == "resolved"
        ended = sent.ends_at if sent.ends_at is not None else now
        items.append(
            Incoming(
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
    via = f"Alertmanager webhook integration {integration}"
    return Writes(items, AlertSource.ALERTMANAGER, integration, via, now)


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
        item = Incoming(
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
        _write(conn, Writes([item], AlertSource.PAGERDUTY, integration, via, now), report)
        return key
    key = event.dedup_key or ""
    if not key:
        raise InputError(
            f"dedup_key is required to {event.event_action}", field="$.dedup_key", location="body"
        )
    row = lock_open(conn, [_keyed_fingerprint(integration, key)], [alert])
    found = row_to_alert(row.popitem()[1]) if row else None
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
    incoming: list[Incoming] = []
    for sent in items:
        key = webhook_key(sent)
        fp = _keyed_fingerprint(integration, key)
        if sent.status == "resolved":
            # Only the fingerprint and the time matter to a resolve.
            incoming.append(
                Incoming(
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
            Incoming(
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
    via = f"webhook integration {integration}"
    touched = _write(conn, Writes(incoming, AlertSource.WEBHOOK, integration, via, now), report)
    rows = conn.execute(sa.select(alert).where(alert.c.id.in_(list(touched.values()))))
    by_id = {row.id: row_to_alert(row) for row in rows}
    return [by_id[alert_id] for alert_id in touched.values()]


def _write(conn: Connection, writes: Writes, report: IngestReport | None) -> dict[str, int]:
    [done] = apply_writes(conn, [writes])
    if report is not None:
        report.add(done.report)
    return done.touched


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
    # ``getattr``, not ``spec.kind``: an integration sets exactly one of the kinds (validated),
    # and this runs on every ingest request.
    if spec is None or getattr(spec, kind, None) is None:
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


_FINGERPRINTS: dict[bytes, str] = {}
_encode_key = msgspec.json.Encoder().encode
FINGERPRINT_CACHE_MAX = 16384


def _fingerprint_cached(items: tuple[tuple[str, str], ...]) -> str:
    # Prometheus re-sends the same label sets every evaluation; FNV over each byte in Python
    # is the costliest step of a batch, and this makes it a dict lookup. The cache is keyed by
    # a 128-bit digest of the labels, not the labels themselves: an lru_cache kept every label
    # set it saw (~7 MB per 1,000 alerts of 60 labels), scattered objects that kept whole heap
    # pages from being returned after a burst (bench/memory_trace.py). The label set as JSON
    # (msgspec, in C) is unambiguous and a third of the cost of its ``repr``; ``repr`` serves
    # for text UTF-8 cannot hold (a lone surrogate in a key no reader checked).
    try:
        text = _encode_key(items)
    except UnicodeEncodeError:
        text = repr(items).encode()
    key = hashlib.blake2b(text, digest_size=16).digest()
    found = _FINGERPRINTS.get(key)
    if found is None:
        found = fingerprint(dict(items))
        if len(_FINGERPRINTS) >= FINGERPRINT_CACHE_MAX:
            _FINGERPRINTS.clear()  # a bound, not an LRU: a full cache is rare and cheap to refill
        _FINGERPRINTS[key] = found
    return found


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
