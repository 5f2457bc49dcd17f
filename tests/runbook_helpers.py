"""A runbook built as values (no parser), a frozen clock, and the run's rows read straight from
the store, for the run and approval tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.runbooks.models import Parameter, Position, Risk, Runbook, Step, StepKind
from opsbook.runbooks.outcome import RunSettings
from opsbook.runbooks.tables import runbook_approval, runbook_run, runbook_run_step
from opsbook.store.audit import audit_event

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SETTINGS = RunSettings(kill_grace=timedelta(seconds=0.3))
CANARY = "canary-s3cr3t-7f1e"


def step(
    step_id: str, text: str, *, risk: Risk = Risk.READ, kind: StepKind = StepKind.SHELL
) -> Step:
    params = tuple(p for p in ("target", "token") if "{{ " + p + " }}" in text)
    digest = hashlib.sha256(f"{kind}|{risk}|{text}".encode()).hexdigest()
    return Step(
        id=step_id,
        kind=kind,
        risk=risk,
        text=text,
        section="Fix",
        at=Position(1),
        digest=digest,
        params=params,
    )


def runbook(*steps: Step) -> Runbook:
    return Runbook(
        name="db-fix",
        title="Fix the database",
        path="runbooks/db-fix.md",
        steps=steps,
        parameters=(
            Parameter("target", default="primary"),
            Parameter("token", secret=True),
        ),
        digest="r" * 64,
    )


def clock() -> FrozenClock:
    return FrozenClock(T0)


def rows(engine: Engine, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every stored row about the run, as plain dicts, for asserting what was written."""
    with engine.connect() as conn:
        return {
            "run": [
                r._asdict()
                for r in conn.execute(sa.select(runbook_run).where(runbook_run.c.id == run_id))
            ],
            "steps": [
                r._asdict()
                for r in conn.execute(
                    sa.select(runbook_run_step)
                    .where(runbook_run_step.c.run_id == run_id)
                    .order_by(runbook_run_step.c.position)
                )
            ],
            "approvals": [
                r._asdict()
                for r in conn.execute(
                    sa.select(runbook_approval).where(runbook_approval.c.run_id == run_id)
                )
            ],
            "audit": [r._asdict() for r in conn.execute(sa.select(audit_event))],
        }
