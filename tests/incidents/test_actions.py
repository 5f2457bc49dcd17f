"""Action items on both store backends: add, complete, list, the timeline and the audit trail,
and that a refused change writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents import service
from opsbook.incidents.models import ActionItem
from opsbook.incidents.tables import action_item
from opsbook.store.audit import list_audit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANA = "user:ana"


def _incident(engine: Engine) -> int:
    with engine.begin() as conn:
        return service.declare(
            conn, title="Checkout down", severity="SEV1", actor=ANA, now=NOW, origin="cli"
        ).id


def _add(engine: Engine, incident_id: int, title: str, **fields: object) -> ActionItem:
    with engine.begin() as conn:
        return service.add_action(
            conn,
            incident_id,
            title=title,
            owner=str(fields.get("owner", "ben")),
            due=fields.get("due"),  # type: ignore[arg-type]
            actor=ANA,
            now=NOW,
            origin="cli",
        )


def test_an_action_item_is_added_completed_and_on_the_timeline(engine: Engine) -> None:
    incident_id = _incident(engine)
    added = _add(engine, incident_id, " Add a canary stage ", due=date(2026, 12, 1))
    assert added == ActionItem(
        id=added.id,
        incident_id=incident_id,
        title="Add a canary stage",
        owner="ben",
        due=date(2026, 12, 1),
        done_at=None,
        created_at=NOW,
        created_by=ANA,
    )
    later = NOW + timedelta(days=2)
    with engine.begin() as conn:
        done = service.complete_action(conn, added.id, actor=ANA, now=later, origin="cli")
        events = service.timeline(conn, incident_id)
        audit = [a.action for a in reversed(list_audit(conn))]
    assert done.done_at == later and done.is_done
    assert [(e.kind, e.message) for e in events[1:]] == [
        (
            "action_added",
            f"action item {added.id} for ben: Add a canary stage (due 2026-12-01)",
        ),
        ("action_done", f"action item {added.id} done: Add a canary stage"),
    ]
    assert audit == ["incident.declared", "incident.action_added", "incident.action_done"]


def test_it_lists_open_items_soonest_due_first_and_filters_by_owner(engine: Engine) -> None:
    incident_id = _incident(engine)
    undated = _add(engine, incident_id, "Write the runbook")
    late = _add(engine, incident_id, "Alert on p95", due=date(2026, 12, 9), owner="cy")
    soon = _add(engine, incident_id, "Pin the driver", due=date(2026, 12, 1))
    with engine.begin() as conn:
        service.complete_action(conn, soon.id, actor=ANA, now=NOW, origin="cli")
        open_ids = [a.id for a in service.list_actions(conn)]
        all_ids = [a.id for a in service.list_actions(conn, open_only=False)]
        cys = [a.id for a in service.list_actions(conn, open_only=False, owner="cy")]
    assert open_ids == [late.id, undated.id]
    assert all_ids == [soon.id, late.id, undated.id]
    assert cys == [late.id]


def test_completing_twice_is_a_conflict_and_unknown_ids_are_not_found(engine: Engine) -> None:
    incident_id = _incident(engine)
    added = _add(engine, incident_id, "Pin the driver")
    with engine.begin() as conn:
        service.complete_action(conn, added.id, actor=ANA, now=NOW, origin="cli")
    already = f"action item {added.id} was already done at"
    with pytest.raises(Conflict, match=already), engine.begin() as conn:
        service.complete_action(conn, added.id, actor=ANA, now=NOW, origin="cli")
    with pytest.raises(NotFound, match="no action item with id 999"), engine.begin() as conn:
        service.complete_action(conn, 999, actor=ANA, now=NOW, origin="cli")
    with pytest.raises(NotFound, match="no incident with id 999"):
        _add(engine, 999, "Pin the driver")


@pytest.mark.parametrize(
    ("title", "owner", "message"),
    [
        ("  ", "ben", "title: say what is to be done"),
        ("Pin the driver", "", "owner: name who owns it"),
        ("x" * 301, "ben", r"title: at most 300 characters \(this one has 301\)"),
    ],
)
def test_it_rejects_a_bad_item_and_writes_nothing(
    engine: Engine, title: str, owner: str, message: str
) -> None:
    incident_id = _incident(engine)
    with pytest.raises(InputError, match=message):
        _add(engine, incident_id, title, owner=owner)
    with engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(action_item)).scalar() == 0
        assert len(service.timeline(conn, incident_id)) == 1


@pytest.mark.parametrize(
    ("due", "done", "overdue"),
    [
        (date(2026, 11, 21), False, True),
        (date(2026, 11, 22), False, False),
        (None, False, False),
        (date(2026, 11, 1), True, False),
    ],
)
def test_an_open_item_past_its_due_day_is_overdue(
    due: date | None, done: bool, overdue: bool
) -> None:
    item = ActionItem(
        id=1,
        incident_id=1,
        title="t",
        owner="ben",
        due=due,
        done_at=NOW if done else None,
        created_at=NOW,
        created_by=ANA,
    )
    assert item.is_overdue(date(2026, 11, 22)) is overdue
