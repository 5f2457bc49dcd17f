"""Auto-diagnostics: when an alert whose rule names a runbook fires and joins an incident, run
that runbook's ``read`` steps once and put what they said on the incident's timeline (a
``diagnosis`` event) and in a follow-up message to the channels the incident paged.

Why after the incident, not at the alert: the first page commits with the incident's
declaration (``incidents.loop``), before any step could have run, and a diagnosis needs an
incident to be written on. So the first page carries no diagnosis; later pages (the next
escalation level, repeats) show it as ``diagnosis``, and the follow-up carries it at once.

The link is the run itself: trigger ``alert`` with the alert's id as detail. A pass never
starts a second run for an alert that has one, and writes the timeline event of an ended run
that has none yet (a restart between the run and its event), so a crash loses nothing and
doubles nothing. One server process runs the task (like the incidents task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts.tables import alert
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.errors import InputError
from opsbook.incidents.models import EmitIncident, IncidentNotice
from opsbook.incidents.notices import linked_alerts
from opsbook.incidents.records import add_event, get_incident, row_to_event
from opsbook.incidents.service import alert_name
from opsbook.incidents.tables import incident_alert, incident_event
from opsbook.notify.tables import notification
from opsbook.redaction import secret_values
from opsbook.runbooks.models import Registry, Risk, Runbook, Step, StepKind
from opsbook.runbooks.outcome import RunSettings
from opsbook.runbooks.registry import link_name
from opsbook.runbooks.run_models import RunView, Trigger, TriggerKind
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import get_run, start_run
from opsbook.runbooks.settings import run_settings
from opsbook.runbooks.tables import runbook_run
from opsbook.runbooks.values import check_values
from opsbook.tasks import TaskFailures, describe_error

log = structlog.get_logger(__name__)

TASK = "diagnostics"
ACTOR = "system:diagnostics"
ORIGIN = "runner"
EVENT = "diagnosis"
TIME_CAP = timedelta(seconds=60)
SHORT_STEPS = 5
SHORT_CHARS = 120
EVENT_LINES = 10


@dataclass(frozen=True)
class Due:
    """An alert to diagnose: ``run_id`` set when its run exists but has no event yet."""

    alert_id: int
    incident_id: int
    alert: str
    runbook: Runbook
    run_id: int | None = None


def read_steps(runbook: Runbook) -> list[Step]:
    """The steps that run by themselves: ``read`` risk, never a manual checklist line."""
    return [s for s in runbook.steps if s.risk is Risk.READ and s.kind is not StepKind.MANUAL]


def runbook_for(config: Config, registry: Registry, name: str) -> Runbook | None:
    """The rule's ``runbook:`` if it is one of ours, else the first runbook whose front matter
    lists the alert."""
    rule = config.alerts.get(name)
    if rule is not None and rule.runbook:
        target = link_name(rule.runbook)
        found = registry.get(target) if target else None
        if found is not None:
            return found
    listed = registry.for_alert(name)
    return listed[0] if listed else None


def first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= SHORT_CHARS else line[: SHORT_CHARS - 1] + "…"


def short_form(view: RunView) -> str:
    """``id: first non-empty output line`` per step (the error when no output), at most
    ``SHORT_STEPS`` steps, joined with ``; ``."""
    parts = []
    for step in view.steps[:SHORT_STEPS]:
        said = first_line(step.output) or first_line(step.error) or str(step.state)
        parts.append(f"{step.step_id}: {said}")
    return "; ".join(parts)


def find_due(conn: Connection, *, config: Config, registry: Registry) -> list[Due]:
    """Firing alerts in an incident whose rule has a runbook, with no diagnosis yet."""
    if not registry.runbooks:
        return []
    rows = conn.execute(
        sa.select(alert, incident_alert.c.incident_id)
        .join(incident_alert, incident_alert.c.alert_id == alert.c.id)
        .where(alert.c.status == "firing")
        .order_by(alert.c.id)
    ).all()
    due: list[Due] = []
    for row in rows:
        name = alert_name(row)
        found = runbook_for(config, registry, name)
        if found is None:
            continue
        run_id = conn.execute(
            sa.select(runbook_run.c.id).where(
                runbook_run.c.trigger_kind == TriggerKind.ALERT.value,
                runbook_run.c.trigger_detail == str(row.id),
            )
        ).scalar()
        if _has_event(conn, int(row.incident_id), int(row.id)):
            continue
        due.append(Due(int(row.id), int(row.incident_id), name, found, run_id))
    return due


def _has_event(conn: Connection, incident_id: int, alert_id: int) -> bool:
    details = conn.execute(
        sa.select(incident_event.c.detail).where(
            incident_event.c.incident_id == incident_id, incident_event.c.kind == EVENT
        )
    ).scalars()
    return any((d or {}).get("alert_id") == alert_id for d in details)


class DiagnosticsTask:
    """Runs the diagnoses: ``run_once`` is one pass (tests drive it), ``run`` the server's loop
    (every ``alerting.evaluate_every``). ``emit`` queues the follow-up message; ``after_commit``
    wakes the deliverer."""

    def __init__(
        self,
        engine: Engine,
        *,
        config: Config,
        registry: Registry,
        emit: EmitIncident,
        settings: RunSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        time_cap: timedelta = TIME_CAP,
        after_commit: Any = lambda: None,
        failures: TaskFailures | None = None,
    ) -> None:
        self._engine = engine
        self._failures = failures
        self._config = config
        self._registry = registry
        self._emit = emit
        self._clock = clock
        self._time_cap = time_cap
        self._after_commit = after_commit
        self._settings = settings or run_settings(config, config_dir=None)
        self._mask = secret_values(config)
        self._dsns = {n: db.dsn.reveal() for n, db in config.runbooks.databases.items()}

    async def run_once(self) -> list[int]:
        """One pass: start and finish every due diagnosis. Returns the incidents written to.
        Store work runs in worker threads (the engine is sync); only the steps run here."""
        due = await asyncio.to_thread(self._find_due)
        # One diagnosis that raises (a broken row, a runbook the executor trips on) is logged
        # and counted; the others go on, and the next pass tries it again.
        done = await asyncio.gather(*(self._diagnose(d) for d in due), return_exceptions=True)
        written = []
        for d, outcome in zip(due, done, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation: the server is stopping
                log.error(
                    "diagnosis_failed",
                    alert_id=d.alert_id,
                    incident_id=d.incident_id,
                    runbook=d.runbook.name,
                    reason=describe_error(outcome),
                )
                if self._failures is not None:
                    self._failures.item_failed("diagnostics")
            elif outcome:
                written.append(d.incident_id)
        if written:
            self._after_commit()
        return written

    async def run(self) -> None:
        every = self._config.alerting.evaluate_every.total_seconds()
        while True:
            await self.run_once()
            await asyncio.sleep(every)

    async def _diagnose(self, due: Due) -> bool:
        runbook, now = due.runbook, self._clock.now()
        run_id = due.run_id
        if run_id is None:
            steps = read_steps(runbook)
            reason = "" if steps else f"runbook {runbook.name} has no read steps"
            if steps:
                try:
                    check_values(
                        {},
                        parameters=runbook.parameters,
                        names=[n for s in steps for n in s.params],
                    )
                except InputError as exc:
                    reason = f"runbook {runbook.name} cannot run by itself: {exc}"
            if reason:
                log.warning("diagnosis_skipped", alert_id=due.alert_id, reason=reason)
                await asyncio.to_thread(self._write_skipped, due, reason)
                return True
            run_id = await asyncio.to_thread(self._start, due, steps, now)
            try:
                await asyncio.wait_for(
                    execute_run(
                        self._engine,
                        run_id,
                        runbook,
                        settings=self._settings,
                        clock=self._clock,
                        mask=self._mask,
                        dsns=self._dsns,
                        # A failed healthz is when the next read step's output matters.
                        keep_going=True,
                    ),
                    timeout=self._time_cap.total_seconds(),
                )
            except TimeoutError:
                log.warning("diagnosis_timed_out", run_id=run_id, cap_s=self._time_cap.seconds)
        return await asyncio.to_thread(self._write_ended, due, run_id)

    def _find_due(self) -> list[Due]:
        with self._engine.begin() as conn:
            return find_due(conn, config=self._config, registry=self._registry)

    def _write_skipped(self, due: Due, reason: str) -> None:
        with self._engine.begin() as conn:
            self._write(conn, due, None, message=f"diagnosis skipped: {reason}")

    def _start(self, due: Due, steps: Sequence[Step], now: datetime) -> int:
        with self._engine.begin() as conn:
            return start_run(
                conn,
                due.runbook,
                step_ids=[s.id for s in steps],
                params={},
                trigger=Trigger(TriggerKind.ALERT, str(due.alert_id)),
                actor=ACTOR,
                now=now,
                incident_id=due.incident_id,
                origin=ORIGIN,
            )

    def _write_ended(self, due: Due, run_id: int) -> bool:
        with self._engine.begin() as conn:
            view = get_run(conn, run_id)
            if not view.run.state.is_ended:
                return False  # running elsewhere or waiting: a later pass writes it
            self._write(conn, due, view, message=short_form(view))
        return True

    def _write(self, conn: Connection, due: Due, view: RunView | None, *, message: str) -> None:
        steps: list[Any] = []
        if view is not None:
            steps = [
                {
                    "id": s.step_id,
                    "state": str(s.state),
                    "output": "\n".join((s.output or s.error).splitlines()[:EVENT_LINES]),
                }
                for s in view.steps
            ]
        event_id = add_event(
            conn,
            due.incident_id,
            kind=EVENT,
            actor=ACTOR,
            message=message,
            now=self._clock.now(),
            origin=ORIGIN,
            detail={
                "alert_id": due.alert_id,
                "alert": due.alert,
                "runbook": due.runbook.name,
                "run_id": view.run.id if view else None,
                "state": str(view.run.state) if view else "skipped",
                "short": message,
                "steps": steps,
            },
            handled=True,
        )
        self._follow_up(conn, due.incident_id, event_id)

    def _follow_up(self, conn: Connection, incident_id: int, event_id: int) -> None:
        """The diagnosis, as an incident message, to each channel that got a page for it."""
        channels: Sequence[str] = sorted(
            conn.execute(
                sa.select(notification.c.channel)
                .where(notification.c.incident_id == incident_id, notification.c.kind == "page")
                .distinct()
            ).scalars()
        )
        if not channels:
            return
        row = conn.execute(sa.select(incident_event).where(incident_event.c.id == event_id)).one()
        found = get_incident(conn, incident_id)
        alerts = linked_alerts(conn, incident_id)
        self._emit(
            conn,
            [
                IncidentNotice(
                    kind="incident",
                    channel=channel,
                    key=f"diagnosis:{event_id}:{channel}",
                    incident=found,
                    alerts=alerts,
                    event=row_to_event(row),
                    at=self._clock.now(),
                )
                for channel in channels
            ],
        )
