"""Ingesting alerts into the store: dedup, refresh, resolve, episodes, severities (both stores)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alert_helpers import alertmanager_webhook, pagerduty_trigger
from opsbook.alerts import ingest
from opsbook.alerts.ingest_models import (
    parse_pagerduty_event,
    parse_postable_alerts,
    parse_webhook_alerts,
    parse_webhook_message,
)
from opsbook.alerts.models import Alert, AlertStatus
from opsbook.alerts.records import alert_events, fingerprint
from opsbook.alerts.service import list_alerts
from opsbook.config import Config
from opsbook.errors import NotFound
from opsbook.redaction import Secret

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
s = timedelta(seconds=1)
PROM_TOKEN = "prom-token-0123456789"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
PD_KEY_2 = "f93facc04764012d7bfb002500d5d1a7"

CONFIG = Config.model_validate(
    {
        "service": "t",
        "alerting": {"resolve_timeout": "2m"},
        "integrations": {
            "prom": {"alertmanager": {"token": PROM_TOKEN}, "labels": {"team": "core"}},
            "prom-b": {"alertmanager": {"token": "prom-b-token-0123456789"}, "severity": "SEV2"},
            "pd": {"pagerduty": {"routing_key": PD_KEY}},
            "pd-b": {"pagerduty": {"routing_key": PD_KEY_2}},
            "hook": {"webhook": {"token": "hook-token-0123456789"}, "severity": "SEV3"},
        },
    }
)


def post(
    engine: Engine, alerts: list[dict[str, Any]], *, at: datetime, integration: str = "prom"
) -> int:
    with engine.begin() as conn:
        return ingest.ingest_alertmanager_alerts(
            conn,
            config=CONFIG,
            integration=integration,
            alerts=parse_postable_alerts(alerts),
            now=at,
        )


def pd(engine: Engine, body: dict[str, Any], *, at: datetime, integration: str = "pd") -> str:
    with engine.begin() as conn:
        return ingest.ingest_pagerduty(
            conn,
            config=CONFIG,
            integration=integration,
            event=parse_pagerduty_event(body),
            now=at,
        )


def hook(engine: Engine, body: object, *, at: datetime) -> list[Alert]:
    with engine.begin() as conn:
        return ingest.ingest_webhook(
            conn,
            config=CONFIG,
            integration="hook",
            items=parse_webhook_alerts(body, severities=list(CONFIG.severities)),
            now=at,
        )


def alerts(engine: Engine) -> list[Alert]:
    with engine.connect() as conn:
        return sorted(list_alerts(conn, limit=1000), key=lambda a: a.id)


def events(engine: Engine, alert_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(e.kind, e.message) for e in alert_events(conn, alert_id)]


def one_open(engine: Engine) -> Alert:
    [found] = [a for a in alerts(engine) if a.status is AlertStatus.FIRING]
    return found


HIGH_LATENCY = {
    "labels": {"alertname": "HighLatency", "service": "api", "severity": "page"},
    "annotations": {"summary": "p95 is 2.4s"},
    "startsAt": "2026-11-22T12:58:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
}


# Alertmanager API v2


def test_a_posted_alert_opens_one_firing_alert(engine: Engine) -> None:
    assert post(engine, [HIGH_LATENCY], at=T0) == 1
    found = one_open(engine)
    labels = {
        "alertname": "HighLatency",
        "service": "api",
        "severity": "page",
        "team": "core",
        "integration": "prom",
    }
    assert found.labels == labels
    # The same hash Alertmanager computes over this label set (model.LabelSet.Fingerprint).
    assert found.fingerprint == fingerprint(labels)
    assert found.annotations == {"summary": "p95 is 2.4s"}
    assert (found.source.value, found.integration, found.severity) == (
        "alertmanager",
        "prom",
        "SEV4",
    )
    assert found.started_at == datetime(2026, 11, 22, 12, 58, tzinfo=UTC)
    assert found.ends_at == T0 + timedelta(minutes=2)  # alerting.resolve_timeout
    assert found.values == {"generator_url": "http://prometheus:9090/graph?g0.expr=x"}
    assert events(engine, found.id) == [
        ("firing", "received from Alertmanager API integration prom")
    ]


def test_the_same_batch_twice_leaves_one_open_alert_and_no_new_event(engine: Engine) -> None:
    post(engine, [HIGH_LATENCY], at=T0)
    post(engine, [HIGH_LATENCY], at=T0 + 30 * s)
    found = one_open(engine)
    assert len(alerts(engine)) == 1
    assert found.last_seen_at == T0 + 30 * s
    assert found.ends_at == T0 + 30 * s + timedelta(minutes=2)
    assert found.updated_at == T0  # nothing anyone would see changed
    assert len(events(engine, found.id)) == 1


def test_a_resend_with_new_annotations_updates_them_without_an_event(engine: Engine) -> None:
    post(engine, [HIGH_LATENCY], at=T0)
    changed = copy.deepcopy(HIGH_LATENCY)
    changed["annotations"]["summary"] = "p95 is 3.1s"
    post(engine, [changed], at=T0 + 30 * s)
    found = one_open(engine)
    assert found.annotations == {"summary": "p95 is 3.1s"}
    assert found.updated_at == T0 + 30 * s
    # Only a change that may re-route the alert (labels, severity) leaves an event.
    assert [k for k, _ in events(engine, found.id)] == ["firing"]


def test_ends_at_in_the_past_resolves_the_open_alert(engine: Engine) -> None:
    post(engine, [HIGH_LATENCY], at=T0)
    post(engine, [HIGH_LATENCY | {"endsAt": "2026-11-22T13:00:20Z"}], at=T0 + 30 * s)
    [found] = alerts(engine)
    assert found.status is AlertStatus.RESOLVED
    assert found.resolved_at == T0 + 20 * s
    assert [kind for kind, _ in events(engine, found.id)] == ["firing", "resolved"]
    # Prometheus keeps re-sending resolved alerts for a while: nothing more happens.
    post(engine, [HIGH_LATENCY | {"endsAt": "2026-11-22T13:00:20Z"}], at=T0 + 60 * s)
    assert len(events(engine, found.id)) == 2


def test_a_resolved_alert_nobody_knows_changes_nothing(engine: Engine) -> None:
    post(engine, [HIGH_LATENCY | {"endsAt": "2026-11-22T12:59:00Z"}], at=T0)
    assert alerts(engine) == []


def test_a_firing_alert_after_a_resolve_opens_a_new_episode(engine: Engine) -> None:
    post(engine, [HIGH_LATENCY], at=T0)
    post(engine, [HIGH_LATENCY | {"endsAt": "2026-11-22T13:00:10Z"}], at=T0 + 10 * s)
    post(engine, [HIGH_LATENCY], at=T0 + 60 * s)
    first, second = alerts(engine)
    assert (first.status, second.status) == (AlertStatus.RESOLVED, AlertStatus.FIRING)
    assert first.fingerprint == second.fingerprint


def test_omitted_times_follow_alertmanager(engine: Engine) -> None:
    post(engine, [{"labels": {"alertname": "Bare"}}], at=T0)
    found = one_open(engine)
    assert (found.started_at, found.ends_at) == (T0, T0 + timedelta(minutes=2))
    # No startsAt but an endsAt already passed: it starts and ends then, and never opens.
    post(engine, [{"labels": {"alertname": "Gone"}, "endsAt": "2026-11-22T12:00:00Z"}], at=T0)
    assert len(alerts(engine)) == 1


@pytest.mark.parametrize(
    ("integration", "sent", "severity", "label"),
    [
        ("prom", "SEV2", "SEV2", "SEV2"),
        ("prom", "sev1", "SEV1", "sev1"),
        ("prom", "page", "SEV4", "page"),  # not configured: the lowest, label kept
        ("prom", None, "SEV4", "SEV4"),
        ("prom-b", "critical", "SEV2", "critical"),  # the integration's severity
        ("prom-b", None, "SEV2", "SEV2"),
    ],
)
def test_severity_comes_from_the_label_the_integration_or_the_lowest(
    engine: Engine, integration: str, sent: str | None, severity: str, label: str
) -> None:
    labels = {"alertname": "X"} | ({"severity": sent} if sent else {})
    post(engine, [{"labels": labels}], at=T0, integration=integration)
    found = one_open(engine)
    assert (found.severity, found.labels["severity"]) == (severity, label)


def test_a_sender_cannot_claim_another_integration_or_override_config_labels(
    engine: Engine,
) -> None:
    post(engine, [{"labels": {"alertname": "X", "integration": "pd", "team": "other"}}], at=T0)
    found = one_open(engine)
    assert (found.labels["integration"], found.labels["team"]) == ("prom", "core")


def test_two_integrations_never_share_an_alert(engine: Engine) -> None:
    post(engine, [{"labels": {"alertname": "X"}}], at=T0, integration="prom")
    post(engine, [{"labels": {"alertname": "X"}}], at=T0, integration="prom-b")
    assert [a.integration for a in alerts(engine)] == ["prom", "prom-b"]


def test_within_one_batch_the_last_alert_for_a_fingerprint_wins(engine: Engine) -> None:
    post(
        engine,
        [
            {"labels": {"alertname": "X"}, "annotations": {"n": "1"}},
            {"labels": {"alertname": "X"}, "annotations": {"n": "2"}},
        ],
        at=T0,
    )
    assert one_open(engine).annotations == {"n": "2"}


class _Statements:
    def __init__(self, engine: Engine) -> None:
        self.selects = 0
        self.total = 0
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        self.total += 1
        self.selects += statement.lstrip().upper().startswith("SELECT")


def test_a_batch_of_100_is_a_handful_of_statements(engine: Engine) -> None:
    batch = [
        {"labels": {"alertname": "HighLatency", "service": f"svc-{i:03}"}, "annotations": {}}
        for i in range(100)
    ]
    counter = _Statements(engine)
    post(engine, batch, at=T0)
    assert counter.selects == 1
    assert counter.total <= 5
    counter.selects = counter.total = 0
    resend = [a | {"annotations": {"seq": "2"}} for a in batch[:50]] + batch[50:]
    post(engine, resend, at=T0 + 30 * s)
    assert counter.selects == 1
    assert counter.total <= 5
    found = alerts(engine)
    assert len(found) == 100
    assert sum(1 for a in found if a.annotations == {"seq": "2"}) == 50


def test_a_batch_where_every_alert_changes_differently_is_written_in_full(
    engine: Engine,
) -> None:
    batch = [{"labels": {"alertname": "Disk", "host": f"h{i}"}} for i in range(30)]
    post(engine, batch, at=T0)
    changed = [
        a | {"annotations": {"summary": f"disk {i}% full"}, "endsAt": f"2026-11-22T13:{10 + i}:00Z"}
        for i, a in enumerate(batch[:20])
    ]
    resolved = [a | {"endsAt": f"2026-11-22T13:00:{10 + i}Z"} for i, a in enumerate(batch[20:])]
    post(engine, changed + resolved, at=T0 + 60 * s)
    found = {a.labels["host"]: a for a in alerts(engine)}
    for i in range(20):
        assert found[f"h{i}"].annotations == {"summary": f"disk {i}% full"}
        assert found[f"h{i}"].ends_at == datetime(2026, 11, 22, 13, 10 + i, tzinfo=UTC)
        assert [k for k, _ in events(engine, found[f"h{i}"].id)] == ["firing"]
    for i in range(20, 30):
        assert found[f"h{i}"].status is AlertStatus.RESOLVED
        assert found[f"h{i}"].resolved_at == T0 + (i - 10) * s
        assert [k for k, _ in events(engine, found[f"h{i}"].id)] == ["firing", "resolved"]


def test_an_unknown_integration_is_not_found_and_changes_nothing(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no alertmanager integration named 'pd'"):
        post(engine, [HIGH_LATENCY], at=T0, integration="pd")
    assert alerts(engine) == []


# Alertmanager webhook

AM_FIRING = alertmanager_webhook(starts_at="2026-11-22T12:59:10Z")


def webhook(engine: Engine, message: dict[str, Any], *, at: datetime) -> int:
    with engine.begin() as conn:
        return ingest.ingest_alertmanager_webhook(
            conn,
            config=CONFIG,
            integration="prom",
            message=parse_webhook_message(message),
            now=at,
        )


def test_an_alertmanager_webhook_opens_and_then_resolves(engine: Engine) -> None:
    assert webhook(engine, AM_FIRING, at=T0) == 1
    found = one_open(engine)
    assert found.ends_at is None  # Alertmanager sends the resolve; nothing expires it here
    assert found.started_at == datetime(2026, 11, 22, 12, 59, 10, tzinfo=UTC)
    webhook(engine, AM_FIRING, at=T0 + 5 * s)  # a retry of the same notification
    assert len(alerts(engine)) == 1
    resolved = copy.deepcopy(AM_FIRING)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-22T13:00:07Z"
    webhook(engine, resolved, at=T0 + 10 * s)
    [closed] = alerts(engine)
    assert (closed.status, closed.resolved_at) == (AlertStatus.RESOLVED, T0 + 7 * s)
    assert [kind for kind, _ in events(engine, closed.id)] == ["firing", "resolved"]


def test_the_webhook_and_the_api_agree_on_fingerprints(engine: Engine) -> None:
    webhook(engine, AM_FIRING, at=T0)
    post(engine, [{"labels": AM_FIRING["alerts"][0]["labels"]}], at=T0)
    assert len(alerts(engine)) == 1


# PagerDuty Events v2


def trigger(**changes: Any) -> dict[str, Any]:
    body = pagerduty_trigger(
        PD_KEY, client="Sample Monitoring Service", client_url="https://monitoring.example.com"
    )
    body["payload"] |= {"component": "mysql", "group": "prod-datapipe", "class": "disk"}
    for key, value in changes.items():
        if key in body["payload"] or key == "timestamp":
            body["payload"][key] = value
        else:
            body[key] = value
    return body


def test_a_trigger_opens_an_alert_with_pagerduty_fields(engine: Engine) -> None:
    assert pd(engine, trigger(), at=T0) == "srv01/HTTP"
    found = one_open(engine)
    assert found.labels == {
        "alertname": "disk",
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "integration": "pd",
        "severity": "SEV1",
    }
    assert found.annotations == {
        "summary": "DISK at 99% on machine prod-datapipe03.example.com",
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }
    assert found.values == {"free space": "1%"}
    assert (found.source.value, found.dedup_key, found.severity) == (
        "pagerduty",
        "srv01/HTTP",
        "SEV1",
    )


def test_alertname_falls_back_to_component_then_pagerduty(engine: Engine) -> None:
    pd(engine, trigger(dedup_key="a", **{"class": None}), at=T0)
    pd(engine, trigger(dedup_key="b", **{"class": None, "component": None}), at=T0)
    assert [a.labels["alertname"] for a in alerts(engine)] == ["mysql", "pagerduty"]


@pytest.mark.parametrize(
    ("word", "severities", "expected"),
    [
        ("critical", None, "SEV1"),
        ("error", None, "SEV2"),
        ("warning", None, "SEV3"),
        ("info", None, "SEV4"),
        ("warning", {"P1": {"respond_within": "1h"}, "P2": {"respond_within": "1d"}}, "P2"),
        ("error", {"P1": {"respond_within": "1h"}, "P2": {"respond_within": "1d"}}, "P2"),
        ("critical", {"P1": {"respond_within": "1h"}, "P2": {"respond_within": "1d"}}, "P1"),
        ("info", {"P1": {"respond_within": "1h"}}, "P1"),
    ],
)
def test_pagerduty_severities_map_onto_the_configured_ones(
    word: str, severities: dict[str, Any] | None, expected: str
) -> None:
    config = Config.model_validate(
        {"service": "t"} | ({"severities": severities} if severities else {})
    )
    assert ingest.pagerduty_severity(config, word) == expected


def test_the_same_trigger_twice_is_one_alert(engine: Engine) -> None:
    pd(engine, trigger(), at=T0)
    pd(engine, trigger(), at=T0 + 60 * s)
    found = one_open(engine)
    assert len(alerts(engine)) == 1
    assert found.last_seen_at == T0 + 60 * s
    assert len(events(engine, found.id)) == 1


def test_a_trigger_with_a_new_severity_updates_it(engine: Engine) -> None:
    pd(engine, trigger(), at=T0)
    pd(engine, trigger(severity="warning"), at=T0 + 60 * s)
    found = one_open(engine)
    assert (found.severity, found.labels["severity"]) == ("SEV3", "SEV3")
    assert events(engine, found.id)[-1] == (
        "received",
        "received again from PagerDuty integration pd: labels, severity SEV1 -> SEV3 changed",
    )


def test_acknowledge_marks_the_alert_once(engine: Engine) -> None:
    pd(engine, trigger(), at=T0)
    ack = {"routing_key": PD_KEY, "event_action": "acknowledge", "dedup_key": "srv01/HTTP"}
    assert pd(engine, ack, at=T0 + 10 * s) == "srv01/HTTP"
    pd(engine, ack, at=T0 + 20 * s)
    found = one_open(engine)
    assert found.acknowledged_at == T0 + 10 * s
    assert [kind for kind, _ in events(engine, found.id)] == ["firing", "acknowledged"]
    pd(engine, trigger(), at=T0 + 30 * s)  # stays acknowledged, as in PagerDuty
    assert one_open(engine).acknowledged_at == T0 + 10 * s


def test_resolve_then_trigger_opens_a_new_alert(engine: Engine) -> None:
    pd(engine, trigger(), at=T0)
    resolve = {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "srv01/HTTP"}
    pd(engine, resolve, at=T0 + 10 * s)
    pd(engine, resolve, at=T0 + 20 * s)  # resolving a resolved key: dropped
    [closed] = alerts(engine)
    assert (closed.status, closed.resolved_at) == (AlertStatus.RESOLVED, T0 + 10 * s)
    assert [kind for kind, _ in events(engine, closed.id)] == ["firing", "resolved"]
    pd(engine, trigger(), at=T0 + 30 * s)
    assert [a.status for a in alerts(engine)] == [AlertStatus.RESOLVED, AlertStatus.FIRING]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_of_an_unknown_key_is_dropped(engine: Engine, action: str) -> None:
    body = {"routing_key": PD_KEY, "event_action": action, "dedup_key": "nobody"}
    assert pd(engine, body, at=T0) == "nobody"
    assert alerts(engine) == []


def test_dedup_is_per_routing_key(engine: Engine) -> None:
    pd(engine, trigger(), at=T0, integration="pd")
    pd(engine, trigger(routing_key=PD_KEY_2), at=T0, integration="pd-b")
    resolve = {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "srv01/HTTP"}
    pd(engine, resolve, at=T0 + 10 * s, integration="pd")
    assert [(a.integration, a.status) for a in alerts(engine)] == [
        ("pd", AlertStatus.RESOLVED),
        ("pd-b", AlertStatus.FIRING),
    ]


def test_a_trigger_without_dedup_key_gets_one_and_a_retry_reuses_it(engine: Engine) -> None:
    body = trigger()
    del body["dedup_key"]
    key = pd(engine, body, at=T0)
    assert len(key) == 32
    assert pd(engine, body, at=T0 + 5 * s) == key
    assert len(alerts(engine)) == 1
    assert pd(engine, body | {"payload": body["payload"] | {"summary": "other"}}, at=T0) != key


def test_the_routing_key_is_matched_in_constant_time_against_every_integration() -> None:
    assert ingest.integration_for_routing_key(CONFIG, Secret(PD_KEY_2)) == "pd-b"
    assert ingest.integration_for_routing_key(CONFIG, Secret("x" * 32)) is None
    assert ingest.integration_for_token(CONFIG, PROM_TOKEN, kind="alertmanager") == "prom"
    assert ingest.integration_for_token(CONFIG, PROM_TOKEN, kind="webhook") is None


# Generic webhook


def test_a_webhook_alert_opens_refreshes_and_resolves_by_key(engine: Engine) -> None:
    [opened] = hook(engine, {"summary": "queue backlog", "key": "queue-1"}, at=T0)
    assert (opened.status, opened.dedup_key, opened.severity) == (
        AlertStatus.FIRING,
        "queue-1",
        "SEV3",
    )
    assert opened.labels == {
        "alertname": "queue backlog",
        "integration": "hook",
        "severity": "SEV3",
    }
    [again] = hook(engine, {"summary": "queue backlog", "key": "queue-1"}, at=T0 + s)
    assert again.id == opened.id
    [closed] = hook(engine, {"status": "resolved", "key": "queue-1"}, at=T0 + 2 * s)
    assert (closed.id, closed.status) == (opened.id, AlertStatus.RESOLVED)
    assert hook(engine, {"status": "resolved", "key": "queue-1"}, at=T0 + 3 * s) == []


def test_a_webhook_alert_without_key_is_keyed_on_labels_and_summary(engine: Engine) -> None:
    body = {"summary": "disk full", "labels": {"host": "db-1"}, "severity": "critical"}
    [first] = hook(engine, body, at=T0)
    [second] = hook(engine, body, at=T0 + s)
    [other] = hook(engine, body | {"labels": {"host": "db-2"}}, at=T0 + s)
    assert first.id == second.id != other.id
    assert first.severity == "SEV1"
    [closed] = hook(engine, body | {"status": "resolved"}, at=T0 + 2 * s)
    assert (closed.id, closed.status) == (first.id, AlertStatus.RESOLVED)


def test_a_webhook_batch_answers_in_the_order_sent(engine: Engine) -> None:
    touched = hook(
        engine,
        [{"summary": "b", "key": "b"}, {"summary": "a", "key": "a"}, {"summary": "c", "key": "c"}],
        at=T0,
    )
    assert [a.dedup_key for a in touched] == ["b", "a", "c"]
