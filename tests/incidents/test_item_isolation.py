"""One incident the incidents task cannot handle (a row written by a later version or straight
into the store) is rolled back alone in ``react``, ``run_escalations`` and
``escalate_unmitigated``: the other incidents still escalate and hear of their updates, the
failure is logged and counted, and its incident's timeline says why, on both store backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from paging_helpers import NOW, Recorder, config_body, declare, minutes, passes
from sqlalchemy.engine import Connection, Engine
from structlog.testing import capture_logs

from opsbook.config import Config
from opsbook.incidents import react
from opsbook.incidents.escalation import escalate_unmitigated, run_escalations
from opsbook.incidents.loop import run_pass
from opsbook.incidents.models import IncidentNotice
from opsbook.incidents.tables import escalation, incident, incident_event
from opsbook.tasks import TaskFailures

BODY = config_body()
BODY["severities"]["SEV1"]["escalate_after"] = "15m"
CONFIG = Config.model_validate(BODY)


def _poison_status(engine: Engine, incident_id: int) -> None:
    """A status this version does not know (a later version's, or a hand edit)."""
    with engine.begin() as conn:
        conn.execute(incident.update().where(incident.c.id == incident_id).values(status="paused"))


def _events(engine: Engine, incident_id: int, kind: str) -> list[Any]:
    # Straight from the table: the timeline reader reads the poisoned incident row too.
    with engine.connect() as conn:
        return conn.execute(
            sa.select(incident_event)
            .where(incident_event.c.incident_id == incident_id, incident_event.c.kind == kind)
            .order_by(incident_event.c.id)
        ).all()


def _escalation(engine: Engine, incident_id: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        [row] = conn.execute(
            sa.select(escalation).where(escalation.c.incident_id == incident_id)
        ).all()
    return (row.state, row.step, row.next_at)


def _paged(emit: Recorder) -> set[int]:
    return {n.incident.id for n in emit.take() if n.kind == "page"}


def _failures_logged(logs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["incident_id"], e["stage"], e["error"])
        for e in logs
        if e["event"] == "incident_item_failed"
    ]


def test_a_poisoned_event_never_holds_back_another_incidents_reactions(engine: Engine) -> None:
    poisoned, genuine = declare(engine), declare(engine)
    with engine.begin() as conn:
        # A detail that is not an object: reading the event as an IncidentEvent trips on it.
        conn.execute(
            incident_event.update()
            .where(incident_event.c.incident_id == poisoned)
            .values(detail=["x"])
        )
    emit, failures = Recorder(), TaskFailures()

    for at in (NOW, minutes(1)):
        with capture_logs() as logs, engine.begin() as conn:
            react(conn, config=CONFIG, emit=emit, now=at, failures=failures)
        [(incident_id, stage, error)] = _failures_logged(logs)
        assert (incident_id, stage, error.split(":")[0]) == (poisoned, "reaction", "ValueError")

    assert [n.incident.id for n in emit.take()] == [genuine]  # the "status" channel, once
    assert [e.state for e in _escalations(engine, genuine)] == ["active"]
    assert _escalations(engine, poisoned) == []
    [declared] = _events(engine, poisoned, "declared")
    assert declared.handled_at is None  # retried next pass, not dropped
    assert failures.items == {"incidents": 2}
    [failed] = _events(engine, poisoned, "failed")  # once per distinct reason
    assert failed.message.startswith("reaction: ValueError: ")
    assert failed.handled_at is not None  # nothing to react to


def _escalations(engine: Engine, incident_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(escalation).where(escalation.c.incident_id == incident_id)
        ).all()


def test_a_poisoned_incident_never_holds_back_another_incidents_next_level(
    engine: Engine,
) -> None:
    poisoned, genuine = declare(engine), declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert _paged(emit) == {poisoned, genuine}  # level 1 of both
    _poison_status(engine, poisoned)
    failures = TaskFailures()

    with capture_logs() as logs, engine.begin() as conn:
        run_escalations(conn, config=CONFIG, emit=emit, now=minutes(5), failures=failures)

    assert _paged(emit) == {genuine}
    assert _escalation(engine, genuine) == ("active", 2, minutes(15))
    assert _escalation(engine, poisoned) == ("active", 1, minutes(5))
    assert len(_events(engine, poisoned, "paged")) == 1  # level 1's, from the first pass
    assert failures.items == {"incidents": 1}
    assert _failures_logged(logs) == [
        (poisoned, "escalation", "ValueError: 'paused' is not a valid IncidentStatus")
    ]
    [failed] = _events(engine, poisoned, "failed")
    assert failed.message == "escalation: ValueError: 'paused' is not a valid IncidentStatus"


def test_a_poisoned_incident_never_holds_back_another_incidents_escalate_after(
    engine: Engine,
) -> None:
    poisoned, genuine = declare(engine), declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    _poison_status(engine, poisoned)
    failures = TaskFailures()

    with capture_logs() as logs, engine.begin() as conn:
        escalate_unmitigated(conn, config=CONFIG, emit=emit, now=minutes(15), failures=failures)

    assert _paged(emit) == {genuine}
    assert len(_events(engine, genuine, "escalated")) == 1
    assert _events(engine, poisoned, "escalated") == []
    assert _escalation(engine, poisoned) == ("active", 1, minutes(5))
    assert failures.items == {"incidents": 1}
    assert [stage for _, stage, _ in _failures_logged(logs)] == ["escalate_after"]
    [failed] = _events(engine, poisoned, "failed")
    assert failed.message.startswith("escalate_after: ValueError: ")


def test_a_pass_with_a_poisoned_incident_still_pages_the_others(engine: Engine) -> None:
    poisoned = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    _poison_status(engine, poisoned)
    genuine = declare(engine, at=minutes(1))
    emit.take()

    # Every stage meets the poisoned incident: its timer is due and it is past escalate_after.
    run_pass(engine, config=CONFIG, emit=emit, now=minutes(15))

    assert _paged(emit) == {genuine}
    assert _escalation(engine, genuine)[0] == "active"
    stages = {r.message.split(":")[0] for r in _events(engine, poisoned, "failed")}
    assert stages == {"escalation", "escalate_after"}


class _RefusingEmit(Recorder):
    """An emitter that cannot store one incident's notices (its text cannot be rendered, ...)."""

    def __init__(self, refused: int) -> None:
        super().__init__()
        self.refused = refused

    def __call__(self, conn: Connection, notices: Sequence[IncidentNotice]) -> None:
        if any(n.incident.id == self.refused for n in notices):
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        super().__call__(conn, notices)


def test_a_page_that_cannot_be_queued_leaves_its_escalation_due(engine: Engine) -> None:
    refused, genuine = declare(engine), declare(engine)
    passes(engine, CONFIG, Recorder(), NOW)
    emit, failures = _RefusingEmit(refused), TaskFailures()

    with engine.begin() as conn:
        run_escalations(conn, config=CONFIG, emit=emit, now=minutes(5), failures=failures)

    assert _paged(emit) == {genuine}
    # Not advanced past a level nobody was paged for: the next pass pages it again.
    assert _escalation(engine, refused) == ("active", 1, minutes(5))
    assert len(_events(engine, refused, "paged")) == 1
    assert failures.items == {"incidents": 1}
    [failed] = _events(engine, refused, "failed")
    assert failed.message.startswith("escalation: UnicodeEncodeError: ")
