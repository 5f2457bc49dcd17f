"""The webhook body is Alertmanager's webhook message (version 4), plus an ``opsbook`` key."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from notify_helpers import HMAC_SECRET, T0, make_alert, make_notice

from opsbook.alerts.ingest_models import decode_json, parse_webhook_message
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.records import fingerprint
from opsbook.notify import render_alertmanager_payload, sign, webhook
from opsbook.notify.webhook import display_url, encode, rfc3339


def test_a_firing_notice_is_alertmanagers_message_exactly() -> None:
    api = make_alert(labels={"component": "api"})
    checkout = make_alert(
        alert_id=2,
        labels={"component": "shop", "check": "checkout"},
        check_id="checkout",
        annotations={"summary": "checkout down", "runbook": "site-down"},
        values={"status": 502},
        fired_at=T0 + timedelta(seconds=1, microseconds=250000),
    )
    notice = make_notice(api, checkout)
    assert render_alertmanager_payload(notice) == {
        "version": "4",
        "groupKey": 'oncall:{alertname="api-down"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "oncall",
        "groupLabels": {"alertname": "api-down"},
        "commonLabels": {"alertname": "api-down", "severity": "SEV1"},
        "commonAnnotations": {"runbook": "site-down"},
        "externalURL": "https://ops.example.com",
        "notification_reason": "first notification",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "api-down",
                    "severity": "SEV1",
                    "check": "api",
                    "component": "api",
                },
                "annotations": {
                    "summary": "api down: [STATUS] (500) == 200",
                    "runbook": "site-down",
                },
                "startsAt": "2026-11-22T13:09:10Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://ops.example.com/alerts/1",
                "fingerprint": fingerprint(
                    {
                        "alertname": "api-down",
                        "severity": "SEV1",
                        "check": "api",
                        "component": "api",
                    }
                ),
            },
            {
                "status": "firing",
                "labels": {
                    "alertname": "api-down",
                    "severity": "SEV1",
                    "check": "checkout",
                    "component": "shop",
                },
                "annotations": {"summary": "checkout down", "runbook": "site-down"},
                "startsAt": "2026-11-22T13:09:11.25Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://ops.example.com/alerts/2",
                "fingerprint": fingerprint(
                    {
                        "alertname": "api-down",
                        "severity": "SEV1",
                        "check": "checkout",
                        "component": "shop",
                    }
                ),
            },
        ],
        "opsbook": {
            "notice": 'oncall:{alertname="api-down"}#1',
            "alerts": [
                {
                    "id": 1,
                    "severity": "SEV1",
                    "values": {"status": 500, "latency_ms": 12.5},
                    "check": "api",
                },
                {"id": 2, "severity": "SEV1", "values": {"status": 502}, "check": "checkout"},
            ],
        },
    }


def test_a_resolved_alert_carries_its_end_and_the_notice_says_resolved() -> None:
    resolved = make_alert(
        status=AlertStatus.RESOLVED, resolved_at=T0 + timedelta(minutes=3, seconds=4)
    )
    payload = render_alertmanager_payload(
        make_notice(resolved, status="resolved", reason="all alerts resolved", sequence=2)
    )
    assert payload["status"] == "resolved"
    assert payload["notification_reason"] == "all alerts resolved"
    [alert] = payload["alerts"]
    assert alert["status"] == "resolved"
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-11-22T13:09:10Z", "2026-11-22T13:12:14Z")


def test_a_notice_mixing_firing_and_resolved_alerts_is_firing_with_each_alert_its_own() -> None:
    firing = make_alert()
    resolved = make_alert(
        alert_id=2, status=AlertStatus.RESOLVED, resolved_at=T0, labels={"check": "checkout"}
    )
    payload = render_alertmanager_payload(
        make_notice(firing, resolved, reason="some alerts resolved")
    )
    assert payload["status"] == "firing"
    statuses = [(a["status"], a["endsAt"]) for a in payload["alerts"]]
    assert statuses == [("firing", "0001-01-01T00:00:00Z"), ("resolved", "2026-11-22T13:09:10Z")]


def test_without_an_external_url_links_are_empty_as_in_alertmanager() -> None:
    payload = render_alertmanager_payload(make_notice(external_url=None))
    assert payload["externalURL"] == ""
    assert payload["alerts"][0]["generatorURL"] == ""


def test_an_ingested_alert_without_a_check_says_so() -> None:
    alert = make_alert(check_id=None, fired_at=None, values={})
    payload = render_alertmanager_payload(make_notice(alert))
    assert payload["opsbook"]["alerts"] == [
        {"id": 1, "severity": "SEV1", "values": {}, "check": None}
    ]
    # Not fired yet as a rule would count it: the start is when it was first seen.
    assert payload["alerts"][0]["startsAt"] == "2026-11-22T13:08:30Z"


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC), "2026-11-22T13:09:10Z"),
        (datetime(2026, 11, 22, 13, 9, 10, 500000, tzinfo=UTC), "2026-11-22T13:09:10.5Z"),
        (datetime(2026, 11, 22, 13, 9, 10, 123456, tzinfo=UTC), "2026-11-22T13:09:10.123456Z"),
        (datetime.fromisoformat("2026-11-22T14:09:10+01:00"), "2026-11-22T13:09:10Z"),
    ],
)
def test_times_are_rfc3339_in_utc_as_go_prints_them(at: datetime, text: str) -> None:
    assert rfc3339(at) == text


def test_the_signature_verifies_with_the_documented_recipe() -> None:
    body = encode(render_alertmanager_payload(make_notice()))
    header = sign(body, HMAC_SECRET)
    # The recipe in docs/notifications.md, verbatim.
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)
    assert header != sign(body + b" ", HMAC_SECRET)
    assert header != sign(body, HMAC_SECRET + "x")


def test_a_known_signature() -> None:
    # printf '{}' | openssl dgst -sha256 -hmac key
    assert sign(b"{}", "key") == (
        "sha256=a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/services/T0/B0/abcdef", "https://hooks.example.com/***"),
        ("https://oncall.example.com/hook?token=s3cret", "https://oncall.example.com/***"),
        ("https://user:pw@example.com/", "https://user:***@example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_a_url_is_shown_without_its_path_or_query(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_opsbooks_own_alertmanager_receiver_reads_the_body() -> None:
    resolved = make_alert(
        alert_id=2, status=AlertStatus.RESOLVED, resolved_at=T0, labels={"check": "checkout"}
    )
    body = encode(render_alertmanager_payload(make_notice(make_alert(), resolved)))
    message = parse_webhook_message(decode_json(body))
    assert (message.group_key, message.status, message.receiver) == (
        'oncall:{alertname="api-down"}',
        "firing",
        "oncall",
    )
    assert [(a.status, a.ends_at, a.fingerprint) for a in message.alerts] == [
        ("firing", None, make_alert().fingerprint),
        ("resolved", T0, resolved.fingerprint),
    ]


def test_text_no_encoder_takes_is_repaired_in_the_body() -> None:
    # A payload queued from a poisoned row (SQLite keeps a lone surrogate inside JSON).
    body = webhook.encode({"version": "4", "alerts": [{"annotations": {"summary": "x\ud800"}}]})
    assert json.loads(body) == {"version": "4", "alerts": [{"annotations": {"summary": "x\ufffd"}}]}
