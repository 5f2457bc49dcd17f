"""PagerDuty ``custom_details`` keep at most ``CUSTOM_DETAILS_MAX_ENTRIES`` entries, with a note
saying how many were dropped (docs/ingest.md, "Hostile input and limits"), on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import pagerduty_trigger
from opsbook.alerts import ingest
from opsbook.alerts.ingest_models import (
    CUSTOM_DETAILS_MAX_ENTRIES,
    CUSTOM_DETAILS_TRUNCATED_KEY,
    parse_pagerduty_event,
    truncate_details,
)
from opsbook.alerts.tables import alert, alert_event
from opsbook.config import Config

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
CONFIG = Config.model_validate(
    {"service": "t", "integrations": {"pd": {"pagerduty": {"routing_key": PD_KEY}}}}
)
NOTE = CUSTOM_DETAILS_TRUNCATED_KEY


@pytest.mark.parametrize(
    ("value", "cap", "expected"),
    [
        ({"a": 1, "b": 2}, 2, {"a": 1, "b": 2}),
        ("text", 0, "text"),
        (None, 0, None),
        (
            {"a": 1, "b": 2, "c": 3},
            2,
            {"a": 1, "b": 2, NOTE: "1 more entries were not kept (at most 2)"},
        ),
        # Entries count over every level, in document order; a dropped object counts with its
        # own entries.
        (
            {"a": 1, "b": [1, 2, 3], "c": {"d": 1}},
            3,
            {"a": 1, "b": [1], NOTE: "4 more entries were not kept (at most 3)"},
        ),
        ([1, 2, [3, 4]], 2, [1, 2, {NOTE: "3 more entries were not kept (at most 2)"}]),
    ],
)
def test_it_keeps_the_first_entries(value: object, cap: int, expected: object) -> None:
    assert truncate_details(value, max_entries=cap) == expected


def test_a_value_within_the_cap_is_returned_as_is() -> None:
    value = {"a": [1, {"b": 2}]}
    assert truncate_details(value, max_entries=4) is value


def many_details(n: int) -> dict[str, Any]:
    body = pagerduty_trigger(PD_KEY)
    body["payload"]["custom_details"] = {f"k{i}": f"v{i}" for i in range(n)}
    return body


def test_a_trigger_with_20000_details_keeps_the_first_ones() -> None:
    event = parse_pagerduty_event(many_details(20_000))
    assert event.payload is not None
    details = event.payload.custom_details
    assert isinstance(details, dict)
    assert len(details) == CUSTOM_DETAILS_MAX_ENTRIES + 1
    assert list(details)[:2] == ["k0", "k1"]
    assert details[NOTE] == (
        f"{20_000 - CUSTOM_DETAILS_MAX_ENTRIES} more entries were not kept "
        f"(at most {CUSTOM_DETAILS_MAX_ENTRIES})"
    )


def test_a_trigger_at_the_cap_is_kept_whole() -> None:
    event = parse_pagerduty_event(many_details(CUSTOM_DETAILS_MAX_ENTRIES))
    assert event.payload is not None
    assert (
        event.payload.custom_details
        == many_details(CUSTOM_DETAILS_MAX_ENTRIES)["payload"]["custom_details"]
    )


def test_the_stored_alert_and_its_event_hold_the_truncated_details(engine: Engine) -> None:
    with engine.begin() as conn:
        ingest.ingest_pagerduty(
            conn,
            config=CONFIG,
            integration="pd",
            event=parse_pagerduty_event(many_details(5_000)),
            now=T0,
        )
    with engine.connect() as conn:
        [values] = conn.execute(sa.select(alert.c["values"])).scalars()
        [event_values] = conn.execute(
            sa.select(alert_event.c["values"]).where(alert_event.c.kind == "firing")
        ).scalars()
    assert len(values) == CUSTOM_DETAILS_MAX_ENTRIES + 1
    assert values["k999"] == "v999" and "k1000" not in values
    assert values[NOTE] == "4000 more entries were not kept (at most 1000)"
    assert event_values == values
