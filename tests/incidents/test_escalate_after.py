"""``severities.<name>.escalate_after``: an incident not mitigated that long after it was
declared pages the next level at once, acknowledged or not (Lovable: "Escalate immediately if
site down for > 15 minutes"), once per incident, on both store backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from paging_helpers import (
    NOW,
    Recorder,
    config_body,
    declare,
    escalations,
    messages,
    minutes,
    passes,
)
from sqlalchemy.engine import Engine

from opsbook.config import Config
from opsbook.incidents import service
from opsbook.incidents.models import IncidentStatus


def config(**sev1: Any) -> Config:
    body = config_body()
    body["severities"]["SEV1"].update(sev1)
    return Config.model_validate(body)


CONFIG = config(escalate_after="15m")


def test_an_acknowledged_incident_still_down_after_the_limit_pages_the_next_level(
    engine: Engine,
) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(2))
    passes(engine, CONFIG, emit, minutes(2))
    passes(engine, CONFIG, emit, minutes(15) - timedelta(seconds=1))
    assert emit.pages() == []
    passes(engine, CONFIG, emit, minutes(15))
    assert emit.pages() == [(2, 0, "cto", "pager"), (2, 0, "-", "ops-room")]
    assert messages(engine, incident_id, "escalated") == [
        "not mitigated after 15m: level 2 paged without waiting"
    ]
    assert messages(engine, incident_id, "paged")[-1] == (
        "level 2: paged CTO (person:cto) via pager; channel ops-room "
        "(not mitigated after 15m: escalated without waiting)"
    )
    # Once per incident: later passes page nobody.
    passes(engine, CONFIG, emit, minutes(16))
    passes(engine, CONFIG, emit, minutes(60))
    assert emit.pages() == []
    assert escalations(engine, incident_id)[0].state == "acknowledged"


def test_an_active_escalation_moves_on_from_the_early_page(engine: Engine) -> None:
    # A 20-minute first wait: at 15 minutes level 2 has not been paged yet.
    body = config_body()
    body["severities"]["SEV1"]["escalate_after"] = "15m"
    body["oncall"]["escalation"]["default"]["levels"][0]["wait"] = "20m"
    slow = Config.model_validate(body)
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, slow, emit, NOW)
    emit.take()
    passes(engine, slow, emit, minutes(15))
    assert [p[0] for p in emit.pages()] == [2, 2]
    [run] = escalations(engine, incident_id)
    assert (run.state, run.step, run.next_at) == ("active", 2, minutes(25))
    # The timer's own page of level 2 (due at 20m) is not sent again.
    passes(engine, slow, emit, minutes(20))
    assert emit.pages() == []
    passes(engine, slow, emit, minutes(25))
    assert [p[:2] for p in emit.pages()] == [(1, 1)]


def test_a_mitigated_incident_is_not_escalated(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(1))
        service.update(
            conn,
            incident_id,
            status=IncidentStatus.MONITORING,
            message="rolled back",
            actor="user:ana",
            now=minutes(10),
        )
    emit.take()
    passes(engine, CONFIG, emit, minutes(30))
    assert emit.pages() == []
    assert messages(engine, incident_id, "escalated") == []


def test_without_escalate_after_an_ack_is_the_end(engine: Engine) -> None:
    plain = config()
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, plain, emit, NOW)
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(1))
    emit.take()
    passes(engine, plain, emit, minutes(120))
    assert emit.pages() == []
