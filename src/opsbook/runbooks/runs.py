"""Recorded runs: start one, confirm or tick its steps, read it back, and mark the runs a crash
cut short. Sync functions on a caller's ``Connection`` (the caller commits), each write by a
person audited in the same transaction. Running the steps is ``runner.execute_run``; approvals
are ``approvals``; who must say yes to what is ``policy``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents.tables import incident
from opsbook.redaction import MASK
from opsbook.runbooks.models import Risk, Runbook, Step, StepKind
from opsbook.runbooks.run_models import (
    RunState,
    RunSummary,
    RunView,
    StepState,
    Trigger,
    TriggerKind,
    approval_from_row,
    step_from_row,
    summary_from_row,
)
from opsbook.runbooks.tables import runbook_approval, runbook_run, runbook_run_step
from opsbook.runbooks.values import Value, check_values, render_value
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

MAX_NOTE_CHARS = 2000
ACTIVE_STATES = (RunState.RUNNING.value, RunState.WAITING.value)


def start_run(
    conn: Connection,
    runbook: Runbook,
    *,
    step_ids: Sequence[str] | None,
    params: Mapping[str, str],
    trigger: Trigger,
    actor: str,
    now: datetime,
    incident_id: int | None = None,
    origin: str = "system",
) -> int:
    """Record a ``pending`` run of ``runbook`` and return its id; nothing runs yet.

    ``step_ids`` picks steps (kept in the runbook's order); ``None`` takes every step.
    ``params`` are the request's strings, checked with ``values.check_values``. Secret
    parameter values are stored as ``***``; the runner is given them again. Raises
    ``InputError`` naming ``steps`` (unknown ids, all named) or ``params.NAME``; writes nothing
    then.
    """
    steps = choose_steps(runbook, step_ids)
    values = check_values(
        params, parameters=runbook.parameters, names=[n for s in steps for n in s.params]
    )
    stored = stored_params(runbook, values)
    if not isinstance(trigger.kind, TriggerKind):
        raise InputError(f"trigger: not one of {', '.join(TriggerKind)}", field="trigger")
    result = conn.execute(
        runbook_run.insert().values(
            runbook=runbook.name,
            runbook_digest=runbook.digest,
            trigger_kind=trigger.kind.value,
            trigger_detail=trigger.detail[:500],
            incident_id=incident_id,
            params=stored,
            state=RunState.PENDING.value,
            created_at=now,
            created_by=actor,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new runbook_run id")
    run_id = int(key[0])
    conn.execute(
        runbook_run_step.insert(),
        [
            {
                "run_id": run_id,
                "position": position,
                "step_id": step.id,
                "step_digest": step.digest,
                "kind": step.kind.value,
                "risk": step.risk.value,
                "state": StepState.PENDING.value,
                "output": "",
                "error": "",
                "truncated": False,
            }
            for position, step in enumerate(steps)
        ],
    )
    detail: dict[str, JSONValue] = {
        "runbook": runbook.name,
        "steps": [s.id for s in steps],
        "params": dict(stored),
        "trigger": trigger.kind.value,
    }
    if incident_id is not None:
        detail["incident_id"] = incident_id
    record_audit(
        conn,
        actor=actor,
        action="runbook.run",
        subject=f"runbook_run:{run_id}",
        detail=detail,
        origin=origin,
        at=now,
    )
    return run_id


def choose_steps(runbook: Runbook, step_ids: Sequence[str] | None) -> list[Step]:
    if not runbook.steps:
        raise InputError(f"runbook {runbook.name} has no steps to run", field="steps")
    if step_ids is None:
        return list(runbook.steps)
    if not step_ids:
        raise InputError("steps: name at least one step (or none to run them all)", field="steps")
    known = {s.id for s in runbook.steps}
    unknown = [s for s in dict.fromkeys(step_ids) if s not in known]
    if unknown:
        raise InputError(
            f"steps: no such step in {runbook.name}: {', '.join(unknown)} "
            f"(its steps: {', '.join(s.id for s in runbook.steps)})",
            field="steps",
        )
    wanted = set(step_ids)
    return [s for s in runbook.steps if s.id in wanted]


def stored_params(runbook: Runbook, values: Mapping[str, Value]) -> dict[str, str | None]:
    """``values`` as stored: rendered text, a secret one as ``***``, no value as ``None``."""
    secret = {p.name for p in runbook.parameters if p.secret}
    return {
        name: None if value is None else MASK if name in secret else render_value(value)
        for name, value in values.items()
    }


def run_values(
    runbook: Runbook, stored: Mapping[str, str | None], secrets: Mapping[str, str]
) -> dict[str, Value]:
    """The values to run with: the stored ones, with each secret one taken from ``secrets``
    (never stored). Raises ``InputError`` (``params.NAME``) when a secret is missing."""
    secret = {p.name for p in runbook.parameters if p.secret}
    given = {k: v for k, v in stored.items() if v is not None and k not in secret}
    for name in stored:
        if name in secret:
            if name not in secrets:
                raise InputError(
                    f"params.{name}: a secret parameter's value is not stored; give it again",
                    field=f"params.{name}",
                )
            given[name] = secrets[name]
    return check_values(given, parameters=runbook.parameters, names=list(stored))


def confirm_step(
    conn: Connection,
    run_id: int,
    step_id: str,
    *,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> None:
    """Record ``actor``'s confirmation of a ``write`` step, bound to the step's digest (a
    changed step needs a new one). Whether ``actor`` is a responder is the caller's check.
    Raises ``NotFound``, ``InputError`` for a step that takes no confirmation, ``Conflict``
    for an ended run or a step no longer waiting."""
    run = open_run_row(conn, run_id)
    row = step_row(conn, run_id, step_id)
    if row.kind == StepKind.MANUAL:
        raise InputError(f"step {step_id} is a manual step: tick it off instead", field="step")
    if row.risk == Risk.READ:
        raise InputError(f"step {step_id} is a read step: it needs no confirmation", field="step")
    if row.risk == Risk.DANGER:
        raise InputError(
            f"step {step_id} is a danger step: it needs an approval by another person, "
            "not a confirmation",
            field="step",
        )
    if not StepState(row.state).is_open:
        raise Conflict(f"step {step_id} of run {run_id} is {row.state}; nothing to confirm")
    _update_step(
        conn,
        run_id,
        row.position,
        confirmed_by=actor,
        confirmed_at=now,
        confirmed_digest=row.step_digest,
    )
    _audit(conn, run, "runbook.step.confirm", step_id, actor=actor, now=now, origin=origin)


def tick_step(
    conn: Connection,
    run_id: int,
    step_id: str,
    *,
    actor: str,
    note: str = "",
    now: datetime,
    origin: str = "system",
) -> None:
    """Tick off a manual step: it becomes ``done`` by ``actor`` with ``note``. Resume the run
    (``execute_run``) to go on. Raises ``NotFound``, ``InputError`` (not a manual step, note
    too long), ``Conflict`` (ended run, step already done)."""
    run = open_run_row(conn, run_id)
    row = step_row(conn, run_id, step_id)
    if row.kind != StepKind.MANUAL:
        raise InputError(
            f"step {step_id} is a {row.kind} step: only manual steps are ticked off", field="step"
        )
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(f"note: at most {MAX_NOTE_CHARS} characters", field="note")
    if not StepState(row.state).is_open:
        raise Conflict(f"step {step_id} of run {run_id} is {row.state} already")
    _update_step(
        conn,
        run_id,
        row.position,
        state=StepState.DONE.value,
        done_by=actor,
        note=note.strip() or None,
        started_at=now,
        ended_at=now,
    )
    _audit(conn, run, "runbook.step.tick", step_id, actor=actor, now=now, origin=origin)


def cancel_run(
    conn: Connection, run_id: int, *, actor: str, now: datetime, origin: str = "system"
) -> None:
    """Cancel a ``pending`` or ``waiting`` run: its open steps become ``skipped``. A run that
    is ``running`` is stopped by cancelling its task instead. Raises ``NotFound``,
    ``Conflict``."""
    run = open_run_row(conn, run_id)
    changed = conn.execute(
        runbook_run.update()
        .where(
            runbook_run.c.id == run_id,
            runbook_run.c.state.in_([RunState.PENDING.value, RunState.WAITING.value]),
        )
        .values(state=RunState.CANCELLED.value, ended_at=now)
    )
    if changed.rowcount != 1:
        raise Conflict(f"run {run_id} is {run.state}; stop it where it runs")
    conn.execute(
        runbook_run_step.update()
        .where(
            runbook_run_step.c.run_id == run_id,
            runbook_run_step.c.state.in_([s.value for s in StepState if s.is_open]),
        )
        .values(state=StepState.SKIPPED.value)
    )
    record_audit(
        conn,
        actor=actor,
        action="runbook.run.cancel",
        subject=f"runbook_run:{run_id}",
        detail={"runbook": run.runbook},
        origin=origin,
        at=now,
    )


def mark_interrupted(conn: Connection, *, now: datetime) -> list[int]:
    """Mark every run still ``running`` (and its running step) ``interrupted``: called at server
    start, when no run can be running in this process. Returns the ids marked."""
    ids = [
        int(i)
        for i in conn.execute(
            sa.select(runbook_run.c.id).where(runbook_run.c.state == RunState.RUNNING.value)
        ).scalars()
    ]
    if not ids:
        return []
    conn.execute(
        runbook_run_step.update()
        .where(
            runbook_run_step.c.run_id.in_(ids),
            runbook_run_step.c.state == StepState.RUNNING.value,
        )
        .values(state=StepState.INTERRUPTED.value, ended_at=now)
    )
    conn.execute(
        runbook_run.update()
        .where(runbook_run.c.id.in_(ids), runbook_run.c.state == RunState.RUNNING.value)
        .values(state=RunState.INTERRUPTED.value, ended_at=now)
    )
    return ids


def get_run(conn: Connection, run_id: int) -> RunView:
    """The run with its steps and approvals. Raises ``NotFound``."""
    run = summary_from_row(run_row(conn, run_id))
    steps = conn.execute(
        sa.select(runbook_run_step)
        .where(runbook_run_step.c.run_id == run_id)
        .order_by(runbook_run_step.c.position)
    )
    approvals = conn.execute(
        sa.select(runbook_approval)
        .where(runbook_approval.c.run_id == run_id)
        .order_by(runbook_approval.c.id)
    )
    return RunView(
        run=run,
        steps=tuple(step_from_row(r) for r in steps),
        approvals=tuple(approval_from_row(r) for r in approvals),
    )


def list_runs(
    conn: Connection,
    *,
    runbook: str | None = None,
    incident_id: int | None = None,
    limit: int = 50,
) -> list[RunSummary]:
    """The newest ``limit`` runs (of ``runbook``, for ``incident_id``, if given), newest first;
    each filter is served by an index."""
    if limit < 1:
        raise InputError(f"limit: must be at least 1, not {limit}", field="limit")
    query = sa.select(runbook_run).order_by(runbook_run.c.id.desc()).limit(limit)
    if runbook is not None:
        query = query.where(runbook_run.c.runbook == runbook)
    if incident_id is not None:
        query = query.where(runbook_run.c.incident_id == incident_id)
    return [summary_from_row(r) for r in conn.execute(query)]


def list_active_runs(conn: Connection) -> list[RunSummary]:
    """Every run ``running`` or ``waiting``, oldest first (reached through the state index)."""
    query = (
        sa.select(runbook_run)
        .where(runbook_run.c.state.in_(ACTIVE_STATES))
        .order_by(runbook_run.c.id)
    )
    return [summary_from_row(r) for r in conn.execute(query)]


def incident_severity(conn: Connection, incident_id: int) -> str | None:
    """The incident's severity now, ``None`` when there is no such incident."""
    found = conn.execute(sa.select(incident.c.severity).where(incident.c.id == incident_id))
    value = found.scalar()
    return None if value is None else str(value)


def writes_need_approval(
    conn: Connection, incident_id: int | None, *, during: Collection[str]
) -> bool:
    """Whether ``write`` steps of a run for ``incident_id`` need an approval by another person
    (``runbooks.approvals.write_during``), not only a confirmation."""
    if incident_id is None or not during:
        return False
    return incident_severity(conn, incident_id) in during


def run_row(conn: Connection, run_id: int) -> Any:
    row = conn.execute(sa.select(runbook_run).where(runbook_run.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no runbook run {run_id}", field="run_id")
    return row


def open_run_row(conn: Connection, run_id: int) -> Any:
    row = run_row(conn, run_id)
    if RunState(row.state).is_ended:
        raise Conflict(f"run {run_id} is {row.state}; it takes no more changes")
    return row


def step_row(conn: Connection, run_id: int, step_id: str) -> Any:
    row = conn.execute(
        sa.select(runbook_run_step).where(
            runbook_run_step.c.run_id == run_id, runbook_run_step.c.step_id == step_id
        )
    ).first()
    if row is None:
        raise NotFound(f"run {run_id} has no step {step_id}", field="step")
    return row


def _update_step(conn: Connection, run_id: int, position: int, **values: Any) -> None:
    conn.execute(
        runbook_run_step.update()
        .where(runbook_run_step.c.run_id == run_id, runbook_run_step.c.position == position)
        .values(**values)
    )


def _audit(
    conn: Connection, run: Any, action: str, step_id: str, *, actor: str, now: datetime, origin: str
) -> None:
    record_audit(
        conn,
        actor=actor,
        action=action,
        subject=f"runbook_run:{run.id}",
        detail={"runbook": run.runbook, "step": step_id},
        origin=origin,
        at=now,
    )
