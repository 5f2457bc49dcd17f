"""One poisoned alert row (text no encoder takes, a malformed label set: written by an older
version or straight into the store, bypassing ingest) never keeps a genuine SEV1 alert from its
incident and page in the same pass, and is itself marked failed with the reason."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from paging_helpers import NOW, Recorder, make_config
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.alerts.tables import alert, alert_event
from opsbook.incidents.loop import run_pass
from opsbook.incidents.tables import incident, incident_alert
from opsbook.tasks import TaskFailures

SURROGATE = "x\ud800"


def _poison(engine: Engine, kind: str) -> int:
    """A firing SEV1 alert with ``kind`` of poison, written straight into the store."""
    if kind == "surrogate" and engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL cannot store a lone surrogate (its JSONB refuses it)")
    with engine.begin() as conn:
        alert_id = open_rule_alert(
            conn,
            "poison",
            check="db",
            now=NOW,
            labels={"component": "db"},
            annotations={"summary": SURROGATE, "description": SURROGATE}
            if kind == "surrogate"
            else {"summary": "db down"},
        )
        if kind == "labels":
            # A label set that is not an object: every reader expecting a mapping trips on it.
            conn.execute(alert.update().where(alert.c.id == alert_id).values(labels=["x"]))
    return alert_id


def _genuine(engine: Engine) -> int:
    with engine.begin() as conn:
        return open_rule_alert(conn, "api-down", check="api", now=NOW, labels={"component": "api"})


def _incident_of(engine: Engine, alert_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(incident)
            .join(incident_alert, incident_alert.c.incident_id == incident.c.id)
            .where(incident_alert.c.alert_id == alert_id)
        ).first()


@pytest.mark.parametrize("kind", ["surrogate", "labels"])
def test_a_poisoned_alert_never_holds_back_a_genuine_sev1(engine: Engine, kind: str) -> None:
    config = make_config()
    poisoned = _poison(engine, kind)
    genuine = _genuine(engine)
    emit = Recorder()
    failures = TaskFailures()

    run_pass(engine, config=config, emit=emit, now=NOW, failures=failures)

    found = _incident_of(engine, genuine)
    assert found is not None and found.severity == "SEV1"
    assert any(n.kind == "page" and n.incident.id == found.id for n in emit.notices)
    if kind == "surrogate":
        # Repaired, not refused: the poisoned alert gets its incident too, titled with U+FFFD.
        assert _incident_of(engine, poisoned).title == "x\ufffd"
        assert failures.items == {}
    else:
        assert _incident_of(engine, poisoned) is None
        assert failures.items == {"incidents": 1}
        with engine.connect() as conn:
            events = (
                conn.execute(
                    sa.select(alert_event.c.message).where(
                        alert_event.c.alert_id == poisoned, alert_event.c.kind == "failed"
                    )
                )
                .scalars()
                .all()
            )
        assert len(events) == 1 and events[0].startswith("incidents: ")
        # The next pass tries again, but puts the same failure on the timeline only once.
        run_pass(engine, config=config, emit=Recorder(), now=NOW, failures=failures)
        assert failures.items == {"incidents": 2}
        with engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).where(
                    alert_event.c.alert_id == poisoned, alert_event.c.kind == "failed"
                )
            ).scalar()
        assert count == 1
