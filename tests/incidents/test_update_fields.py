"""Status update fields (impact, ETA, ...): validated, stripped and stored in the event."""

from __future__ import annotations

import pytest
from paging_helpers import declare, minutes
from sqlalchemy.engine import Engine

from opsbook.errors import InputError
from opsbook.incidents import records, service
from opsbook.incidents.models import IncidentStatus


def _update(engine: Engine, incident_id: int, fields: dict[str, str]) -> None:
    with engine.begin() as conn:
        service.update(
            conn,
            incident_id,
            status=IncidentStatus.IDENTIFIED,
            message="bad deploy",
            actor="user:ana",
            now=minutes(1),
            fields=fields,
        )


def test_fields_are_stripped_and_stored_in_the_status_event(engine: Engine) -> None:
    incident_id = declare(engine)
    _update(
        engine,
        incident_id,
        {"impact": "  checkout fails ", "eta": "30m", "next_update": "", "root_cause": "1.4"},
    )
    with engine.begin() as conn:
        last = records.timeline(conn, incident_id)[-1]
    assert last.detail == {
        "from": "investigating",
        "to": "identified",
        "fields": {"impact": "checkout fails", "eta": "30m", "root_cause": "1.4"},
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"severity": "x"},
            "fields.severity",
            "fields.severity: not an update field "
            "(use impact, eta, workaround, next_update, root_cause, fix)",
        ),
        (
            {"impact": "x" * 501},
            "fields.impact",
            "fields.impact: at most 500 characters (this one has 501)",
        ),
    ],
)
def test_bad_fields_are_refused_naming_the_field_and_change_nothing(
    engine: Engine, fields: dict[str, str], field: str, message: str
) -> None:
    incident_id = declare(engine)
    with pytest.raises(InputError) as raised:
        _update(engine, incident_id, fields)
    assert (raised.value.field, raised.value.message) == (field, message)
    with engine.begin() as conn:
        assert [e.kind for e in records.timeline(conn, incident_id)] == ["declared"]
        assert records.get_incident(conn, incident_id).status is IncidentStatus.INVESTIGATING
