"""Lists of recorded runs for the UI: filtered by runbook, state or incident, newest first.

``runs.list_runs`` filters by runbook only (what the API and CLI take); the pages also filter by
state and show an incident's runs, which this module adds without changing that contract.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.errors import InputError
from opsbook.runbooks.run_models import RunState, RunSummary, summary_from_row
from opsbook.runbooks.tables import runbook_run

MAX_LIMIT = 500


def find_runs(
    conn: Connection,
    *,
    runbook: str | None = None,
    state: RunState | None = None,
    incident_id: int | None = None,
    limit: int = 50,
) -> list[RunSummary]:
    """The newest ``limit`` runs matching every filter given, newest first. Raises
    ``InputError`` (``limit``) for a limit outside 1..500."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit: must be from 1 to {MAX_LIMIT}, not {limit}", field="limit")
    query = sa.select(runbook_run).order_by(runbook_run.c.id.desc()).limit(limit)
    if runbook is not None:
        query = query.where(runbook_run.c.runbook == runbook)
    if state is not None:
        query = query.where(runbook_run.c.state == state.value)
    if incident_id is not None:
        query = query.where(runbook_run.c.incident_id == incident_id)
    return [summary_from_row(r) for r in conn.execute(query)]
