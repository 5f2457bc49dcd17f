"""What a recorded run is, as the API, CLI and UI read it: plain frozen values built from the
``runbook_run``, ``runbook_run_step`` and ``runbook_approval`` rows. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsbook.types import JSONValue


class RunState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_ended(self) -> bool:
        return self not in {RunState.PENDING, RunState.RUNNING, RunState.WAITING}


class StepState(enum.StrEnum):
    PENDING = "pending"
    WAITING_CONFIRMATION = "waiting_confirmation"
    WAITING_APPROVAL = "waiting_approval"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    REFUSED = "refused"
    SKIPPED = "skipped"
    DONE = "done"
    INTERRUPTED = "interrupted"

    @property
    def is_open(self) -> bool:
        """Not run, ticked or given up yet."""
        return self in {
            StepState.PENDING,
            StepState.WAITING_CONFIRMATION,
            StepState.WAITING_APPROVAL,
        }


class TriggerKind(enum.StrEnum):
    PERSON = "person"
    ALERT = "alert"
    SCHEDULE = "schedule"
    API = "api"


@dataclass(frozen=True)
class Trigger:
    """What started a run: ``detail`` is the actor (person, api), the alert id (alert) or the
    routine's name (schedule)."""

    kind: TriggerKind
    detail: str


@dataclass(frozen=True)
class RunStepView:
    position: int
    step_id: str
    step_digest: str
    kind: str
    risk: str
    state: StepState
    confirmed_by: str | None
    confirmed_at: datetime | None
    output: str
    error: str
    exit_code: int | None
    http_status: int | None
    rows: dict[str, JSONValue] | None
    truncated: bool
    started_at: datetime | None
    ended_at: datetime | None
    done_by: str | None
    note: str | None


@dataclass(frozen=True)
class ApprovalView:
    id: int
    run_id: int
    step_id: str
    step_digest: str
    params_digest: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision: str | None


@dataclass(frozen=True)
class RunSummary:
    """One run without its steps. ``params`` has secret values as ``***``."""

    id: int
    runbook: str
    runbook_digest: str
    trigger: Trigger
    incident_id: int | None
    params: dict[str, str | None]
    state: RunState
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    created_by: str


@dataclass(frozen=True)
class RunView:
    """One run with its steps in order and every approval asked for."""

    run: RunSummary
    steps: tuple[RunStepView, ...]
    approvals: tuple[ApprovalView, ...]

    def step(self, step_id: str) -> RunStepView | None:
        return next((s for s in self.steps if s.step_id == step_id), None)


def summary_from_row(row: Any) -> RunSummary:
    return RunSummary(
        id=int(row.id),
        runbook=row.runbook,
        runbook_digest=row.runbook_digest,
        trigger=Trigger(TriggerKind(row.trigger_kind), row.trigger_detail),
        incident_id=row.incident_id,
        params=dict(row.params),
        state=RunState(row.state),
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        created_by=row.created_by,
    )


def step_from_row(row: Any) -> RunStepView:
    return RunStepView(
        position=row.position,
        step_id=row.step_id,
        step_digest=row.step_digest,
        kind=row.kind,
        risk=row.risk,
        state=StepState(row.state),
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        output=row.output,
        error=row.error,
        exit_code=row.exit_code,
        http_status=row.http_status,
        rows=row.rows,
        truncated=bool(row.truncated),
        started_at=row.started_at,
        ended_at=row.ended_at,
        done_by=row.done_by,
        note=row.note,
    )


def approval_from_row(row: Any) -> ApprovalView:
    return ApprovalView(
        id=int(row.id),
        run_id=int(row.run_id),
        step_id=row.step_id,
        step_digest=row.step_digest,
        params_digest=row.params_digest,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision=row.decision,
    )
