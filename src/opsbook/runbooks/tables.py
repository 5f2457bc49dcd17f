"""The runbooks domain's tables, on the shared metadata; created by the 2026-12-06 runbook runs
migration.

``runbook_run`` is one run of a runbook (who or what started it, its parameters with secret
values masked, its state); ``runbook_run_step`` one row per step it will run, in order, with
the step's outcome (masked and capped) once it ran; ``runbook_approval`` a request for another
person to approve a step, bound to the step's digest and a digest of the parameter values.
There is no foreign key to incidents: a run knows its incident by id only.
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata


def _ref() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


runbook_run = sa.Table(
    "runbook_run",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("runbook", sa.String(200), nullable=False),
    # ``Runbook.digest`` when the run was started.
    sa.Column("runbook_digest", sa.String(64), nullable=False),
    # "person", "alert", "schedule", "api"; the detail is the actor, the alert id or the routine.
    sa.Column("trigger_kind", sa.String(16), nullable=False),
    sa.Column("trigger_detail", sa.String(500), nullable=False),
    sa.Column("incident_id", _ref(), nullable=True),
    # Rendered values by name; a secret parameter's value is stored as "***", never in plain.
    sa.Column("params", json_type(), nullable=False),
    # "pending", "running", "waiting", "succeeded", "failed", "cancelled", "interrupted".
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    # The runner and the restart pass look up the few runs still running or waiting.
    sa.Index(None, "state"),
    # A runbook's recent runs, newest first.
    sa.Index(None, "runbook", "id"),
    # An incident's runs, newest first; the run an alert's diagnosis started (each pass).
    sa.Index(None, "incident_id", "id"),
    sa.Index(None, "trigger_kind", "trigger_detail"),
)

runbook_run_step = sa.Table(
    "runbook_run_step",
    metadata,
    sa.Column("run_id", _ref(), primary_key=True),
    # 0-based order of the step in this run.
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("step_id", sa.String(200), nullable=False),
    # ``Step.digest`` the run holds for it; replaced (and noted) when the runbook was reloaded
    # with a changed step, so a confirmation or approval of the old text no longer counts.
    sa.Column("step_digest", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("risk", sa.String(16), nullable=False),
    # "pending", "waiting_confirmation", "waiting_approval", "running", "ok", "failed",
    # "timeout", "cancelled", "refused", "skipped", "done" (a manual step ticked off),
    # "interrupted".
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("confirmed_by", sa.String(200), nullable=True),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    sa.Column("confirmed_digest", sa.String(64), nullable=True),
    # Masked and capped, like everything the executors return.
    sa.Column("output", sa.Text(), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    # {"columns": [...], "rows": [[...], ...]} for a SQL step, else null.
    sa.Column("rows", json_type(), nullable=True),
    sa.Column("truncated", sa.Boolean(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("done_by", sa.String(200), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["run_id"], ["runbook_run.id"], ondelete="CASCADE"),
)

runbook_approval = sa.Table(
    "runbook_approval",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("run_id", _ref(), nullable=False),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("step_digest", sa.String(64), nullable=False),
    sa.Column("params_digest", sa.String(64), nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    # "approve" or "deny"; null while undecided.
    sa.Column("decision", sa.String(16), nullable=True),
    sa.ForeignKeyConstraint(["run_id"], ["runbook_run.id"], ondelete="CASCADE"),
    sa.Index(None, "run_id", "step_id"),
)

# One row per (routine, due time) a run was opened for (``runbooks.routines``; created by the
# 2026-12-06 routine runs migration). The primary key is what makes "one run per due time"
# hold across restarts and between two processes: the insert that claims a due time commits
# with the run it opens, and a second claim of the same due time inserts nothing.
routine_run = sa.Table(
    "routine_run",
    metadata,
    sa.Column("runbook", sa.String(200), primary_key=True),
    sa.Column("due_at", UTCDateTime(), primary_key=True),
    sa.Column("run_id", _ref(), nullable=True),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    # When the overdue reminder was queued; null until then (it is queued once).
    sa.Column("overdue_at", UTCDateTime(), nullable=True),
)
