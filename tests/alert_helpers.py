"""Shared by the alerting tests of alerts/, cli/ and web/: rule alerts opened straight in the
store, the stored alerts read back, and the senders' payloads (an Alertmanager webhook message, a
PagerDuty trigger)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts import records
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.tables import alert


def hold_alert_engine(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop ``app``'s own alert engine from judging for the rest of the test.

    Its passes (the first at start, in a thread) judge the rule alerts a test writes straight
    into the store, which have no episode behind them, and resolved them before the test read
    them back (in full runs only). What the engine decides is tests/alerts' subject; a test
    that seeds alerts to see how they are shown holds the engine with this, best before the
    app starts. A pass already under way ends before this returns; one whose thread has not
    taken the engine's lock yet still judges, once."""
    alerts = app.state.services.alerts
    monkeypatch.setattr(alerts, "evaluate", lambda *args, **kwargs: None)
    with alerts._lock:
        pass


def open_rule_alert(
    conn: Connection,
    rule: str,
    *,
    check: str,
    now: datetime,
    status: AlertStatus = AlertStatus.FIRING,
    labels: Mapping[str, str] | None = None,
    message: str | None = None,
    **columns: Any,
) -> int:
    """Open an SEV1 alert of ``rule`` on ``check`` with ``records.open_alert``; returns its id.

    Its labels are alertname, severity and check, plus ``labels``; the message defaults to
    "<rule> <status>". ``columns`` go to ``open_alert`` as they are (annotations, values, ...).
    """
    all_labels = {"alertname": rule, "severity": "SEV1", "check": check, **(labels or {})}
    return records.open_alert(
        conn,
        fingerprint=records.fingerprint(all_labels),
        source=AlertSource.RULE,
        rule=rule,
        check_id=check,
        labels=all_labels,
        severity="SEV1",
        status=status,
        now=now,
        message=message if message is not None else f"{rule} {status.value}",
        **columns,
    )


def stored_alerts(engine: Engine, rule: str | None = None) -> list[Alert]:
    """Every alert row (of ``rule``, if given), open or not, oldest first."""
    query = sa.select(alert).order_by(alert.c.id)
    if rule is not None:
        query = query.where(alert.c.rule == rule)
    with engine.connect() as conn:
        return [records.row_to_alert(r) for r in conn.execute(query)]


def alertmanager_webhook(*, starts_at: str, **fields: Any) -> dict[str, Any]:
    """An Alertmanager v4 webhook message (the shape of the 0.25 capture in
    alerts/test_ingest_models.py) with one alert, HealthCheckFailed on api, firing since
    ``starts_at``; ``fields`` replace or add top-level keys."""
    message: dict[str, Any] = {
        "receiver": "hook",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HealthCheckFailed", "service": "api", "severity": "page"},
                "annotations": {"summary": "api /healthz failing"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://opsbook.local/checks/api",
                "fingerprint": "f98206f0ff0041f6",
            }
        ],
        "groupLabels": {"alertname": "HealthCheckFailed"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:29393",
        "version": "4",
        "groupKey": '{}:{alertname="HealthCheckFailed"}',
        "truncatedAlerts": 0,
    }
    return message | fields


def pagerduty_trigger(routing_key: str, **fields: Any) -> dict[str, Any]:
    """A PagerDuty Events v2 trigger for a full disk on prod-datapipe03, critical, with dedup key
    ``srv01/HTTP``; ``fields`` replace or add top-level keys."""
    trigger: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": "srv01/HTTP",
        "payload": {
            "summary": "DISK at 99% on machine prod-datapipe03.example.com",
            "source": "prod-datapipe03.example.com",
            "severity": "critical",
            "custom_details": {"free space": "1%"},
        },
    }
    return trigger | fields
