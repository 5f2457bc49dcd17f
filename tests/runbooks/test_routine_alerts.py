"""A routine with ``alert:`` fires one ``RoutineOverdue`` alert while its run is overdue and
resolves it when the run ends or a newer run replaces it, once across passes and restarts; the
alert routes like any alert; ``alert:`` mistakes are load errors at their place (both store
backends, frozen clocks)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection, Engine

from incidents.paging_helpers import Recorder, config_body
from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import AlertNotice, AlertSource, AlertStatus
from opsbook.alerts.records import alert_events, row_to_alert
from opsbook.alerts.tables import alert
from opsbook.clock import FrozenClock
from opsbook.config import Config, load
from opsbook.incidents.loop import run_pass
from opsbook.incidents.tables import incident as incident_table
from opsbook.runbooks.models import Registry, RoutineAlert, Runbook
from opsbook.runbooks.parse import parse_runbook
from opsbook.runbooks.registry import Loaded, load_for_config
from opsbook.runbooks.routine_alerts import RoutineAlerter, routine_fingerprint
from opsbook.runbooks.routine_task import RoutineTask
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import cancel_run, tick_step
from opsbook.web import create_app
from runbook_helpers import SETTINGS

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

DAILY = """\
---
title: Daily checks
schedule: "0 9 * * *"
grace: 2h
alert: {severity: SEV3, labels: {team: ops}}
---
# Daily checks

- [ ] Look at the error dashboard
- [ ] Check the backup ran
"""


def _runbook(text: str = DAILY, name: str = "daily-checks") -> Runbook:
    runbook, problems = parse_runbook(text, name=name, file=f"{name}.md")
    assert problems == [] and runbook is not None
    return runbook


def _config(**overrides: Any) -> Config:
    return Config.model_validate(
        config_body(server={"public_url": "https://ops.example/"}, **overrides)
    )


class _Wakes:
    def __init__(self) -> None:
        self.alerts = 0
        self.incidents = 0

    def alert(self) -> None:
        self.alerts += 1

    def incident(self) -> None:
        self.incidents += 1


def _task(
    engine: Engine,
    clock: FrozenClock,
    *runbooks: Runbook,
    config: Config | None = None,
    wakes: _Wakes | None = None,
) -> RoutineTask:
    w = wakes or _Wakes()
    return RoutineTask(
        engine,
        registry=Registry({rb.name: rb for rb in runbooks or (_runbook(),)}),
        settings=SETTINGS,
        clock=clock,
        alerter=RoutineAlerter(config or _config(), wake_alerts=w.alert, wake_incidents=w.incident),
    )


def _alerts(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert).order_by(alert.c.id)).all()
        return [row_to_alert(r) for r in rows]


def _events(engine: Engine, alert_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(e.kind, e.message) for e in alert_events(conn, alert_id)]


async def test_an_overdue_run_fires_one_alert_with_its_labels_and_a_link(engine: Engine) -> None:
    clock = FrozenClock(T0)
    wakes = _Wakes()
    task = _task(engine, clock, wakes=wakes)
    (opened,) = await task.run_once()
    clock.advance(timedelta(hours=1, minutes=59))  # grace is 2h
    await task.run_once()
    assert _alerts(engine) == []
    with engine.begin() as conn:
        tick_step(conn, opened.run_id, "step-1", actor="user:ana", now=clock.now())
    clock.advance(timedelta(hours=3, minutes=1))
    await task.run_once()
    (found,) = _alerts(engine)
    assert found.status is AlertStatus.FIRING
    assert found.source is AlertSource.WEBHOOK and found.integration == "routines"
    assert found.fingerprint == routine_fingerprint("daily-checks")
    assert dict(found.labels) == {
        "alertname": "RoutineOverdue",
        "routine": "daily-checks",
        "severity": "SEV3",
        "team": "ops",
    }
    assert found.severity == "SEV3"
    assert found.started_at == T0 + timedelta(hours=2)  # when it became overdue
    link = f"https://ops.example/runs/{opened.run_id}"
    assert found.annotations == {
        "summary": "routine daily-checks due 09:00 UTC is 3h overdue, 1/2 ticked",
        "description": "Daily checks",
        "runbook": "daily-checks",
        "run_url": link,
    }
    assert found.values["generator_url"] == link
    assert found.values["run_id"] == opened.run_id
    assert wakes.alerts == 1  # dispatch is woken to route it; SEV3 does not page
    assert wakes.incidents == 0


async def test_passes_and_a_restart_keep_one_alert_and_finishing_resolves_it_once(
    engine: Engine,
) -> None:
    clock = FrozenClock(T0)
    (opened,) = await _task(engine, clock).run_once()
    clock.advance(timedelta(hours=3))
    await _task(engine, clock).run_once()
    await _task(engine, clock).run_once()
    clock.advance(timedelta(hours=1))
    await _task(engine, clock).run_once()  # a restarted server: a new task, same store
    (firing,) = _alerts(engine)
    assert firing.status is AlertStatus.FIRING
    assert firing.annotations["summary"].endswith("is 2h overdue, 0/2 ticked")  # refreshed
    with engine.begin() as conn:
        tick_step(conn, opened.run_id, "step-1", actor="user:ana", now=clock.now())
        tick_step(conn, opened.run_id, "step-2", actor="user:ana", now=clock.now())
    # Resumed as the API does after a tick: nothing is left, so the run succeeds.
    await execute_run(engine, opened.run_id, _runbook(), settings=SETTINGS, clock=clock)
    ended_at = clock.now()
    clock.advance(timedelta(minutes=1))
    await _task(engine, clock).run_once()
    clock.advance(timedelta(minutes=1))
    await _task(engine, clock).run_once()
    (resolved,) = _alerts(engine)
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.resolved_at == ended_at  # when the run ended, not when the pass saw it
    assert [kind for kind, _ in _events(engine, resolved.id)] == ["firing", "resolved"]


async def test_a_cancelled_run_resolves_its_alert(engine: Engine) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    (opened,) = await task.run_once()
    clock.advance(timedelta(hours=5))
    await task.run_once()
    with engine.begin() as conn:
        cancel_run(conn, opened.run_id, actor="user:ana", now=clock.now())
    cancelled_at = clock.now()
    clock.advance(timedelta(minutes=5))
    await task.run_once()
    (resolved,) = _alerts(engine)
    assert (resolved.status, resolved.resolved_at) == (AlertStatus.RESOLVED, cancelled_at)


async def test_a_newer_due_run_resolves_the_old_alert_and_fires_again_when_overdue(
    engine: Engine,
) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    (first,) = await task.run_once()
    clock.advance(timedelta(hours=3))
    await task.run_once()
    clock.advance(timedelta(hours=21))  # the next day's run opens; the old one is still open
    (second,) = await task.run_once()
    (old,) = _alerts(engine)
    assert old.status is AlertStatus.RESOLVED and old.values["run_id"] == first.run_id
    clock.advance(timedelta(hours=2))
    await task.run_once()
    old, new = _alerts(engine)
    assert new.status is AlertStatus.FIRING and new.values["run_id"] == second.run_id
    assert new.fingerprint == old.fingerprint
    # Down over the next due time with the alert firing: one pass resolves it and fires anew.
    clock.advance(timedelta(days=1, hours=3))
    (third,) = await _task(engine, clock).run_once()
    statuses = [(a.status, a.values["run_id"]) for a in _alerts(engine)]
    assert statuses == [
        (AlertStatus.RESOLVED, first.run_id),
        (AlertStatus.RESOLVED, second.run_id),
        (AlertStatus.FIRING, third.run_id),
    ]


async def test_a_routine_without_alert_makes_no_alert(engine: Engine) -> None:
    quiet = _runbook(DAILY.replace("alert: {severity: SEV3, labels: {team: ops}}\n", ""))
    assert quiet.alert is None
    clock = FrozenClock(T0)
    task = _task(engine, clock, quiet)
    await task.run_once()
    clock.advance(timedelta(hours=5))
    await task.run_once()
    assert _alerts(engine) == []


async def test_a_routine_that_loses_its_alert_resolves_the_open_one(engine: Engine) -> None:
    clock = FrozenClock(T0)
    await _task(engine, clock).run_once()
    clock.advance(timedelta(hours=3))
    await _task(engine, clock).run_once()
    quiet = _runbook(DAILY.replace("alert: {severity: SEV3, labels: {team: ops}}\n", ""))
    clock.advance(timedelta(minutes=1))
    await _task(engine, clock, quiet).run_once()  # restarted with the key removed
    (resolved,) = _alerts(engine)
    assert resolved.status is AlertStatus.RESOLVED


async def test_a_paging_severity_wakes_the_incidents_task(engine: Engine) -> None:
    loud = _runbook(DAILY.replace("{severity: SEV3, labels: {team: ops}}", "SEV2"))
    assert loud.alert == RoutineAlert("SEV2")
    clock = FrozenClock(T0 + timedelta(hours=3))
    wakes = _Wakes()
    await _task(engine, clock, loud, wakes=wakes).run_once()
    (found,) = _alerts(engine)
    assert (found.severity, found.labels["severity"]) == ("SEV2", "SEV2")
    assert (wakes.alerts, wakes.incidents) == (1, 1)


async def test_a_paging_routine_alert_opens_an_incident(engine: Engine) -> None:
    loud = _runbook(DAILY.replace("{severity: SEV3, labels: {team: ops}}", "SEV2"))
    config = _config()
    clock = FrozenClock(T0 + timedelta(hours=3))
    await _task(engine, clock, loud, config=config).run_once()
    run_pass(engine, config=config, emit=Recorder(), now=clock.now())
    with engine.connect() as conn:
        (incident,) = conn.execute(sa.select(incident_table)).all()
    assert (incident.severity, incident.title) == (
        "SEV2",
        "routine daily-checks due 09:00 UTC is 1h overdue, 0/2 ticked",
    )


async def test_the_alert_routes_and_notifies_like_any_alert(engine: Engine) -> None:
    config = _config(
        alerting={
            "notify": ["email"],
            "routes": [{"match": {"alertname": "RoutineOverdue"}, "notify": ["ops-room"]}],
        }
    )
    sent: list[AlertNotice] = []

    def emit(conn: Connection, notices: Sequence[AlertNotice]) -> None:
        sent.extend(notices)

    clock = FrozenClock(T0 + timedelta(hours=3))
    (opened,) = await _task(engine, clock, config=config).run_once()
    AlertEngine(config, engine, clock=clock, emit=emit).evaluate(clock.now())
    ((notice),) = sent
    assert (notice.receiver, notice.status) == ("ops-room", "firing")
    assert notice.alerts[0].labels["routine"] == "daily-checks"
    with engine.begin() as conn:
        cancel_run(conn, opened.run_id, actor="user:ana", now=clock.now())
    await _task(engine, clock, config=config).run_once()
    sent.clear()
    clock.advance(config.alerting.group_interval)  # a group's next notice waits for it
    AlertEngine(config, engine, clock=clock, emit=emit).evaluate(clock.now())
    assert [(n.receiver, n.status) for n in sent] == [("ops-room", "resolved")]


# -- front matter ------------------------------------------------------------------------------


def _errors(front: str) -> list[str]:
    _, problems = parse_runbook(f"---\n{front}---\n# T\n\n- [ ] a\n", name="rb", file="rb.md")
    return [f"rb.md:{p.line}:{p.column}: {p.message}" for p in problems]


@pytest.mark.parametrize(
    ("front", "alert_"),
    [
        ("alert: SEV3\n", RoutineAlert("SEV3")),
        ("alert: {severity: SEV1}\n", RoutineAlert("SEV1")),
        ("alert:\n  severity: SEV2\n  labels: {team: db, tier: 1}\n",
         RoutineAlert("SEV2", (("team", "db"), ("tier", "1")))),
    ],
)  # fmt: skip
def test_alert_front_matter_becomes_its_values(front: str, alert_: RoutineAlert) -> None:
    runbook = _runbook(f"---\nschedule: '0 9 * * *'\n{front}---\n# T\n\n- [ ] a\n", name="rb")
    assert runbook.alert == alert_


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("schedule: '0 9 * * *'\nalert: [SEV3]\n",
         "rb.md:3:8: alert: must be a severity (alert: SEV3) or a mapping "
         "(alert: {severity: SEV3}), not a list"),
        ("schedule: '0 9 * * *'\nalert: 3\n",
         "rb.md:3:8: alert: must be a severity (alert: SEV3) or a mapping "
         "(alert: {severity: SEV3}), not a number"),
        ("schedule: '0 9 * * *'\nalert: {labels: {team: ops}}\n",
         "rb.md:3:8: alert.severity: must be a severity name (e.g. SEV3), not none"),
        ("schedule: '0 9 * * *'\nalert: {severity: [SEV3]}\n",
         "rb.md:3:19: alert.severity: must be a severity name (e.g. SEV3), not a list"),
        ("schedule: '0 9 * * *'\nalert: {severity: SEV3, page: true}\n",
         "rb.md:3:25: alert: unknown key 'page' (use severity, labels)"),
        ("schedule: '0 9 * * *'\nalert: {severity: SEV3, labels: [team]}\n",
         "rb.md:3:33: alert.labels: must be a mapping of name -> text, not a list"),
        ("schedule: '0 9 * * *'\nalert: {severity: SEV3, labels: {routine: x}}\n",
         "rb.md:3:34: alert.labels.routine: is set by opsbook, leave it out"),
        ("schedule: '0 9 * * *'\nalert: {severity: SEV3, labels: {my-team: x}}\n",
         "rb.md:3:34: alert.labels: 'my-team' is not a label name (use letters, digits and "
         "'_', not starting with a digit)"),
        ("alert: SEV3\n", "rb.md:2:1: alert: only a routine has one (add schedule: too)"),
    ],
)  # fmt: skip
def test_it_rejects_bad_alert_front_matter(front: str, message: str) -> None:
    assert _errors(front) == [message]


def test_an_unknown_severity_is_a_load_error_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "daily-checks.md").write_text(DAILY.replace("SEV3", "SEV9"))
    (tmp_path / "runbooks" / "weekly.md").write_text(
        DAILY.replace("alert: {severity: SEV3, labels: {team: ops}}", "alert: P1")
    )
    (tmp_path / "runbooks" / "fine.md").write_text(DAILY)
    config_file = tmp_path / "opsbook.yaml"
    config_file.write_text(
        "service: shop\nseverities:\n  SEV3: {respond_within: 4h}\n  SEV4: {respond_within: 1d}\n"
    )
    loaded = load_for_config(config_file, load(config_file), environ={})
    folder = tmp_path / "runbooks"
    assert [str(p) for p in loaded.problems] == [
        f"{folder / 'daily-checks.md'}:5:19: alert.severity: no severity named 'SEV9' in the "
        "config (use SEV3, SEV4)",
        f"{folder / 'weekly.md'}:5:8: alert.severity: no severity named 'P1' in the config "
        "(use SEV3, SEV4)",
    ]


def test_opsbook_serve_fires_the_routine_alert(engine: Engine, tmp_path: Path) -> None:
    # The app as ``opsbook serve`` builds it: the routines task is given the alerter.
    runbook = _runbook()
    loaded = Loaded(Registry({runbook.name: runbook}), (), tmp_path)
    clock = FrozenClock(T0 + timedelta(hours=2, minutes=5))
    app = create_app(_config(), engine=engine, environ={}, clock=clock, runbooks=loaded)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while not _alerts(engine):
            assert time.monotonic() < deadline, "the routines task fired no alert"
            time.sleep(0.05)
    (found,) = _alerts(engine)
    assert (found.status, found.labels["alertname"]) == (AlertStatus.FIRING, "RoutineOverdue")


@pytest.mark.parametrize(
    ("seed", "severity"), [("lovable-shop", "P3"), ("in-midst-my-life", "SEV4")]
)
def test_the_examples_daily_checks_alert_without_paging(seed: str, severity: str) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / seed / "opsbook.yaml"
    config = load(path, environ={})
    loaded = load_for_config(path, config, environ={})
    assert [str(p) for p in loaded.problems] == []
    daily = loaded.registry.get("daily-checks")
    assert daily is not None and daily.alert == RoutineAlert(severity)
    assert not config.severities[severity].page
