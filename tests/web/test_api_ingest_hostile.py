"""Hostile input on the four ingest routes, through the real app on SQLite and PostgreSQL:
text that cannot be stored (NUL, lone surrogates, NaN), label names outside Alertmanager's
rule, deep nesting, huge numbers, oversized labels, and batches with one bad alert
(docs/ingest.md, "Hostile input")."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.alerts.models import Alert
from opsbook.alerts.service import list_alerts
from opsbook.config import Config

PROM_TOKEN = "prom-token-0123456789abc"
HOOK_TOKEN = "hook-token-0123456789abc"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
CONFIG = Config.model_validate(
    {
        "service": "t",
        "integrations": {
            "prom": {"alertmanager": {"token": PROM_TOKEN}},
            "pd": {"pagerduty": {"routing_key": PD_KEY}},
            "hook": {"webhook": {"token": HOOK_TOKEN}},
        },
    }
)
PROM = {"Authorization": f"Bearer {PROM_TOKEN}"}
HOOK = {"Authorization": f"Bearer {HOOK_TOKEN}"}
FFFD = "\ufffd"

# Route, headers, and a function from "the hostile value" to a body with it in a labels slot.
V2 = "/api/v2/alerts"
AM = "/api/v1/integrations/prom/alertmanager"
PD = "/v2/enqueue"
WH = "/api/v1/integrations/hook/webhook"


@pytest.fixture
def app(make_app: Callable[..., FastAPI], store_url: str) -> FastAPI:
    return make_app(store_url, config=CONFIG)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def stored(app: FastAPI) -> list[Alert]:
    with app.state.services.engine.connect() as conn:
        return sorted(list_alerts(conn, limit=1000), key=lambda a: a.id)


def post(client: TestClient, path: str, body: object, headers: dict[str, str]) -> Any:
    # json.dumps writes lone surrogates as \ud800 escapes, and NaN as NaN: what a careless
    # Python sender puts on the wire.
    return client.post(
        path,
        content=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


def am_message(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "opsbook",
        "alerts": [{"status": "firing", **a} for a in alerts],
    }


def pd_trigger(**payload: Any) -> dict[str, Any]:
    base = {"summary": "disk full", "source": "srv01", "severity": "critical"}
    return {"routing_key": PD_KEY, "event_action": "trigger", "payload": {**base, **payload}}


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    return body["error"] if "error" in body else {"message": "; ".join(body["errors"])}


# A batch keeps its valid alerts (as Alertmanager does) and names the others


def test_a_batch_of_one_good_alert_and_one_with_a_nul_stores_the_good_one_and_names_index_1(
    client: TestClient, app: FastAPI
) -> None:
    batch = [
        {"labels": {"alertname": "Good", "severity": "page"}},
        {"labels": {"alertname": "Bad", "severity": "pa\x00ge"}},
    ]
    response = post(client, V2, batch, PROM)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "$[1].labels.severity: contains a NUL character (\\u0000), which cannot be "
        "stored; 1 of 2 alerts stored",
        "field": "$[1].labels.severity",
        "location": "body",
    }
    assert [a.labels["alertname"] for a in stored(app)] == ["Good"]
    # The sender retries the 400 batch unchanged: the good alert is refreshed, not doubled.
    assert post(client, V2, batch, PROM).status_code == 400
    assert [a.labels["alertname"] for a in stored(app)] == ["Good"]


def test_an_alertmanager_webhook_message_keeps_its_good_alerts(
    client: TestClient, app: FastAPI
) -> None:
    message = am_message(
        {"labels": {"alertname": "Good"}}, {"labels": {"alertname": "Bad", "x": "\ud800"}}
    )
    response = post(client, AM, message, PROM)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "$.alerts[1].labels.x"
    assert "lone surrogate" in response.json()["error"]["message"]
    assert [a.labels["alertname"] for a in stored(app)] == ["Good"]


def test_a_generic_webhook_batch_keeps_its_good_alerts(client: TestClient, app: FastAPI) -> None:
    response = post(client, WH, [{"summary": "ok"}, {"summary": "x", "key": "k\x00"}], HOOK)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "$[1].key"
    assert [a.annotations["summary"] for a in stored(app)] == ["ok"]


# Labels (and keys, sources: what routes and groups) are refused; free text is repaired


@pytest.mark.parametrize(
    ("path", "body", "headers", "field"),
    [
        (V2, [{"labels": {"alertname": "x\ud800"}}], PROM, "$[0].labels.alertname"),
        (V2, [{"labels": {"alertname": "x", "job": "a\x00"}}], PROM, "$[0].labels.job"),
        (
            AM,
            am_message({"labels": {"alertname": "\udfff"}}),
            PROM,
            "$.alerts[0].labels.alertname",
        ),
        (PD, pd_trigger(source="srv\x00"), {}, "$.payload.source"),
        (PD, pd_trigger(component="\ud83d"), {}, "$.payload.component"),
        (WH, {"summary": "s", "labels": {"job": "\x00"}}, HOOK, "$.labels.job"),
    ],
)
def test_a_label_that_cannot_be_stored_is_400_naming_its_path(
    client: TestClient, app: FastAPI, path: str, body: object, headers: dict[str, str], field: str
) -> None:
    response = post(client, path, body, headers)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith(f"{field}: contains a ")
    assert stored(app) == []


@pytest.mark.parametrize("name", ["bad-name", "9lives", "caf\u00e9", "a\x00", "\ud800", "a b"])
def test_a_label_name_outside_alertmanagers_rule_is_400(
    client: TestClient, app: FastAPI, name: str
) -> None:
    response = post(client, V2, [{"labels": {"alertname": "x", name: "v"}}], PROM)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "$[0].labels: name #2 must match [a-zA-Z_][a-zA-Z0-9_]* (Alertmanager's "
        "rule), at most 256 characters",
        "field": "$[0].labels",
        "location": "body",
    }
    assert stored(app) == []


def test_alertmanager_annotations_with_bad_text_are_repaired_and_stored(
    client: TestClient, app: FastAPI
) -> None:
    batch = [{"labels": {"alertname": "A"}, "annotations": {"summary": "x\ud800y\x00"}}]
    assert post(client, V2, batch, PROM).status_code == 200
    [alert] = stored(app)
    assert alert.annotations["summary"] == f"x{FFFD}y{FFFD}"


def test_a_pagerduty_summary_with_a_lone_surrogate_is_repaired(
    client: TestClient, app: FastAPI
) -> None:
    response = post(client, PD, pd_trigger(summary="x\ud800"), {})
    assert response.status_code == 202
    [alert] = stored(app)
    assert alert.annotations["summary"] == f"x{FFFD}"


def test_pagerduty_custom_details_with_nan_nul_and_surrogates_are_stored_repaired(
    client: TestClient, app: FastAPI
) -> None:
    details = {"load": float("nan"), "max": float("inf"), "n\x00": ["\ud800", 1.5]}
    response = post(client, PD, pd_trigger(custom_details=details), {})
    assert response.status_code == 202
    [alert] = stored(app)
    assert alert.values == {"load": "NaN", "max": "Infinity", f"n{FFFD}": [FFFD, 1.5]}


def test_a_generic_webhook_summary_with_bad_text_is_repaired(
    client: TestClient, app: FastAPI
) -> None:
    response = post(client, WH, {"summary": "down\x00\udc80", "key": "k1"}, HOOK)
    assert response.status_code == 202
    [alert] = stored(app)
    assert alert.annotations["summary"] == f"down{FFFD}{FFFD}"


# Bodies that break a JSON decoder: 400 with a message on every route, never a 500

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"":' * 100_000 + b"1" + b"}" * 100_000
HUGE_NUMBER = b'{"n": ' + b"9" * 5000 + b"}"
ROUTES = [(V2, PROM), (AM, PROM), (PD, {}), (WH, HOOK)]


@pytest.mark.parametrize(("path", "headers"), ROUTES)
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (DEEP, "is nested too deeply"),
        (DEEP_OBJECT, "is nested too deeply"),
        (HUGE_NUMBER, "has a number with too many digits"),
    ],
)
def test_a_body_that_breaks_the_json_decoder_is_400(
    client: TestClient, app: FastAPI, path: str, headers: dict[str, str], body: bytes, says: str
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert f"$: {says}" in error_of(response)["message"]
    assert stored(app) == []


def test_deeply_nested_custom_details_are_400(client: TestClient, app: FastAPI) -> None:
    details: Any = "leaf"
    for _ in range(40):
        details = {"d": details}
    response = post(client, PD, pd_trigger(custom_details=details), {})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "$.payload.custom_details: is nested deeper than 32 levels"
    ]


# Caps per alert and per request


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        (
            {"labels": {f"l{i}": "v" for i in range(101)}},
            "$[0].labels: has 101 entries (at most 100)",
        ),
        (
            {"labels": {"a": "v" * 4097}},
            "$[0].labels.a: is longer than 4096 bytes",
        ),
        (
            {"labels": {"a": "\u00e9" * 2049}},
            "$[0].labels.a: is longer than 4096 bytes",
        ),
        (
            {"labels": {"a" * 257: "v"}},
            "$[0].labels: name #1 must match [a-zA-Z_][a-zA-Z0-9_]* (Alertmanager's rule), "
            "at most 256 characters",
        ),
        (
            {"labels": {"a": "v"}, "annotations": {"d": "x" * (64 * 1024 + 1)}},
            "$[0].annotations.d: is longer than 65536 bytes",
        ),
        (
            {"labels": {"a": "v"}, "annotations": {f"n{i}": "v" for i in range(101)}},
            "$[0].annotations: has 101 entries (at most 100)",
        ),
    ],
)
def test_labels_and_annotations_over_the_caps_are_400(
    client: TestClient, app: FastAPI, alert: dict[str, Any], message: str
) -> None:
    response = post(client, V2, [alert], PROM)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert stored(app) == []


def test_more_than_1000_alerts_in_one_request_is_400(client: TestClient, app: FastAPI) -> None:
    response = post(client, V2, [{"labels": {"a": str(i)}} for i in range(1001)], PROM)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "$: has 1001 alerts (at most 1000 in one request)"
    assert stored(app) == []


def test_alerts_at_the_caps_are_stored(client: TestClient, app: FastAPI) -> None:
    alert = {
        "labels": {f"l{i}": "v" * 4096 for i in range(100)},
        "annotations": {"description": "d" * 64 * 1024},
    }
    assert post(client, V2, [alert], PROM).status_code == 200
    assert len(stored(app)) == 1


def test_an_unknown_webhook_field_whose_name_is_not_unicode_is_400_not_500(
    client: TestClient, app: FastAPI
) -> None:
    response = post(client, WH, {"summary": "s", "ti\ud800tle": "x"}, HOOK)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == f"$.ti{FFFD}tle"
    assert stored(app) == []
