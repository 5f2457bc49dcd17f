"""Every query of the hot paths reaches its rows through an index, never by scanning a table
that grows with history (issue 10: ``SCAN check_rollup`` on each flush made a probe cost 12x
more after two days).

The hot paths (writing results and rollups, reading windows, pings, alert ingest, the alert
engine's pass and dispatch, the outbox, the incidents pass; and retention's hourly deletes) are
driven for real against a store that already holds history in every growing table. Each
statement they send is captured (``before_cursor_execute``) and explained with its own
parameters: SQLite's ``EXPLAIN QUERY PLAN`` must not say ``SCAN <growing table>`` (``SEARCH ...
USING INDEX`` is an index lookup; scanning a VALUES list or a small table is fine), PostgreSQL's
``EXPLAIN`` must not show a ``Seq Scan`` of one, nor an index scan without an index condition (a
full scan in index order).

What a plan cannot show: a ``SEARCH`` by an index whose key matches much of the history (every
resolved alert, every result of a check). Such reads are caught where they happen instead, e.g.
``tests/checks/test_results.py`` asserts a flush reads nothing but ``check_state``.

PostgreSQL is explained with ``enable_seqscan = off``: with a few thousand rows its planner
rightly prefers a sequential scan, and filling it until it does not would cost seconds per
test. Disabled, a sequential scan still appears when no index can serve the query, which is the
question asked here: does an index path exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import ExecuteStyle

from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.ingest import ingest_alertmanager_alerts, ingest_webhook
from opsbook.alerts.ingest_models import PostableAlert, WebhookAlert
from opsbook.alerts.tables import alert, alert_event
from opsbook.checks import pings, service
from opsbook.checks.heartbeats import PingKind
from opsbook.checks.models import ProbeResult, State
from opsbook.checks.pings import PingIn, ping
from opsbook.checks.retention import prune
from opsbook.checks.tables import check_result, check_rollup, opsbook_run
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.engine import RetentionConfig
from opsbook.config.loader import loads
from opsbook.incidents.loop import run_pass
from opsbook.incidents.tables import escalation, incident, incident_alert, incident_event
from opsbook.notify import outbox
from opsbook.notify.emitter import OutboxEmitter
from opsbook.notify.incident_emitter import IncidentEmitter
from opsbook.notify.incident_outcome import record_outcome
from opsbook.notify.tables import notification
from opsbook.runbooks.approvals import approval_problem, request_approval
from opsbook.runbooks.models import Position, Risk, Runbook, Step, StepKind
from opsbook.runbooks.run_models import Trigger, TriggerKind
from opsbook.runbooks.runs import (
    confirm_step,
    get_run,
    list_active_runs,
    list_runs,
    start_run,
    writes_need_approval,
)
from opsbook.runbooks.tables import runbook_run, runbook_run_step
from opsbook.statuspage import subscriber_task, subscribers
from opsbook.statuspage.availability import DayHistory
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.subscriber_tables import status_subscriber
from opsbook.statuspage.subscriber_task import announce

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
CHECKS = [f"c{i:03d}" for i in range(40)]
HISTORY_MINUTES = 120
"""Per check: 40 x 120 = 4,800 rows of results and of minute rollups already stored."""

GROWING = frozenset(
    {
        "check_result",
        "check_rollup",
        "ping",
        "alert",
        "alert_event",
        "incident",
        "incident_event",
        "incident_alert",
        "escalation",
        "action_item",
        "notification",
        "audit_event",
        "opsbook_run",
        "runbook_run",
        "runbook_run_step",
        "runbook_approval",
        "status_subscriber",
    }
)
"""Tables that gain rows as time passes (history), as opposed to ``check_state`` (one row per
check), ``alert_group`` (one per notification group) and ``silence``."""

CONFIG = """\
service: shop
timezone: UTC
severities:
  SEV1: {respond_within: 15m, page: true, escalation: default, notify: [status]}
  SEV2: {respond_within: 1h}
  SEV3: {respond_within: 4h}
  SEV4: {respond_within: 1d}
checks:
%(checks)s
  nightly:
    heartbeat: {period: 1h, grace: 5m}
alerting: {notify: [pager], group_wait: 0s}
alerts:
  c000-down: {when: c000 down, severity: SEV1}
  c001-slow: {when: c001 p95 > 100ms over 10m, severity: SEV3}
integrations:
  prom: {alertmanager: {token: "t0ken-t0ken-t0ken"}}
  uptime: {webhook: {token: "t0ken-t0ken-t0ken"}, severity: SEV3}
oncall:
  people:
    ana: {name: Ana, notify: [pager]}
  escalation:
    default:
      - {notify: [person:ana], wait: 5m}
channels:
  pager: {webhook: {url: "http://127.0.0.1:1/pager"}}
  status: {webhook: {url: "http://127.0.0.1:1/status"}}
"""


def _config() -> Config:
    checks = "\n".join(
        f"  {c}: {{http: {{url: 'http://127.0.0.1:1/{c}'}}, every: 30s}}" for c in CHECKS
    )
    return loads(CONFIG % {"checks": checks})


# -- a store with history ------------------------------------------------------------------------


def _fill(engine: Engine) -> None:
    """History in every growing table, all of it older than ``NOW`` and all of it closed
    (resolved alerts and incidents, delivered notifications), as a store has after a while."""
    start = NOW - timedelta(minutes=HISTORY_MINUTES)
    minutes = [start + timedelta(minutes=m) for m in range(HISTORY_MINUTES)]
    results = [
        {
            "check_id": c,
            "started_at": at,
            "state": "up",
            "latency_ms": 12.0,
            "status": 200,
            "error": None,
            "failed_conditions": [],
            "values": {},
            "timings": {},
            "is_change": False,
        }
        for c in CHECKS
        for at in minutes
    ]
    rollup_rows = [
        {
            "check_id": c,
            "resolution": "minute",
            "bucket_start": at,
            "n_up": 2,
            "n_degraded": 0,
            "n_down": 0,
            "up_seconds": 60.0,
            "degraded_seconds": 0.0,
            "down_seconds": 0.0,
            "histogram": {"280": 2},
            "latency_sum_ms": 24.0,
            "latency_max_ms": 12.0,
        }
        for c in CHECKS
        for at in minutes
    ]
    n_alerts = 500
    alerts = [
        {
            "id": i,
            "fingerprint": f"{i:016x}",
            "open_key": None,
            "source": "webhook",
            "rule": None,
            "integration": "uptime",
            "dedup_key": f"old-{i}",
            "check_id": None,
            "labels": {"alertname": "old"},
            "annotations": {},
            "severity": "SEV3",
            "status": "resolved",
            "started_at": start,
            "fired_at": start,
            "resolved_at": start + timedelta(minutes=1),
            "ends_at": None,
            "last_seen_at": start,
            "updated_at": start + timedelta(minutes=1),
            "values": {},
            "silenced_by": [],
        }
        for i in range(1, n_alerts + 1)
    ]
    events = [
        {
            "alert_id": i,
            "at": start,
            "kind": kind,
            "from_status": None,
            "to_status": kind,
            "values": {},
            "message": kind,
        }
        for i in range(1, n_alerts + 1)
        for kind in ("firing", "resolved")
    ]
    n_incidents = 250
    incidents = [
        {
            "id": i,
            "title": "old",
            "severity": "SEV3",
            "status": "resolved",
            "declared_at": start,
            "resolved_at": start + timedelta(minutes=5),
            "declared_by": "opsbook",
            "summary": "",
            "updated_at": start + timedelta(minutes=5),
        }
        for i in range(1, n_incidents + 1)
    ]
    timeline = [
        {
            "incident_id": i,
            "at": start,
            "kind": kind,
            "actor": "opsbook",
            "message": kind,
            "detail": {},
            "handled_at": start,
        }
        for i in range(1, n_incidents + 1)
        for kind in ("declared", "status", "note")
    ]
    links = [
        {"incident_id": i, "alert_id": i, "linked_at": start, "alert_status": "resolved"}
        for i in range(1, n_incidents + 1)
    ]
    escalations = [
        {
            "incident_id": i,
            "policy": "default",
            "state": "resolved",
            "step": 1,
            "next_at": None,
            "started_at": start,
            "ended_at": start,
        }
        for i in range(1, n_incidents + 1)
    ]
    sent = [
        {
            "idempotency_key": f"old-{i}",
            "channel": "pager",
            "kind": "alert",
            "payload": {},
            "state": "delivered",
            "created_at": start,
            "due_at": start,
            "delivered_at": start,
        }
        for i in range(1000)
    ]
    pinged = [
        {"check_id": c, "kind": "success", "received_at": at, "method": "POST"}
        for c in (*CHECKS[:20], "nightly")
        for at in minutes
    ]
    with engine.begin() as conn:
        for table, rows in (
            (check_result, results),
            (check_rollup, rollup_rows),
            (alert, alerts),
            (alert_event, events),
            (incident, incidents),
            (incident_event, timeline),
            (incident_alert, links),
            (escalation, escalations),
            (notification, sent),
            (ping, pinged),
        ):
            conn.execute(table.insert(), rows)
        if conn.dialect.name == "postgresql":
            # Explicit ids were inserted: move the sequences past them.
            for table in (alert, incident):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
            conn.execute(sa.text("ANALYZE"))


# -- capturing and explaining --------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    statement: str
    parameters: Any


@pytest.fixture
def captured(engine: Engine) -> Iterator[list[Captured]]:
    """Every statement the engine sends after the history is in, with its first parameters."""
    _fill(engine)
    seen: list[Captured] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):  # type: ignore[no-untyped-def]
        # An executemany is explained with its first row; a batched INSERT ... VALUES (...),
        # (...) (insertmanyvalues) comes with its parameters already flat.
        if many and context.execute_style is ExecuteStyle.EXECUTEMANY:
            parameters = parameters[0] if parameters else ()
        seen.append(Captured(statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", before)


_EXPLAINABLE = re.compile(r"^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _explain_sqlite(conn: Any, item: Captured) -> list[str]:
    rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {item.statement}", item.parameters).all()
    # SQLite names a table by its alias in the plan (``alert AS alert_1`` -> ``alert_1``).
    aliases = {a: t for t, a in re.findall(r"\b(\w+) AS (\w+)\b", item.statement) if t in GROWING}
    scans = []
    for row in rows:
        found = re.match(r"SCAN (\w+)", row[3])
        if found and aliases.get(found.group(1), found.group(1)) in GROWING:
            scans.append(row[3])
    return scans


def _explain_postgres(conn: Any, item: Captured) -> list[str]:
    raw = conn.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {item.statement}", item.parameters
    ).scalar_one()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        table = node.get("Relation Name")
        kind = node["Node Type"]
        if table in GROWING:
            if kind == "Seq Scan":
                scans.append(f"Seq Scan on {table}")
            elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
                scans.append(f"{kind} on {table} without an index condition")
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    return scans


def table_scans(engine: Engine, statements: Sequence[Captured]) -> dict[str, list[str]]:
    """Each statement that scans a growing table, with the plan lines that say so."""
    found: dict[str, list[str]] = {}
    done: set[str] = set()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        for item in statements:
            if item.statement in done or not _EXPLAINABLE.match(item.statement):
                continue
            done.add(item.statement)
            if conn.dialect.name == "postgresql":
                scans = _explain_postgres(conn, item)
            else:
                scans = _explain_sqlite(conn, item)
            if scans:
                found[" ".join(item.statement.split())] = scans
        conn.rollback()
    return found


def _shorten(sql: str) -> str:
    # An expanded IN list or a long VALUES list repeats itself; the start says which query.
    return sql if len(sql) <= 400 else sql[:400] + " ..."


def _assert_no_scans(engine: Engine, statements: Sequence[Captured]) -> None:
    assert statements, "nothing was captured"
    scans = table_scans(engine, statements)
    assert not scans, "queries that scan a growing table:\n" + "\n\n".join(
        f"{_shorten(sql)}\n  -> {'; '.join(lines)}" for sql, lines in scans.items()
    )


# -- the hot paths -------------------------------------------------------------------------------


def _results(at: datetime, *, state: State = State.UP) -> list[ProbeResult]:
    return [
        ProbeResult(check_id=c, started_at=at, state=state, latency_ms=15.0, status=200)
        for c in CHECKS
    ]


def _write(conn: Connection, results: Sequence[ProbeResult]) -> None:
    service.record_results(
        conn, results=results, intervals={c: timedelta(seconds=30) for c in CHECKS}
    )


def test_results_and_rollups_use_an_index(engine: Engine, captured: list[Captured]) -> None:
    # Twice: the second flush lands in the buckets the first one created.
    for at in (NOW, NOW + timedelta(seconds=10)):
        with engine.begin() as conn:
            _write(conn, _results(at))
    with engine.begin() as conn:
        service.window(conn, check_id="c001", start=NOW - timedelta(days=1), end=NOW)
        service.current_states(conn, check_ids=CHECKS)
        run_id = service.start_run(conn, host="h", pid=1, now=NOW)
        service.touch_run(conn, run_id=run_id, now=NOW)
    _assert_no_scans(engine, captured)


def test_pings_use_an_index(engine: Engine, captured: list[Captured]) -> None:
    rid = UUID(int=7)
    with engine.begin() as conn:
        for kind, run in ((PingKind.START, rid), (PingKind.SUCCESS, rid), (PingKind.SUCCESS, None)):
            pings.record_ping(
                conn,
                ping_in=PingIn(check_id="nightly", kind=kind, method="POST", rid=run),
                at=NOW,
            )
        pings.heartbeat_facts(conn, check_id="nightly")
        pings.pings_after(conn, after_id=pings.last_ping_id(conn) - 2)
        pings.list_pings(conn, check_id="nightly", limit=20)
    _assert_no_scans(engine, captured)


def test_ingest_uses_an_index(engine: Engine, captured: list[Captured]) -> None:
    config = _config()
    for at in (NOW, NOW + timedelta(seconds=30)):
        with engine.begin() as conn:
            ingest_alertmanager_alerts(
                conn,
                config=config,
                integration="prom",
                alerts=[
                    PostableAlert(
                        labels={"alertname": "HighLatency", "svc": f"s{i}"}, annotations={}
                    )
                    for i in range(20)
                ],
                now=at,
            )
            ingest_webhook(
                conn,
                config=config,
                integration="uptime",
                items=[
                    WebhookAlert(
                        status="firing",
                        summary="down",
                        key=f"k{i}",
                        severity=None,
                        labels={},
                        annotations={},
                    )
                    for i in range(5)
                ],
                now=at,
            )
    _assert_no_scans(engine, captured)


def test_alert_passes_and_dispatch_use_an_index(engine: Engine, captured: list[Captured]) -> None:
    config = _config()
    clock = FrozenClock(NOW)
    alerts = AlertEngine(config, engine, emit=OutboxEmitter(config, clock=clock), clock=clock)
    with engine.begin() as conn:
        _write(conn, _results(NOW, state=State.DOWN))
    alerts.evaluate(NOW, results=_results(NOW, state=State.DOWN))
    alerts.evaluate(NOW + timedelta(seconds=5))
    run_pass(
        engine,
        config=config,
        emit=IncidentEmitter(config, clock=clock),
        now=NOW + timedelta(seconds=6),
    )
    later = NOW + timedelta(seconds=7)
    with engine.begin() as conn:
        outbox.next_due_at(conn, now=later)
        claimed = outbox.claim_due(conn, now=later, limit=10, lease=timedelta(minutes=1))
    assert claimed, "the pass queued nothing to deliver"
    with engine.begin() as conn:
        first, *rest = claimed
        if outbox.mark_delivered(conn, first.id, now=later):
            record_outcome(conn, first, error=None, now=later)
        for item in rest:
            outbox.mark_retry(conn, item.id, due_at=later + timedelta(seconds=30), error="503")
    with engine.begin() as conn:
        _write(conn, _results(NOW + timedelta(seconds=30)))
    alerts.evaluate(NOW + timedelta(seconds=30), results=_results(NOW + timedelta(seconds=30)))
    run_pass(
        engine,
        config=config,
        emit=IncidentEmitter(config, clock=clock),
        now=NOW + timedelta(seconds=31),
    )
    _assert_no_scans(engine, captured)


def test_the_check_itself_catches_a_scan(engine: Engine, captured: list[Captured]) -> None:
    # A query with no usable index: this is what the tests above would report.
    with engine.begin() as conn:
        conn.execute(sa.select(check_rollup.c.n_up).where(check_rollup.c.latency_max_ms > 5))
    scans = table_scans(engine, captured)
    assert len(scans) == 1
    (lines,) = scans.values()
    assert "check_rollup" in lines[0]


def test_retention_deletes_by_index(engine: Engine, captured: list[Captured]) -> None:
    # Not a hot path, but it deletes from the largest tables every hour, in batches: a scan
    # per batch would read the whole table hundreds of times.
    keep = timedelta(minutes=HISTORY_MINUTES // 2)
    retention = RetentionConfig(raw=keep, failures=keep, rollups_minute=keep, rollups_hour=keep)
    pruned = prune(engine, retention=retention, now=NOW, batch=500)
    assert pruned.raw and pruned.rollups_minute
    _assert_no_scans(engine, captured)


def _runbook_step(step_id: str, risk: Risk) -> Step:
    return Step(
        id=step_id,
        kind=StepKind.SHELL,
        risk=risk,
        text=f"echo {step_id}",
        section="Fix",
        at=Position(1),
        digest=step_id * 8,
    )


RUNBOOK = Runbook(
    name="db-fix",
    title="Fix",
    path="db-fix.md",
    steps=(_runbook_step("look", Risk.READ), _runbook_step("restart", Risk.WRITE)),
    digest="r" * 64,
)


def test_runbook_runs_use_an_index(engine: Engine, captured: list[Captured]) -> None:
    # 1,000 ended runs of several runbooks, some for incidents, some by alerts, two steps each.
    start = NOW - timedelta(minutes=HISTORY_MINUTES)
    with engine.begin() as conn:
        conn.execute(
            runbook_run.insert(),
            [
                {
                    "runbook": f"rb{i % 7}",
                    "runbook_digest": "r" * 64,
                    "trigger_kind": "alert" if i % 2 else "person",
                    "trigger_detail": str(i) if i % 2 else "user:ana",
                    "incident_id": i % 50 or None,
                    "params": {},
                    "state": "succeeded",
                    "created_at": start,
                    "created_by": "user:ana",
                }
                for i in range(1, 1001)
            ],
        )
        ids = list(conn.execute(sa.select(runbook_run.c.id)).scalars())
        conn.execute(
            runbook_run_step.insert(),
            [
                {
                    "run_id": run,
                    "position": p,
                    "step_id": f"s{p}",
                    "step_digest": "d" * 64,
                    "kind": "shell",
                    "risk": "read",
                    "state": "ok",
                    "output": "",
                    "error": "",
                    "truncated": False,
                }
                for run in ids
                for p in range(2)
            ],
        )
    captured.clear()
    with engine.begin() as conn:
        run_id = start_run(
            conn,
            RUNBOOK,
            step_ids=None,
            params={},
            trigger=Trigger(TriggerKind.PERSON, "user:ana"),
            actor="user:ana",
            now=NOW,
            incident_id=7,
        )
        confirm_step(conn, run_id, "restart", actor="user:ana", now=NOW)
        request_approval(
            conn, run_id, "restart", actor="user:ana", now=NOW, ttl=timedelta(minutes=5)
        )
        approval_problem(conn, run_id, "restart", step_digest="restart" * 8, params={}, now=NOW)
        writes_need_approval(conn, 7, during=["SEV1"])
        get_run(conn, run_id)
        list_runs(conn, incident_id=7, limit=20)
        list_runs(conn, runbook="rb3", limit=20)
        list_active_runs(conn)
        conn.execute(
            sa.select(runbook_run.c.id).where(
                runbook_run.c.trigger_kind == TriggerKind.ALERT.value,
                runbook_run.c.trigger_detail == "5",
            )
        )
    _assert_no_scans(engine, captured)


def test_recent_runs_read_only_the_newest_rows(engine: Engine) -> None:
    # No filter: the primary key read backwards, stopped by the LIMIT. The plan check above
    # would call that a scan (it has no index condition), but it reads ``limit`` rows, never
    # the history; what must not appear is a sort of the whole table.
    query = sa.select(runbook_run).order_by(runbook_run.c.id.desc()).limit(20)
    with engine.connect() as conn:
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
            assert "TEMP B-TREE" not in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            top = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}").scalar_one()
            node = (top if isinstance(top, list) else json.loads(top))[0]["Plan"]
            assert node["Node Type"] == "Limit", node
            assert node["Plans"][0]["Node Type"] == "Index Scan", node
            assert node["Plans"][0]["Scan Direction"] == "Backward", node


def test_status_subscribers_use_an_index(
    engine: Engine, captured: list[Captured], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Subscribers and their announcing pass (issue 14): the pass reads the incident timeline
    # after its cursor by primary key, and active subscribers by (state, id), on a store with
    # 1,000 subscribers that left. The page snapshot the pass reads is the status page's own
    # read (statuspage/build.py), left out here.
    real_snapshot = subscriber_task.snapshot_from

    def unwatched(conn: Connection, config: Config, **kw: Any) -> Any:
        start = len(captured)
        found = real_snapshot(conn, config, **kw)
        del captured[start:]
        return found

    monkeypatch.setattr(subscriber_task, "snapshot_from", unwatched)
    extra = (
        "components:\n  api: {name: API, checks: [c000]}\n"
        "status_page:\n  base_url: https://status.shop.example\n"
        "  subscribers: {email_channel: mail}\n"
    )
    config = loads(
        (CONFIG + extra).replace(
            '  status: {webhook: {url: "http://127.0.0.1:1/status"}}\n',
            '  status: {webhook: {url: "http://127.0.0.1:1/status"}}\n'
            "  mail: {smtp: {to: ops@shop.example}}\n",
        )
        % {"checks": "\n".join(f"  {c}: {{tcp: {{host: h, port: 1}}}}" for c in CHECKS)}
    )
    with engine.begin() as conn:
        conn.execute(
            sa.insert(status_subscriber),
            [
                {
                    "kind": "email",
                    "email": f"left{i}@shop.example",
                    "state": "unsubscribed",
                    "confirm_sends": 1,
                    "created_at": NOW - timedelta(days=1),
                    "created_by": "test",
                }
                for i in range(1000)
            ],
        )
    captured.clear()
    later = NOW + timedelta(minutes=1)
    with engine.begin() as conn:
        subscribers.subscribe_email(
            conn, email="ana@shop.example", components=None, config=config, now=NOW, origin="t"
        )
        start = len(captured)
        payload = conn.execute(
            sa.select(notification.c.payload).order_by(notification.c.id.desc()).limit(1)
        ).scalar_one()
        del captured[start:]
        token = re.search(r"token=(\S+)", payload["body"])
        assert token
        subscribers.confirm(conn, token=token.group(1), now=NOW, origin="t")
        hook = subscribers.add_webhook(
            conn,
            url="https://hooks.example/x",
            components=["api"],
            config=config,
            actor="t",
            now=NOW,
            origin="t",
        )
        subscribers.list_subscribers(conn)
        announce(conn, config, now=NOW)
        incident_id = conn.scalar(sa.select(sa.func.max(incident.c.id)))
        conn.execute(
            sa.insert(incident_event).values(
                incident_id=incident_id,
                at=later,
                kind="status",
                actor="t",
                message="investigating: x",
                detail={"to": "investigating"},
            )
        )
        announce(conn, config, now=later)
        subscribers.remove_subscriber(conn, hook.id, actor="t", now=later, origin="t")
    _assert_no_scans(engine, captured)


def _year_old_incidents(n: int) -> list[dict[str, Any]]:
    """``n`` incidents declared a year ago, an hour apart, each resolved after 30 minutes."""
    year_ago = NOW - timedelta(days=365)
    return [
        {
            "id": 1000 + i,
            "title": "older",
            "severity": "SEV3",
            "status": "resolved",
            "declared_at": year_ago + timedelta(hours=i),
            "resolved_at": year_ago + timedelta(hours=i, minutes=30),
            "declared_by": "opsbook",
            "summary": "",
            "updated_at": year_ago + timedelta(hours=i, minutes=30),
        }
        for i in range(n)
    ]


def test_status_page_rebuild_uses_a_bounded_index(engine: Engine, captured: list[Captured]) -> None:
    # The status page is rebuilt on every change (statuspage/build.py): it reads the open
    # incidents and those resolved in the 90 days it shows, the 50 most recent, their public
    # updates, each check's oldest rollup and the days of availability still unsettled. On
    # top of the shared history: 2,000 incidents resolved a year ago, a year of hour and day
    # rollups for the page's checks, and runs of opsbook.
    year_ago = NOW - timedelta(days=365)
    old = _year_old_incidents(2000)
    page_checks = CHECKS[:10]
    rollups = [
        {
            "check_id": c,
            "resolution": resolution,
            "bucket_start": year_ago + k * step,
            "n_up": 1,
            "n_degraded": 0,
            "n_down": 0,
            "up_seconds": step.total_seconds(),
            "degraded_seconds": 0.0,
            "down_seconds": 0.0,
            "histogram": {"280": 1},
            "latency_sum_ms": 12.0,
            "latency_max_ms": 12.0,
        }
        for c in page_checks
        for resolution, step, n in (
            ("hour", timedelta(hours=1), 24 * 364),
            ("day", timedelta(days=1), 364),
        )
        for k in range(n)
    ]
    runs = [
        {"host": "h", "pid": i, "started_at": year_ago + timedelta(hours=i), "last_seen_at": NOW}
        for i in range(500)
    ]
    with engine.begin() as conn:
        conn.execute(incident.insert(), old)
        conn.execute(
            incident_event.insert(),
            [
                {
                    "incident_id": x["id"],
                    "at": x["declared_at"],
                    "kind": "declared",
                    "actor": "opsbook",
                    "message": "declared",
                    "detail": {},
                }
                for x in old
            ],
        )
        conn.execute(check_rollup.insert(), rollups)
        conn.execute(opsbook_run.insert(), runs)
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
        # One open incident on a page component, with a public update.
        opened = conn.scalar(
            sa.insert(incident)
            .values(
                title="Checkout fails",
                severity="SEV2",
                status="investigating",
                declared_at=NOW,
                declared_by="opsbook",
                summary="",
                component="api",
                updated_at=NOW,
            )
            .returning(incident.c.id)
        )
        conn.execute(
            sa.insert(incident_event).values(
                incident_id=opened,
                at=NOW,
                kind="declared",
                actor="opsbook",
                message="declared",
                detail={},
            )
        )
    components = "".join(f"  {c}: {{name: {c.upper()}, checks: [{c}]}}\n" for c in page_checks)
    config = loads(
        (CONFIG + "components:\n  api: {name: API, checks: [c000]}\n" + components)
        % {"checks": "\n".join(f"  {c}: {{tcp: {{host: h, port: 1}}}}" for c in CHECKS)}
    )
    captured.clear()
    history = DayHistory()
    for at in (NOW, NOW + timedelta(minutes=1)):  # the second reads only unsettled days
        snapshot = build_snapshot(engine, config, FrozenClock(at), history=history)
    build_snapshot(engine, config, FrozenClock(NOW))
    # Open, resolved in the last 90 days (the shared history's 250) and no older ones: the
    # 50 most recent are among those.
    assert len(snapshot.incidents) == 251
    assert (snapshot.incidents[0].id, snapshot.incidents[0].status) == (
        str(opened),
        "investigating",
    )
    assert snapshot.component("c001").created_at == year_ago  # type: ignore[union-attr]
    _assert_no_scans(engine, captured)


def test_status_page_reads_the_most_recent_incidents_backwards(engine: Engine) -> None:
    # With fewer than 50 incidents in the page's 90 days, the rest of incidents.json's 50 are
    # the newest older ones: (declared_at, id) read backwards from the window's start,
    # stopped by the LIMIT, never a sort of every incident (here 20,000 of them).
    with engine.begin() as conn:
        conn.execute(incident.insert(), _year_old_incidents(20_000))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE incident"))
    since = NOW - timedelta(days=89)
    i = incident.c
    query = (
        sa.select(incident)
        .where(i.declared_at < since, i.merged_into.is_(None))
        .order_by(i.declared_at.desc(), i.id.desc())
        .limit(50)
    )
    with engine.connect() as conn:
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
            assert "TEMP B-TREE" not in plan, plan
            assert "USING INDEX ix_incident_declared_at_id" in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            top = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}").scalar_one()
            node = (top if isinstance(top, list) else json.loads(top))[0]["Plan"]
            assert node["Node Type"] == "Limit", node
            scan = node["Plans"][0]
            assert scan["Node Type"] == "Index Scan", node
            assert scan["Index Name"] == "ix_incident_declared_at_id", node
            assert scan["Scan Direction"] == "Backward", node
            assert "declared_at <" in scan["Index Cond"], node
