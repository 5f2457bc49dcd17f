"""Approvals of steps by another person: asked for, decided, and found when the runner reaches
the step. An approval is bound to the step's digest and the parameters' digest as they were
when it was asked for, and expires; ``policy.grant_problem`` says whether one still counts.
Sync functions on a caller's ``Connection``; each request and decision is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.errors import Conflict, Forbidden, InputError, NotFound
from opsbook.runbooks.approval_notice import ApprovalRequest, enqueue_approval_notice
from opsbook.runbooks.models import Risk, StepKind
from opsbook.runbooks.policy import Grant, grant_problem, params_digest, self_approval_problem
from opsbook.runbooks.run_models import ApprovalView, StepState, approval_from_row
from opsbook.runbooks.runs import open_run_row, step_row
from opsbook.runbooks.tables import runbook_approval
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

MAX_TTL = timedelta(days=1)


def request_approval(
    conn: Connection,
    run_id: int,
    step_id: str,
    *,
    actor: str,
    now: datetime,
    ttl: timedelta,
    origin: str = "system",
    config: Config | None = None,
) -> int:
    """Ask for another person's approval of a step; returns the approval's id. It binds the
    step digest and parameters the run holds now and expires ``ttl`` from ``now``. With
    ``config``, the request is announced in the same transaction: one outbox row per channel
    (``approval_notice``); the channels told, or why none, go in the audit detail. Raises
    ``NotFound``, ``InputError`` (a read or manual step, a bad ``ttl``), ``Conflict`` (an
    ended run, a step no longer waiting)."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InputError(f"ttl: must be more than 0s and at most {MAX_TTL}", field="ttl")
    run = open_run_row(conn, run_id)
    row = step_row(conn, run_id, step_id)
    if row.kind == StepKind.MANUAL or row.risk == Risk.READ:
        raise InputError(
            f"step {step_id} is a {row.risk if row.kind != StepKind.MANUAL else 'manual'} step: "
            "it needs no approval",
            field="step",
        )
    if not StepState(row.state).is_open:
        raise Conflict(f"step {step_id} of run {run_id} is {row.state}; nothing to approve")
    result = conn.execute(
        runbook_approval.insert().values(
            run_id=run_id,
            step_id=step_id,
            step_digest=row.step_digest,
            params_digest=params_digest(run.params),
            requested_by=actor,
            requested_at=now,
            expires_at=now + ttl,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new runbook_approval id")
    approval_id = int(key[0])
    detail: dict[str, JSONValue] = {
        "run_id": run_id,
        "runbook": run.runbook,
        "step": step_id,
        "ttl_s": ttl.total_seconds(),
    }
    if config is not None:
        notice = ApprovalRequest(
            approval_id=approval_id,
            run_id=run_id,
            runbook=run.runbook,
            step_id=step_id,
            kind=row.kind,
            risk=row.risk,
            step_digest=row.step_digest,
            params=run.params,
            requested_by=actor,
            expires_at=now + ttl,
            incident_id=run.incident_id,
        )
        channels, note = enqueue_approval_notice(conn, config, notice, now=now)
        detail["notified"] = list(channels)
        if note:
            detail["note"] = note
            log.info("runbook_approval_not_announced", approval_id=approval_id, reason=note)
    record_audit(
        conn,
        actor=actor,
        action="runbook.approval.request",
        subject=f"runbook_approval:{approval_id}",
        detail=detail,
        origin=origin,
        at=now,
    )
    return approval_id


def decide_approval(
    conn: Connection,
    approval_id: int,
    *,
    actor: str,
    approve: bool,
    now: datetime,
    origin: str = "system",
) -> ApprovalView:
    """Approve or deny. Approving needs a person other than the requester (``policy``); anyone
    may deny, the requester too (withdrawing it). Raises ``NotFound``, ``Forbidden`` (self-
    approval or not a person, with why), ``Conflict`` (decided already, expired, run ended)."""
    row = conn.execute(
        sa.select(runbook_approval).where(runbook_approval.c.id == approval_id)
    ).first()
    if row is None:
        raise NotFound(f"no runbook approval {approval_id}", field="approval_id")
    open_run_row(conn, row.run_id)
    if row.decision is not None:
        raise Conflict(
            f"approval {approval_id} was decided already ({row.decision} by {row.decided_by})"
        )
    if now >= row.expires_at:
        raise Conflict(
            f"approval {approval_id} expired at {row.expires_at.isoformat()}; request a new one"
        )
    if approve:
        problem = self_approval_problem(requested_by=row.requested_by, approver=actor)
        if problem is not None:
            raise Forbidden(problem)
    decision = "approve" if approve else "deny"
    conn.execute(
        runbook_approval.update()
        .where(runbook_approval.c.id == approval_id)
        .values(decided_by=actor, decided_at=now, decision=decision)
    )
    record_audit(
        conn,
        actor=actor,
        action=f"runbook.approval.{decision}",
        subject=f"runbook_approval:{approval_id}",
        detail={"run_id": int(row.run_id), "step": row.step_id},
        origin=origin,
        at=now,
    )
    return approval_from_row(
        conn.execute(sa.select(runbook_approval).where(runbook_approval.c.id == approval_id)).one()
    )


def approval_problem(
    conn: Connection,
    run_id: int,
    step_id: str,
    *,
    step_digest: str,
    params: dict[str, str | None],
    now: datetime,
) -> str | None:
    """``None`` when an approval of the step counts now; else why none does (the newest
    request's reason, or that none was asked for)."""
    rows = conn.execute(
        sa.select(runbook_approval)
        .where(runbook_approval.c.run_id == run_id, runbook_approval.c.step_id == step_id)
        .order_by(runbook_approval.c.id.desc())
    ).all()
    if not rows:
        return "no approval requested"
    digest = params_digest(params)
    problems = []
    for row in rows:
        grant = Grant(
            step_digest=row.step_digest,
            params_digest=row.params_digest,
            requested_by=row.requested_by,
            expires_at=row.expires_at,
            decided_by=row.decided_by,
            decision=row.decision,
        )
        problem = grant_problem(grant, step_digest=step_digest, params_digest=digest, now=now)
        if problem is None:
            return None
        problems.append(problem)
    return f"approval {rows[0].id}: {problems[0]}"
