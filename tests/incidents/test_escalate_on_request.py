"""``service.escalate`` (``opsbook incident escalate``, ``POST .../escalate``): a person pages
the next level now, acknowledged or not, for the seeds' judgment calls ("escalate immediately
if a data breach is suspected", "if more than 50 % of users are affected", "if the issue
persists after rollback"), on both store backends."""

from __future__ import annotations

from datetime import datetime

import pytest
from paging_helpers import (
    NOW,
    Recorder,
    declare,
    escalations,
    kinds,
    make_config,
    messages,
    minutes,
    passes,
)
from sqlalchemy.engine import Engine

from opsbook.errors import Conflict, InputError
from opsbook.incidents import service
from opsbook.incidents.models import IncidentStatus

CONFIG = make_config()
POLICIES = {name: s.escalation for name, s in CONFIG.severities.items()}


def escalate(engine: Engine, incident_id: int, at: datetime, reason: str = "data breach") -> None:
    with engine.begin() as conn:
        service.escalate(
            conn, incident_id, reason=reason, policies=POLICIES, actor="user:ana", now=at
        )


def test_an_acknowledged_incident_pages_the_next_level_when_asked(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert [p[:2] for p in emit.pages()] == [(1, 0), (1, 0)]
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(1))
    passes(engine, CONFIG, emit, minutes(1))
    escalate(engine, incident_id, minutes(2), reason="customer data may have leaked")
    passes(engine, CONFIG, emit, minutes(2))
    assert emit.pages() == [(2, 0, "cto", "pager"), (2, 0, "-", "ops-room")]
    assert messages(engine, incident_id, "escalate") == [
        "escalation asked for: customer data may have leaked"
    ]
    assert messages(engine, incident_id, "paged")[-1] == (
        "level 2: paged CTO (person:cto) via pager; channel ops-room "
        "(escalated by user:ana without waiting)"
    )
    # The acknowledged escalation stays stopped: nothing more is paged by itself.
    passes(engine, CONFIG, emit, minutes(60))
    assert emit.pages() == []
    assert escalations(engine, incident_id)[0].state == "acknowledged"


def test_each_request_pages_once_and_an_active_escalation_moves_on(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    escalate(engine, incident_id, minutes(1))
    passes(engine, CONFIG, emit, minutes(1))
    passes(engine, CONFIG, emit, minutes(2))
    assert [p[:2] for p in emit.pages()] == [(2, 0), (2, 0)]
    [run] = escalations(engine, incident_id)
    # Level 2 paged at 1m: the timer restarts from there (its wait is 10m).
    assert (run.state, run.step, run.next_at) == ("active", 2, minutes(11))
    # A second request pages the level after: level 1's second round.
    escalate(engine, incident_id, minutes(3), reason="still down after the rollback")
    passes(engine, CONFIG, emit, minutes(3))
    assert [p[:2] for p in emit.pages()] == [(1, 1), (1, 1)]


def test_with_no_escalation_yet_the_policy_starts(engine: Engine) -> None:
    # SEV4 has no policy; raised to SEV1 after an ack, the policy does not start by itself.
    incident_id = declare(engine, severity="SEV4")
    emit = Recorder()
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=NOW)
        service.change_severity(
            conn,
            incident_id,
            severity="SEV1",
            severities=list(CONFIG.severities),
            actor="user:ana",
            now=NOW,
        )
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == [] and escalations(engine, incident_id) == []
    escalate(engine, incident_id, minutes(1))
    passes(engine, CONFIG, emit, minutes(1))
    assert [p[:2] for p in emit.pages()] == [(1, 0), (1, 0)]
    assert "escalation_started" in kinds(engine, incident_id)


def test_a_resolved_incident_or_one_without_a_policy_is_refused(engine: Engine) -> None:
    sev4 = declare(engine, severity="SEV4")
    with pytest.raises(Conflict, match="SEV4, which has no escalation policy"):
        escalate(engine, sev4, minutes(1))
    resolved = declare(engine)
    with engine.begin() as conn:
        service.update(
            conn,
            resolved,
            status=IncidentStatus.RESOLVED,
            message="fixed",
            actor="user:ana",
            now=minutes(1),
        )
    with pytest.raises(Conflict, match="is resolved; reopen it before escalating"):
        escalate(engine, resolved, minutes(2))
    with pytest.raises(InputError, match="reason: say why"):
        escalate(engine, sev4, minutes(2), reason="   ")
    # Nothing was written.
    assert "escalate" not in kinds(engine, sev4) + kinds(engine, resolved)


def test_a_request_whose_policy_is_gone_by_the_pass_says_so_and_pages_nobody(
    engine: Engine,
) -> None:
    incident_id = declare(engine)
    escalate(engine, incident_id, NOW)
    with engine.begin() as conn:
        service.change_severity(
            conn,
            incident_id,
            severity="SEV4",
            severities=list(CONFIG.severities),
            actor="user:ben",
            now=NOW,
        )
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == [] and escalations(engine, incident_id) == []
    assert messages(engine, incident_id, "note") == [
        "escalation asked for by user:ana, but SEV4 has no policy"
    ]
