"""Auto-diagnostics: a firing alert whose rule names a runbook runs its read steps once, the
output lands on the incident timeline and in the next page, a write step never runs (both
store backends; passes driven by hand with a frozen clock)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

import opsbook.runbooks.diagnostics as diagnostics
from alert_helpers import open_rule_alert
from incidents.paging_helpers import NOW, config_body, minutes
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import records
from opsbook.incidents.loop import run_pass
from opsbook.notify import IncidentEmitter
from opsbook.notify.tables import notification
from opsbook.runbooks.diagnostics import DiagnosticsTask, short_form
from opsbook.runbooks.models import Parameter, Position, Registry, Risk, Runbook, Step, StepKind
from opsbook.runbooks.registry import Loaded
from opsbook.runbooks.runs import get_run, list_runs
from opsbook.tasks import TaskFailures
from opsbook.web import create_app
from runbook_helpers import SETTINGS


def _step(step_id: str, text: str, risk: Risk, params: tuple[str, ...] = ()) -> Step:
    digest = hashlib.sha256(f"{risk}|{text}".encode()).hexdigest()
    return Step(
        id=step_id,
        kind=StepKind.SHELL,
        risk=risk,
        text=text,
        section="Diagnose",
        at=Position(1),
        digest=digest,
        params=params,
    )


def _config(**overrides: Any) -> Config:
    body = config_body(
        checks={"db": {"tcp": {"host": "127.0.0.1", "port": 1}}},
        alerts={"db-conns": {"when": "db down", "severity": "SEV1", "runbook": "db-conns"}},
        **overrides,
    )
    return Config.model_validate(body)


def _runbook(marker: Path, *steps: Step, parameters: tuple[Parameter, ...] = ()) -> Runbook:
    return Runbook(
        name="db-conns",
        title="Connections",
        path="runbooks/db-conns.md",
        steps=steps
        or (
            _step("count", 'echo "connections 97/100"\necho second line', Risk.READ),
            _step("kill-idle", f"touch {marker}", Risk.WRITE),
        ),
        parameters=parameters,
    )


def _setup(engine: Engine, runbook: Runbook) -> tuple[Config, DiagnosticsTask, IncidentEmitter]:
    config = _config()
    clock = FrozenClock(NOW)
    emit = IncidentEmitter(config, clock=clock)
    task = DiagnosticsTask(
        engine,
        config=config,
        registry=Registry({runbook.name: runbook}),
        emit=emit,
        settings=SETTINGS,
        clock=clock,
    )
    with engine.begin() as conn:
        open_rule_alert(conn, "db-conns", check="db", now=NOW - timedelta(minutes=1))
    return config, task, emit


def _pages(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(notification).where(notification.c.kind == "page").order_by("id")
            )
        )


def test_the_read_step_runs_once_and_its_output_is_on_the_timeline(
    engine: Engine, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    config, task, emit = _setup(engine, _runbook(marker))
    [incident_id] = run_pass(engine, config=config, emit=emit, now=NOW).declared
    first_pages = _pages(engine)
    assert first_pages and all("Diagnosis" not in str(p.payload) for p in first_pages)

    for _ in range(3):
        asyncio.run(task.run_once())

    with engine.connect() as conn:
        [run] = list_runs(conn)
        view = get_run(conn, run.id)
        events = [e for e in records.timeline(conn, incident_id) if e.kind == "diagnosis"]
    assert (run.trigger.kind, run.incident_id) == ("alert", incident_id)
    assert [(s.step_id, s.state) for s in view.steps] == [("count", "ok")]
    assert not marker.exists()
    [event] = events
    assert event.message == "count: connections 97/100"
    assert event.detail["steps"] == [
        {"id": "count", "state": "ok", "output": "connections 97/100\nsecond line"}
    ]
    # The follow-up to the channels the incident paged (pager and email), once.
    with engine.connect() as conn:
        follow = list(
            conn.execute(
                sa.select(notification).where(notification.c.idempotency_key.like("diagnosis:%"))
            )
        )
    assert sorted(r.channel for r in follow) == sorted({p.channel for p in first_pages})
    assert all("connections 97/100" in str(r.payload) for r in follow)

    # The next escalation level's page carries the short form.
    run_pass(engine, config=config, emit=emit, now=minutes(6))
    later = _pages(engine)[len(first_pages) :]
    assert later
    assert all("connections 97/100" in str(p.payload) for p in later)


def test_every_read_step_runs_even_when_the_first_fails(engine: Engine, tmp_path: Path) -> None:
    # A person's run stops at a failed step; a diagnosis must not: a failed healthz is exactly
    # when the next step's output matters.
    rb = _runbook(
        tmp_path / "unused",
        _step("healthz", "echo 'connection refused' >&2; exit 7", Risk.READ),
        _step("count", 'echo "connections 97/100"', Risk.READ),
    )
    config, task, emit = _setup(engine, rb)
    [incident_id] = run_pass(engine, config=config, emit=emit, now=NOW).declared

    asyncio.run(task.run_once())

    with engine.connect() as conn:
        [run] = list_runs(conn)
        view = get_run(conn, run.id)
        [event] = [e for e in records.timeline(conn, incident_id) if e.kind == "diagnosis"]
    assert [(s.step_id, s.state) for s in view.steps] == [("healthz", "failed"), ("count", "ok")]
    assert view.run.state == "failed"
    assert event.message == "healthz: connection refused; count: connections 97/100"


def test_a_read_step_needing_a_parameter_without_default_is_skipped_with_a_note(
    engine: Engine, tmp_path: Path
) -> None:
    runbook = _runbook(
        tmp_path / "x",
        _step("who", "echo {{ user }}", Risk.READ, params=("user",)),
        parameters=(Parameter("user"),),
    )
    config, task, emit = _setup(engine, runbook)
    [incident_id] = run_pass(engine, config=config, emit=emit, now=NOW).declared
    asyncio.run(task.run_once())
    asyncio.run(task.run_once())
    with engine.connect() as conn:
        assert list_runs(conn) == []
        [event] = [e for e in records.timeline(conn, incident_id) if e.kind == "diagnosis"]
    assert event.message.startswith("diagnosis skipped: runbook db-conns cannot run by itself")
    assert "params.user" in event.message


def test_short_form_keeps_five_steps_and_cuts_long_lines(engine: Engine, tmp_path: Path) -> None:
    steps = tuple(_step(f"s{i}", f"echo {'x' * 200}", Risk.READ) for i in range(7))
    config, task, emit = _setup(engine, _runbook(tmp_path / "x", *steps))
    run_pass(engine, config=config, emit=emit, now=NOW)
    asyncio.run(task.run_once())
    with engine.connect() as conn:
        view = get_run(conn, list_runs(conn)[0].id)
    parts = short_form(view).split("; ")
    assert [p.split(":")[0] for p in parts] == ["s0", "s1", "s2", "s3", "s4"]
    assert all(len(p.split(": ", 1)[1]) == 120 for p in parts)


def test_one_diagnosis_that_raises_does_not_stop_the_others(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A due diagnosis whose handling raises is logged and counted; the pass goes on and
    writes the others."""
    config, task, emit = _setup(engine, _runbook(tmp_path / "killed"))
    [incident_id] = run_pass(engine, config=config, emit=emit, now=NOW).declared
    failures = TaskFailures()
    task._failures = failures
    real_find = diagnostics.find_due
    monkeypatch.setattr(
        diagnostics,
        "find_due",
        lambda conn, **kw: (
            [replace(d, alert_id=-1) for d in real_find(conn, **kw)] + real_find(conn, **kw)
        ),
    )
    real_diagnose = task._diagnose

    async def poisoned(due: Any) -> bool:
        if due.alert_id == -1:
            raise RuntimeError("a row the diagnosis trips on")
        return await real_diagnose(due)

    monkeypatch.setattr(task, "_diagnose", poisoned)
    with capture_logs() as logs:
        assert asyncio.run(task.run_once()) == [incident_id]
    assert failures.snapshot()[1] == {"diagnostics": 1}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["diagnosis_failed"]
    with engine.connect() as conn:
        events = [e for e in records.timeline(conn, incident_id) if e.kind == "diagnosis"]
    assert [e.message for e in events] == ["count: connections 97/100"]


def test_the_servers_diagnostics_take_a_relative_shell_cwd_from_the_config_folder(
    engine: Engine, tmp_path: Path
) -> None:
    # The server's working directory is the repository (pytest's), not the config's folder:
    # a relative runbooks.shell.cwd must be found where a person's run finds it.
    (tmp_path / "work").mkdir()
    (tmp_path / "runbooks").mkdir()
    config = _config(runbooks={"shell": {"cwd": "work"}})
    rb = _runbook(tmp_path / "unused", _step("where", "pwd", Risk.READ))
    loaded = Loaded(Registry({rb.name: rb}), (), tmp_path / "runbooks")
    clock = FrozenClock(NOW)
    with engine.begin() as conn:
        open_rule_alert(conn, "db-conns", check="db", now=NOW - timedelta(minutes=1))
    emit = IncidentEmitter(config, clock=clock)
    [incident_id] = run_pass(engine, config=config, emit=emit, now=NOW).declared

    app = create_app(config, engine=engine, environ={}, clock=clock, runbooks=loaded)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while not (events := _diagnoses(engine, incident_id)):
            assert time.monotonic() < deadline, "the server ran no diagnosis"
            time.sleep(0.05)
    [event] = events
    assert event.detail["steps"] == [
        {"id": "where", "state": "ok", "output": str((tmp_path / "work").resolve())}
    ]


def _diagnoses(engine: Engine, incident_id: int) -> list[Any]:
    with engine.connect() as conn:
        return [e for e in records.timeline(conn, incident_id) if e.kind == "diagnosis"]
