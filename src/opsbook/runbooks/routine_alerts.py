"""A routine with ``alert:`` fires a ``RoutineOverdue`` alert while its current run is overdue,
through the alerts domain's ingest write path (``ingest_writes.apply_writes``), so it routes,
groups, pages and opens incidents like any alert; it resolves when the run ends or a newer due
run replaces it.

The alert is derived from the store on every pass, not claimed once: each pass compares the
routine's latest run with the open alert of the routine's fingerprint and writes only the
difference. A second pass or a restarted server finds the alert open and only refreshes its
summary; a resolved one is not open, so it never resolves twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.alerts.engine import paging_severities
from opsbook.alerts.ingest_writes import Incoming, IngestReport, Writes, apply_writes
from opsbook.alerts.models import AlertSource, AlertStatus
from opsbook.alerts.records import fingerprint
from opsbook.alerts.tables import alert
from opsbook.config import Config
from opsbook.runbooks.routine_notify import run_link
from opsbook.runbooks.routine_task import step_counts
from opsbook.runbooks.routines import Routine, age
from opsbook.runbooks.run_models import RunState
from opsbook.runbooks.tables import routine_run, runbook_run
from opsbook.store.group_commit import begin_immediate
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

ALERTNAME = "RoutineOverdue"
# The alert table has no routine source: these alerts are written as the generic webhook
# ingest writes its alerts, under this integration name.
SOURCE = AlertSource.WEBHOOK
INTEGRATION = "routines"
VIA = "the routine task"


def routine_fingerprint(routine: str) -> str:
    """One per routine. Ingested alerts' fingerprints always hash an ``integration`` label,
    rule alerts' a lowercase rule name, so this label set cannot meet theirs."""
    return fingerprint({"alertname": ALERTNAME, "routine": routine})


@dataclass(frozen=True)
class Overdue:
    """A routine's current run, overdue at ``now``."""

    routine: Routine
    run_id: int
    due_at: datetime
    steps_done: int
    steps_total: int


def summary(found: Overdue, *, now: datetime) -> str:
    """``routine daily-checks due 09:00 UTC is 3h overdue, 2/7 ticked`` (overdue counted from
    the due time plus grace; the due time in the routine's timezone, with its date when that
    is not today there)."""
    routine = found.routine
    zone = ZoneInfo(routine.timezone)
    local = found.due_at.astimezone(zone)
    shown = local.strftime("%H:%M")
    if local.date() != now.astimezone(zone).date():
        shown = local.strftime("%Y-%m-%d %H:%M")
    late = age(now - found.due_at - routine.grace)
    return (
        f"routine {routine.name} due {shown} {routine.timezone} is {late} overdue, "
        f"{found.steps_done}/{found.steps_total} ticked"
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _firing(config: Config, found: Overdue, *, now: datetime) -> Incoming:
    routine = found.routine
    spec = routine.runbook.alert
    if spec is None:  # pragma: no cover - callers pass alerting routines only
        raise ValueError(f"routine {routine.name} has no alert")
    link = run_link(config, found.run_id)
    annotations = {
        "summary": summary(found, now=now),
        "description": routine.runbook.title,
        "runbook": routine.name,
    }
    values: dict[str, JSONValue] = {"run_id": found.run_id, "due_at": _iso(found.due_at)}
    if link:
        annotations["run_url"] = link
        values["generator_url"] = link
    return Incoming(
        fingerprint=routine_fingerprint(routine.name),
        labels={
            **dict(spec.labels),
            "alertname": ALERTNAME,
            "routine": routine.name,
            "severity": spec.severity,
        },
        annotations=annotations,
        severity=spec.severity,
        started_at=min(found.due_at + routine.grace, now),
        ends_at=None,
        values=values,
        dedup_key=f"routine:{routine.name}",
    )


def _resolve(fp: str, *, at: datetime) -> Incoming:
    # Only the fingerprint and the time matter to a resolve (as in ``ingest_webhook``).
    return Incoming(
        fingerprint=fp,
        labels={},
        annotations={},
        severity="",
        started_at=at,
        ends_at=at,
        values={},
        resolved_at=at,
    )


def _latest_runs(conn: Connection, names: Sequence[str]) -> dict[str, Any]:
    """Each routine's run for its latest due time: routine, due_at, run_id, state, ended_at."""
    if not names:
        return {}
    latest = (
        sa.select(routine_run.c.runbook, sa.func.max(routine_run.c.due_at).label("due_at"))
        .where(routine_run.c.runbook.in_(list(names)))
        .group_by(routine_run.c.runbook)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            routine_run.c.runbook,
            routine_run.c.due_at,
            routine_run.c.run_id,
            runbook_run.c.state,
            runbook_run.c.ended_at,
        )
        .join(
            latest,
            sa.and_(
                latest.c.runbook == routine_run.c.runbook, latest.c.due_at == routine_run.c.due_at
            ),
        )
        .join(runbook_run, runbook_run.c.id == routine_run.c.run_id)
    ).all()
    return {row.runbook: row for row in rows}


def _open_routine_alerts(conn: Connection) -> dict[str, Any]:
    """The open routine alerts, by fingerprint (an integration of the same name that is not
    ours has other fingerprints and is left alone)."""
    rows = conn.execute(
        sa.select(alert.c.id, alert.c.fingerprint, alert.c.labels, alert.c["values"]).where(
            alert.c.open_key.is_not(None),
            alert.c.source == SOURCE.value,
            alert.c.integration == INTEGRATION,
            alert.c.status == AlertStatus.FIRING.value,
        )
    ).all()
    out = {}
    for row in rows:
        name = (row.labels or {}).get("routine")
        if isinstance(name, str) and row.fingerprint == routine_fingerprint(name):
            out[row.fingerprint] = row
    return out


def sync_alerts(
    conn: Connection, routines: Sequence[Routine], *, config: Config, now: datetime
) -> IngestReport:
    """Make the open ``RoutineOverdue`` alerts match the routines' runs at ``now``, in
    ``conn``'s transaction (the caller commits).

    1. A routine whose ``alert:`` severity the config has is alerting (a wrong one is a load
       error ``opsbook check`` names; here it is logged and treated as no ``alert:``).
    2. An alerting routine whose latest run is open past its grace should have a firing
       alert for that run: it is opened (started at due time + grace), or refreshed (its
       summary) when it is open for that run already.
    3. An open alert for an older run is resolved first, then the new run's opened: the alert
       is one episode per run.
    4. Any other open routine alert resolves: the run ended (at its ``ended_at``), a newer
       run is not yet overdue, or the routine lost its ``alert:`` or is gone.
    """
    alerting = []
    for routine in routines:
        spec = routine.runbook.alert
        if spec is None:
            continue
        if spec.severity not in config.severities:
            log.warning(
                "routine_alert_unknown_severity", routine=routine.name, severity=spec.severity
            )
            continue
        alerting.append(routine)
    if not alerting and not _open_routine_alerts(conn):
        return IngestReport()  # the common pass: nothing to write, no write lock taken
    # SQLite: hold the write lock from the first read we act on, so a second process cannot
    # open the same alert between our read and our write (PostgreSQL: the open_key unique
    # index refuses the second, and that pass retries).
    begin_immediate(conn)
    open_now = _open_routine_alerts(conn)
    runs = _latest_runs(conn, [r.name for r in alerting])
    counts = step_counts(conn, [int(r.run_id) for r in runs.values() if r.run_id is not None])
    first: list[Incoming] = []
    then: list[Incoming] = []
    wanted: set[str] = set()
    for routine in alerting:
        row = runs.get(routine.name)
        if row is None or RunState(row.state).is_ended or now < row.due_at + routine.grace:
            continue
        fp = routine_fingerprint(routine.name)
        wanted.add(fp)
        run_id = int(row.run_id)
        done, total = counts.get(run_id, (0, 0))
        found = Overdue(routine, run_id, row.due_at, done, total)
        current = open_now.get(fp)
        if current is not None and (current.values or {}).get("run_id") != run_id:
            first.append(_resolve(fp, at=now))
        then.append(_firing(config, found, now=now))
    for fp, current in open_now.items():
        if fp in wanted:
            continue
        name = current.labels["routine"]
        row = runs.get(name)
        ended = (
            row.ended_at
            if row is not None and row.run_id == (current.values or {}).get("run_id")
            else None
        )
        first.append(_resolve(fp, at=ended or now))
    writes = [Writes(items, SOURCE, INTEGRATION, VIA, now) for items in (first, then) if items]
    report = IngestReport()
    for done_ in apply_writes(conn, writes):
        report.add(done_.report)
    return report


class RoutineAlerter:
    """What ``RoutineTask`` calls each pass: ``sync`` writes the alerts in the caller's
    transaction; ``after_commit`` then wakes the alert engine (dispatch routes and notifies)
    when an alert opened or resolved, and the incidents task when one that pages fired, as the
    API's ingest does."""

    def __init__(
        self,
        config: Config,
        *,
        wake_alerts: Callable[[], None] = lambda: None,
        wake_incidents: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._paging = paging_severities(config)
        self._wake_alerts = wake_alerts
        self._wake_incidents = wake_incidents

    def sync(self, conn: Connection, routines: Sequence[Routine], *, now: datetime) -> IngestReport:
        return sync_alerts(conn, routines, config=self._config, now=now)

    def after_commit(self, report: IngestReport) -> None:
        if report.needs_dispatch:
            self._wake_alerts()
        if not report.fired.isdisjoint(self._paging):
            self._wake_incidents()
