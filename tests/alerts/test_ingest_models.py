"""The ingest payload parsers: real payloads accepted, bad ones rejected with the exact text.

Accepted rows are the captured Alertmanager 0.25 webhook messages (../shared/reference/
integrations.md), the newer webhook shape, what Prometheus posts to /api/v2/alerts, and the
examples of PagerDuty's developer docs (events-API-v2/02-Trigger-Events.md).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opsbook.alerts.ingest_models import (
    InvalidPayload,
    PagerDutyPayload,
    PostableAlert,
    decode_json,
    parse_pagerduty_event,
    parse_postable_alerts,
    parse_postable_silence,
    parse_timestamp,
    parse_webhook_alerts,
    parse_webhook_message,
)
from opsbook.alerts.models import Matcher

ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV4"]

# Captured from Alertmanager 0.25.0 (integrations.md, "Captured payload, firing").
AM_FIRING: dict[str, Any] = {
    "receiver": "hook",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HealthCheckFailed",
                "instance": "https://api.example.com/healthz",
                "service": "api",
                "severity": "page",
            },
            "annotations": {
                "runbook_url": "https://runbooks.example.com/api",
                "summary": "api /healthz failing",
            },
            "startsAt": "2026-11-22T13:09:10Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://opsbook.local/checks/api",
            "fingerprint": "f98206f0ff0041f6",
        }
    ],
    "groupLabels": {"alertname": "HealthCheckFailed", "service": "api"},
    "commonLabels": {
        "alertname": "HealthCheckFailed",
        "instance": "https://api.example.com/healthz",
        "service": "api",
        "severity": "page",
    },
    "commonAnnotations": {
        "runbook_url": "https://runbooks.example.com/api",
        "summary": "api /healthz failing",
    },
    "externalURL": "http://127.0.0.1:29393",
    "version": "4",
    "groupKey": '{}/{severity=~"page|warn"}:{alertname="HealthCheckFailed", service="api"}',
    "truncatedAlerts": 0,
}


def am_resolved() -> dict[str, Any]:
    message = copy.deepcopy(AM_FIRING)
    message["status"] = "resolved"
    message["alerts"][0]["status"] = "resolved"
    message["alerts"][0]["endsAt"] = "2026-11-22T13:09:14Z"
    return message


def am_newer() -> dict[str, Any]:
    """Alertmanager >= 0.34: notification_reason (0.32) and routeLabels, plus a key from later."""
    message = copy.deepcopy(AM_FIRING)
    message |= {
        "notification_reason": "first notification",
        "routeLabels": {},
        "somethingNew": {"x": 1},
    }
    return message


# What the Prometheus notifier posts (notifier/notifier.go, the alerts API v2 client).
PROMETHEUS_BATCH = [
    {
        "labels": {"alertname": "HighLatency", "job": "api", "severity": "page"},
        "annotations": {"summary": "p95 is 2.4s"},
        "startsAt": "2026-11-22T13:09:10.123Z",
        "endsAt": "2026-11-22T13:13:10.123456789Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
    },
    {"labels": {"alertname": "Watchdog", "empty": ""}},
]

# PagerDuty's docs example (02-Trigger-Events.md), with a 32-character routing key.
PD_SOURCE = "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
PD_TRIGGER: dict[str, Any] = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": PD_SOURCE,
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": ROUTING_KEY,
    "dedup_key": "samplekeyhere",
    "images": [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}
PD_ACK = {"routing_key": ROUTING_KEY, "dedup_key": "dedupkeyhere", "event_action": "acknowledge"}
PD_RESOLVE = {"routing_key": ROUTING_KEY, "dedup_key": "dedupkeyhere", "event_action": "resolve"}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if key.startswith("payload__"):
            if value is ...:
                out["payload"].pop(key.removeprefix("payload__"))
            else:
                out["payload"][key.removeprefix("payload__")] = value
        elif value is ...:
            out.pop(key)
        else:
            out[key] = value
    return out


def _problems(exc: pytest.ExceptionInfo[InvalidPayload]) -> list[str]:
    return [str(p) for p in exc.value.problems]


# Timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T13:09:10Z", datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)),
        ("2026-11-22T13:09:10.123Z", datetime(2026, 11, 22, 13, 9, 10, 123000, tzinfo=UTC)),
        (
            "2026-11-22T13:09:10.123456789Z",
            datetime(2026, 11, 22, 13, 9, 10, 123456, tzinfo=UTC),
        ),
        ("2026-11-22T14:09:10+01:00", datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)),
        ("2015-07-17T08:42:58.315+0000", datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_it_reads_rfc3339_timestamps(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2026-11-22", "2026-11-22T13:09:10", "yesterday", "1700000000"])
def test_it_refuses_timestamps_without_a_time_or_zone(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_it_says_why_a_body_is_not_json() -> None:
    with pytest.raises(InvalidPayload) as exc:
        decode_json(b'{"labels": ')
    assert _problems(exc) == ["$: not valid JSON (Expecting value at line 1 col 12)"]
    assert exc.value.field == "$"


def test_it_refuses_a_body_that_is_not_utf8() -> None:
    with pytest.raises(InvalidPayload) as exc:
        decode_json(b"\xff\xfe[]")
    assert _problems(exc) == ["$: the body is not UTF-8 text"]


# Alertmanager API v2


def test_it_reads_what_prometheus_posts() -> None:
    first, second = parse_postable_alerts(PROMETHEUS_BATCH)
    assert first == PostableAlert(
        labels={"alertname": "HighLatency", "job": "api", "severity": "page"},
        annotations={"summary": "p95 is 2.4s"},
        starts_at=datetime(2026, 11, 22, 13, 9, 10, 123000, tzinfo=UTC),
        ends_at=datetime(2026, 11, 22, 13, 13, 10, 123456, tzinfo=UTC),
        generator_url="http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
    )
    # Empty label values are dropped, as Alertmanager's removeEmptyLabels does.
    assert second == PostableAlert(labels={"alertname": "Watchdog"}, annotations={})


def test_an_empty_batch_is_fine() -> None:
    assert parse_postable_alerts([]) == []


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"labels": {"a": "b"}}, ["$: must be an array of alerts, not an object"]),
        ([1], ["$[0]: must be an object, not a number"]),
        ([{}], ["$[0].labels: at least one label pair is required"]),
        ([{"labels": {"a": ""}}], ["$[0].labels: at least one label pair is required"]),
        ([{"labels": ["a"]}], ["$[0].labels: must be an object, not an array"]),
        ([{"labels": {"a": 1}}], ["$[0].labels.a: must be a string, not a number"]),
        ([{"labels": {"": "x"}}], ["$[0].labels: has an empty name"]),
        (
            [{"labels": {"a": "b"}, "annotations": {"summary": None}}],
            ["$[0].annotations.summary: must be a string, not null"],
        ),
        (
            [{"labels": {"a": "b"}, "startsAt": "yesterday"}],
            ["$[0].startsAt: is not an RFC 3339 timestamp (e.g. 2026-11-22T13:09:10Z)"],
        ),
        (
            [
                {
                    "labels": {"a": "b"},
                    "startsAt": "2026-11-22T13:09:10Z",
                    "endsAt": "2026-11-22T13:09:09Z",
                }
            ],
            ["$[0].endsAt: is before startsAt"],
        ),
        (
            [{"labels": {"a": "b"}, "generatorURL": 7}],
            ["$[0].generatorURL: must be a string, not a number"],
        ),
        (
            [{"labels": {"a": "b"}}, {"labels": {}}, {"labels": {"c": True}}],
            [
                "$[1].labels: at least one label pair is required",
                "$[2].labels.c: must be a string, not a boolean",
            ],
        ),
    ],
)
def test_it_rejects_bad_alertmanager_alerts(body: object, problems: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_postable_alerts(body)
    assert _problems(exc) == problems
    assert exc.value.field == problems[0].split(":")[0]
    assert exc.value.location == "body"


def test_a_huge_bad_batch_reports_twenty_problems_and_counts_the_rest() -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_postable_alerts([{"labels": {}}] * 100)
    assert len(exc.value.problems) == 20
    assert str(exc.value).endswith("(and 80 more problems)")


def test_it_never_echoes_a_rejected_value() -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_postable_alerts([{"labels": {"a": "b"}, "startsAt": "hunter2-secret"}])
    assert "hunter2" not in str(exc.value)


# Alertmanager webhook


@pytest.mark.parametrize("message", [AM_FIRING, am_resolved(), am_newer()], ids=str)
def test_it_reads_alertmanager_webhook_messages(message: dict[str, Any]) -> None:
    parsed = parse_webhook_message(message)
    assert parsed.group_key == message["groupKey"]
    assert parsed.status == message["status"]
    [alert] = parsed.alerts
    assert alert.labels["alertname"] == "HealthCheckFailed"
    assert alert.fingerprint == "f98206f0ff0041f6"
    assert alert.starts_at == datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)
    if message["status"] == "firing":
        assert alert.ends_at is None  # "0001-01-01T00:00:00Z" means not ended
    else:
        assert alert.ends_at == datetime(2026, 11, 22, 13, 9, 14, tzinfo=UTC)


def test_it_keeps_the_notification_reason_of_newer_alertmanagers() -> None:
    assert parse_webhook_message(am_newer()).notification_reason == "first notification"
    assert parse_webhook_message(AM_FIRING).notification_reason is None


def test_it_accepts_a_receiver_with_regex_escapes() -> None:
    message = copy.deepcopy(AM_FIRING) | {"receiver": "team\\.a"}
    assert parse_webhook_message(message).receiver == "team\\.a"


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"version": "3"}, ['$.version: must be "4" (the Alertmanager webhook payload version)']),
        ({"groupKey": ...}, ["$.groupKey: is missing or blank"]),
        ({"status": "pending"}, ["$.status: must be firing or resolved"]),
        ({"status": ...}, ["$.status: is missing (firing or resolved)"]),
        ({"alerts": {}}, ["$.alerts: must be an array of alerts, not an object"]),
        ({"alerts": ...}, ["$.alerts: must be an array of alerts, not null"]),
        (
            {"alerts": [{"status": "firing", "labels": {}}]},
            ["$.alerts[0].labels: at least one label pair is required"],
        ),
        (
            {"alerts": [{"status": "burning", "labels": {"a": "b"}}]},
            ["$.alerts[0].status: must be firing or resolved"],
        ),
        (
            {"alerts": [{"status": "firing", "labels": {"a": "b"}, "endsAt": "soon"}]},
            ["$.alerts[0].endsAt: is not an RFC 3339 timestamp (e.g. 2026-11-22T13:09:10Z)"],
        ),
    ],
)
def test_it_rejects_bad_alertmanager_webhooks(changes: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_webhook_message(_with(AM_FIRING, **changes))
    assert _problems(exc) == problems


def test_a_webhook_message_must_be_an_object() -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_webhook_message([AM_FIRING])
    assert _problems(exc) == ["$: must be an object, not an array"]


# PagerDuty Events v2


def test_it_reads_pagerdutys_trigger_example() -> None:
    event = parse_pagerduty_event(PD_TRIGGER)
    assert event.routing_key.reveal() == ROUTING_KEY
    assert (event.event_action, event.dedup_key) == ("trigger", "samplekeyhere")
    assert (event.client, event.client_url) == (
        "Sample Monitoring Service",
        "https://monitoring.example.com",
    )
    assert event.payload == PagerDutyPayload(
        summary="Example alert on host1.example.com",
        source=PD_SOURCE,
        severity="info",
        timestamp=datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC),
        component="postgres",
        group="prod-datapipe",
        class_="deploy",
        custom_details={"ping time": "1500ms", "load avg": 0.75},
    )


@pytest.mark.parametrize("body", [PD_ACK, PD_RESOLVE], ids=["acknowledge", "resolve"])
def test_it_reads_pagerdutys_acknowledge_and_resolve_examples(body: dict[str, Any]) -> None:
    event = parse_pagerduty_event(body)
    assert (event.event_action, event.dedup_key, event.payload) == (
        body["event_action"],
        "dedupkeyhere",
        None,
    )


def test_a_trigger_without_dedup_key_is_valid() -> None:
    assert parse_pagerduty_event(_with(PD_TRIGGER, dedup_key=...)).dedup_key is None


def test_the_routing_key_is_kept_as_a_secret() -> None:
    event = parse_pagerduty_event(PD_TRIGGER)
    assert ROUTING_KEY not in repr(event)


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"routing_key": ...}, ["$.routing_key: is missing or blank"]),
        (
            {"routing_key": "samplekeyhere"},
            ["$.routing_key: length is incorrect (should be 32 characters)"],
        ),
        ({"routing_key": 5}, ["$.routing_key: must be a string, not a number"]),
        ({"event_action": ...}, ["$.event_action: is missing or blank"]),
        (
            {"event_action": "fire"},
            ["$.event_action: must be one of trigger, acknowledge, resolve"],
        ),
        ({"dedup_key": "k" * 256}, ["$.dedup_key: is longer than 255 characters (256)"]),
        ({"payload": ...}, ["$.payload: is missing or blank (required to trigger)"]),
        ({"payload": "down"}, ["$.payload: must be an object, not a string"]),
        ({"payload__summary": ...}, ["$.payload.summary: is missing or blank"]),
        ({"payload__summary": "  "}, ["$.payload.summary: is missing or blank"]),
        (
            {"payload__summary": "s" * 1025},
            ["$.payload.summary: is longer than 1024 characters (1025)"],
        ),
        ({"payload__source": ...}, ["$.payload.source: is missing or blank"]),
        ({"payload__severity": ...}, ["$.payload.severity: is missing or blank"]),
        (
            {"payload__severity": "high"},
            ["$.payload.severity: must be one of critical, error, warning, info"],
        ),
        (
            {"payload__timestamp": "17/07/2015"},
            ["$.payload.timestamp: is not an RFC 3339 timestamp (e.g. 2026-11-22T13:09:10Z)"],
        ),
        ({"payload__class": 3}, ["$.payload.class: must be a string, not a number"]),
        ({"links": {"href": "x"}}, ["$.links: must be an array, not an object"]),
        (
            {"routing_key": "short", "event_action": "trigger", "payload": {}},
            [
                "$.routing_key: length is incorrect (should be 32 characters)",
                "$.payload.summary: is missing or blank",
                "$.payload.source: is missing or blank",
                "$.payload.severity: is missing or blank",
            ],
        ),
    ],
)
def test_it_rejects_bad_pagerduty_triggers(changes: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_pagerduty_event(_with(PD_TRIGGER, **changes))
    assert _problems(exc) == problems


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            _with(PD_RESOLVE, dedup_key=...),
            ["$.dedup_key: is missing or blank (required to resolve)"],
        ),
        (
            _with(PD_ACK, dedup_key=""),
            ["$.dedup_key: is missing or blank (required to acknowledge)"],
        ),
        ([PD_ACK], ["$: must be an object, not an array"]),
    ],
)
def test_it_rejects_acknowledge_and_resolve_without_a_key(
    body: object, problems: list[str]
) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_pagerduty_event(body)
    assert _problems(exc) == problems


def test_acknowledge_and_resolve_need_no_payload() -> None:
    event = parse_pagerduty_event(_with(PD_RESOLVE, payload={"summary": 1}))
    assert event.payload is None


# Generic webhook


def test_it_reads_one_webhook_alert_or_an_array() -> None:
    one = {"summary": "disk full on db-1", "labels": {"host": "db-1"}}
    [alert] = parse_webhook_alerts(one, severities=SEVERITIES)
    assert (alert.status, alert.summary, alert.key, alert.severity) == (
        "firing",
        "disk full on db-1",
        None,
        None,
    )
    many = [
        one,
        {
            "summary": "queue backlog",
            "status": "firing",
            "key": "queue-1",
            "severity": "SEV2",
            "labels": {"queue": "emails"},
            "annotations": {"runbook": "queue-backlog"},
            "starts_at": "2026-11-22T13:09:10Z",
            "url": "https://grafana.example.com/d/queues",
        },
        {"status": "resolved", "key": "queue-2"},
        {"summary": "x", "severity": "critical"},
    ]
    parsed = parse_webhook_alerts(many, severities=SEVERITIES)
    assert [a.status for a in parsed] == ["firing", "firing", "resolved", "firing"]
    assert parsed[1].starts_at == datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)
    assert parsed[2].summary is None
    assert parsed[3].severity == "critical"


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ([], ["$: is an empty array (send at least one alert)"]),
        ("down", ["$: must be an object, not a string"]),
        ({}, ["$.summary: is missing or blank (required when firing)"]),
        (
            [{"summary": "a"}, {"status": "firing"}],
            ["$[1].summary: is missing or blank (required when firing)"],
        ),
        ({"summary": "a", "status": "ok"}, ["$.status: must be firing or resolved"]),
        (
            {"summary": "a", "key": " "},
            ["$.key: is blank (leave it out to key on labels and summary)"],
        ),
        ({"summary": "a", "key": "k" * 256}, ["$.key: is longer than 255 characters (256)"]),
        (
            {"summary": "a", "severity": "urgent"},
            ["$.severity: must be one of SEV1, SEV2, SEV3, SEV4, critical, error, warning, info"],
        ),
        ({"summary": "a", "labels": {"x": 1}}, ["$.labels.x: must be a string, not a number"]),
        ({"summary": "a", "url": "ftp://x"}, ["$.url: must be an http:// or https:// URL"]),
        (
            {"summary": "a", "title": "typo"},
            [
                "$.title: is not a known field (use annotations, key, labels, severity, "
                "starts_at, status, summary, url)"
            ],
        ),
    ],
)
def test_it_rejects_bad_webhook_alerts(body: object, problems: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_webhook_alerts(body, severities=SEVERITIES)
    assert _problems(exc) == problems


# Alertmanager silences (what amtool posts)

AMTOOL_SILENCE = {
    "matchers": [
        {"name": "alertname", "value": "HighLatency", "isRegex": False, "isEqual": True},
        {"name": "service", "value": "api|web", "isRegex": True},
    ],
    "startsAt": "2026-11-22T13:09:10.000Z",
    "endsAt": "2026-11-22T14:09:10.000Z",
    "createdBy": "ana",
    "comment": "deploying",
}


def test_it_reads_an_amtool_silence() -> None:
    silence = parse_postable_silence(json.loads(json.dumps(AMTOOL_SILENCE)))
    assert silence.matchers == (
        Matcher("alertname", "HighLatency"),
        Matcher("service", "api|web", is_regex=True),
    )
    assert (silence.created_by, silence.comment, silence.id) == ("ana", "deploying", None)
    assert silence.ends_at == datetime(2026, 11, 22, 14, 9, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"matchers": []}, ["$.matchers: must be a non-empty array of matchers"]),
        ({"matchers": [{"value": "x"}]}, ["$.matchers[0].name: is missing or blank"]),
        (
            {"matchers": [{"name": "a", "value": "x", "isRegex": "yes"}]},
            ["$.matchers[0].isRegex: must be true or false, not a string"],
        ),
        ({"endsAt": ...}, ["$.endsAt: is missing (an RFC 3339 timestamp)"]),
        ({"createdBy": ""}, ["$.createdBy: is missing or blank"]),
        ({"comment": ...}, ["$.comment: is missing or blank"]),
    ],
)
def test_it_rejects_bad_silences(changes: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_postable_silence(_with(AMTOOL_SILENCE, **changes))
    assert _problems(exc) == problems
