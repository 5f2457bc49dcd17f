"""The postmortem on both store backends: the shipped template rendered from a seeded
incident's real timeline (exact text, times frozen, in the config timezone), placeholders for
empty sections, and errors that name a broken template's file and line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.errors import InputError, NotFound
from opsbook.incidents import render_postmortem, service
from opsbook.incidents.models import IncidentStatus, Role
from opsbook.incidents.postmortem import format_span

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
DAY = timedelta(days=1)
ANA = "user:ana"


def seed_incident(engine: Engine) -> int:
    """Checkout down: an alert, ack, commander, identified, monitoring, resolved, two items."""

    def at(minutes: int) -> datetime:
        return NOW + timedelta(minutes=minutes)

    with engine.begin() as conn:
        fired = open_rule_alert(
            conn, "site-down", check="api", now=at(-2), labels={"component": "checkout"}
        )
        incident_id = service.declare(
            conn,
            title="Checkout down",
            severity="SEV1",
            summary="Checkout answered 500 for every request.",
            alert_ids=[fired],
            actor=ANA,
            now=NOW,
            origin="cli",
            component="api",
        ).id
        service.acknowledge(conn, incident_id, actor=ANA, now=at(3))
        service.set_role(conn, incident_id, role=Role.COMMANDER, person="ben", actor=ANA, now=at(4))
        for minutes, status, message in [
            (10, IncidentStatus.IDENTIFIED, "release 1.4.2 dropped the payments pool"),
            (20, IncidentStatus.MONITORING, "rolled back to 1.4.1"),
            (65, IncidentStatus.RESOLVED, "error rate normal for 45 minutes"),
        ]:
            service.update(
                conn, incident_id, status=status, message=message, actor=ANA, now=at(minutes)
            )
        for title, due in [("Add a canary stage", date(2026, 11, 30)), ("Pin the pool", None)]:
            service.add_action(
                conn, incident_id, title=title, owner="ben", due=due, actor=ANA, now=at(70)
            )
    return incident_id


EXPECTED = """\
# Incident Postmortem: Checkout down

**Date**: 2026-11-22
**Duration**: 1 hour 5 minutes
**Severity**: SEV1
**Incident Commander**: ben
**Status**: resolved

## Summary

Checkout answered 500 for every request.

## Impact

- Severity: SEV1
- Duration: 1 hour 5 minutes
- Components: api, checkout
- Linked alerts:
  - #1 site-down (SEV1, firing)
- Users affected: _to be written_

## Timeline (Europe/Berlin)

- 12:58 - alert site-down firing (user:ana)
- 13:00 - declared SEV1: Checkout down (user:ana)
- 13:03 - acknowledged (user:ana)
- 13:04 - commander is ben (user:ana)
- 13:10 - identified: release 1.4.2 dropped the payments pool (user:ana)
- 13:20 - monitoring: rolled back to 1.4.1 (user:ana)
- 14:05 - resolved: error rate normal for 45 minutes (user:ana)
- 14:10 - action item 1 for ben: Add a canary stage (due 2026-11-30) (user:ana)
- 14:10 - action item 2 for ben: Pin the pool (user:ana)

## Root Cause

release 1.4.2 dropped the payments pool

## Resolution

rolled back to 1.4.1

error rate normal for 45 minutes

## Action Items

- [ ] Add a canary stage - Owner: ben - Due: 2026-11-30 (overdue)
- [ ] Pin the pool - Owner: ben - Due: -

## Lessons Learned

- What went well: _to be written_
- What could improve: _to be written_
"""


def test_the_shipped_template_renders_the_real_record(engine: Engine) -> None:
    incident_id = seed_incident(engine)
    with engine.begin() as conn:
        text = render_postmortem(
            conn, incident_id, zone=BERLIN, now=datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        )
    assert text == EXPECTED


def test_empty_sections_get_a_placeholder_and_an_open_incident_is_ongoing(engine: Engine) -> None:
    with engine.begin() as conn:
        incident_id = service.declare(
            conn, title="DB slow", severity="SEV2", actor=ANA, now=NOW, origin="cli"
        ).id
        text = render_postmortem(conn, incident_id, zone=UTC_ZONE, now=NOW + timedelta(days=1))
    assert "**Duration**: 24 hours (ongoing)" in text
    assert "**Incident Commander**: _to be written_" in text
    assert "## Summary\n\n_to be written_\n" in text
    assert "- Components: _to be written_\n- Linked alerts: none\n" in text
    assert "## Timeline (UTC)\n\n- 12:00 - declared SEV2: DB slow (user:ana)\n" in text
    for section in ("Root Cause", "Resolution", "Action Items"):
        assert f"## {section}\n\n_to be written_\n" in text


def test_a_timeline_past_the_first_day_shows_the_date(engine: Engine) -> None:
    with engine.begin() as conn:
        incident_id = service.declare(
            conn, title="DB slow", severity="SEV2", actor=ANA, now=NOW, origin="cli"
        ).id
        service.add_note(conn, incident_id, message="still slow", actor=ANA, now=NOW + DAY)
        text = render_postmortem(conn, incident_id, zone=UTC_ZONE, now=NOW + DAY)
    assert "- 2026-11-23 12:00 - still slow (user:ana)\n" in text


def test_a_custom_template_gets_the_same_values(engine: Engine) -> None:
    incident_id = seed_incident(engine)
    source = "{{ incident.title }}|{{ alerts | length }}|{{ actions[0].owner }}|{{ date }}\n"
    with engine.begin() as conn:
        text = render_postmortem(
            conn, incident_id, zone=BERLIN, now=NOW, template=source, template_name="pm.j2"
        )
    assert text == "Checkout down|1|ben|2026-11-22\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# {{ incident.title }}\n\n{% for e in timeline %}\n", "pm.j2:3: Unexpected end of"),
        ("# ok\n{{ incident.titel | upper }}\n", "pm.j2:2: UndefinedError: "),
        ("# ok\n\n{{ 1 / 0 }}\n", "pm.j2:3: ZeroDivisionError: division by zero"),
        ("{{ ''.__class__.__mro__ }}\n", "pm.j2:1: SecurityError: "),
    ],
)
def test_a_broken_template_names_its_file_and_line(
    engine: Engine, source: str, message: str
) -> None:
    incident_id = seed_incident(engine)
    with pytest.raises(InputError) as caught, engine.begin() as conn:
        render_postmortem(
            conn, incident_id, zone=BERLIN, now=NOW, template=source, template_name="pm.j2"
        )
    assert str(caught.value).startswith(message)
    assert caught.value.field == "template"


def test_an_unknown_incident_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no incident with id 9"), engine.begin() as conn:
        render_postmortem(conn, 9, zone=BERLIN, now=NOW)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "0 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=60), "1 hour"),
        (timedelta(minutes=125), "2 hours 5 minutes"),
    ],
)
def test_durations_read_like_the_seeds_template(delta: timedelta, text: str) -> None:
    assert format_span(delta) == text
