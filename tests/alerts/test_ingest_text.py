"""Valid, storable text (opsbook.textsafe) and how the ingest parsers use it: refused fields,
repaired fields, and batches that keep their valid alerts (docs/ingest.md, "Hostile input")."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from opsbook import textsafe
from opsbook.alerts.ingest_models import (
    InvalidPayload,
    decode_json,
    parse_pagerduty_event,
    parse_postable_silence,
    read_postable_alerts,
    read_webhook_message,
)

FFFD = "\ufffd"


@pytest.mark.parametrize(
    ("text", "problem", "repaired"),
    [
        ("plain", None, "plain"),
        ("emoji \U0001f525 é", None, "emoji \U0001f525 é"),
        ("a\x00b", "contains a NUL character (\\u0000), which cannot be stored", f"a{FFFD}b"),
        ("x\ud800", "contains a lone surrogate (\\ud800), which is not valid Unicode", f"x{FFFD}"),
        ("\udfff\x00", "contains a lone surrogate (\\udfff), which is not valid Unicode", FFFD * 2),
    ],
)
def test_problem_and_repair(text: str, problem: str | None, repaired: str) -> None:
    assert textsafe.problem(text) == problem
    assert textsafe.is_storable(text) is (problem is None)
    assert textsafe.repair(text) == repaired
    textsafe.repair(text).encode("utf-8")  # always encodable afterwards


def test_repair_json_fixes_strings_keys_and_non_finite_numbers() -> None:
    value = {"k\x00": [1, math.nan, math.inf, -math.inf, "\ud800", {"n": None}], "ok": True}
    assert textsafe.repair_json(value) == (
        {f"k{FFFD}": [1, "NaN", "Infinity", "-Infinity", FFFD, {"n": None}], "ok": True},
        True,
    )
    assert textsafe.repair_json({"a": [1, "b"]}) == ({"a": [1, "b"]}, False)
    assert textsafe.repair_json("x\x00") == (f"x{FFFD}", True)


def test_repair_json_refuses_deep_nesting_without_recursing() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        textsafe.repair_json(deep)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "$: is nested too deeply"),
        (b"[" + b"1" * 5000 + b"]", "$: has a number with too many digits to read"),
    ],
)
def test_decode_json_refuses_what_breaks_the_decoder(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        decode_json(body)
    assert str(caught.value).startswith(message)


def test_a_batch_keeps_its_valid_alerts_and_names_the_others() -> None:
    checked = read_postable_alerts(
        [
            {"labels": {"alertname": "A"}, "annotations": {"summary": "s\ud800"}},
            {"labels": {"alertname": "B", "x-y": "1"}},
            {"labels": {"alertname": "C\x00"}},
        ]
    )
    assert [a.labels["alertname"] for a in checked.value] == ["A"]
    assert checked.value[0].annotations == {"summary": f"s{FFFD}"}
    assert checked.repaired == ("$[0].annotations.summary",)
    assert checked.invalid is not None
    assert [p.path for p in checked.invalid.problems] == ["$[1].labels", "$[2].labels.alertname"]


def test_a_webhook_message_with_a_bad_envelope_is_refused_whole() -> None:
    message = {
        "version": "4",
        "groupKey": "g\x00",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "A"}}],
    }
    with pytest.raises(InvalidPayload) as caught:
        read_webhook_message(message)
    assert caught.value.field == "$.groupKey"


def test_a_pagerduty_event_notes_what_it_repaired() -> None:
    event = parse_pagerduty_event(
        {
            "routing_key": "e93facc04764012d7bfb002500d5d1a6",
            "event_action": "trigger",
            "client": "tool\x00",
            "payload": {
                "summary": "\ud800",
                "source": "s",
                "severity": "info",
                "custom_details": json.loads('{"v": NaN}'),
            },
        }
    )
    assert event.repaired == ("$.payload.summary", "$.payload.custom_details", "$.client")
    assert event.payload is not None
    assert event.payload.custom_details == {"v": "NaN"}


@pytest.mark.parametrize(
    ("matcher", "field"),
    [
        ({"name": "alertname", "value": "x\x00", "isRegex": False}, "$.matchers[0].value"),
        ({"name": "a\ud800", "value": "x", "isRegex": False}, "$.matchers[0].name"),
    ],
)
def test_a_silence_with_text_that_cannot_be_stored_is_refused(
    matcher: dict[str, Any], field: str
) -> None:
    silence = {
        "matchers": [matcher],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2026-01-01T01:00:00Z",
        "createdBy": "ana",
        "comment": "deploy",
    }
    with pytest.raises(InvalidPayload) as caught:
        parse_postable_silence(silence)
    assert caught.value.field == field
