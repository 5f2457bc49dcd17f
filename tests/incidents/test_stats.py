"""MTTA / MTTR per severity over a period, from the stored incidents (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from opsbook.incidents import IncidentStatus, SeverityStats, incident_stats, service

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANA = "user:ana"


def _incident(
    engine: Engine, severity: str, *, at: datetime, ack: int | None, fix: int | None
) -> int:
    with engine.begin() as conn:
        created = service.declare(conn, title="x", severity=severity, actor=ANA, now=at)
        if ack is not None:
            service.acknowledge(conn, created.id, actor=ANA, now=at + timedelta(minutes=ack))
        if fix is not None:
            service.update(
                conn,
                created.id,
                status=IncidentStatus.RESOLVED,
                message="fixed",
                actor=ANA,
                now=at + timedelta(minutes=fix),
            )
    return created.id


def test_it_averages_per_severity_over_the_period(engine: Engine) -> None:
    _incident(engine, "SEV1", at=NOW, ack=2, fix=30)
    _incident(engine, "SEV1", at=NOW, ack=4, fix=None)
    _incident(engine, "SEV2", at=NOW, ack=None, fix=60)
    _incident(engine, "SEV1", at=NOW - timedelta(days=40), ack=100, fix=1000)
    merged = _incident(engine, "SEV2", at=NOW, ack=1, fix=None)
    keep = _incident(engine, "SEV3", at=NOW, ack=None, fix=None)
    with engine.begin() as conn:
        service.merge(conn, merged, into=keep, actor=ANA, now=NOW)
        found = incident_stats(conn, since=NOW - timedelta(days=30))
    assert found == [
        SeverityStats(
            "SEV1", 2, 2, 1, timedelta(minutes=3), timedelta(minutes=30), timedelta(minutes=30)
        ),
        SeverityStats("SEV2", 1, 0, 1, None, timedelta(minutes=60), timedelta(minutes=60)),
        SeverityStats("SEV3", 1, 0, 0, None, None),
    ]


def test_it_counts_who_met_the_response_target(engine: Engine) -> None:
    # SEV1 must be acknowledged within 5 minutes.
    _incident(engine, "SEV1", at=NOW, ack=2, fix=30)  # met
    _incident(engine, "SEV1", at=NOW, ack=9, fix=None)  # missed: late
    _incident(engine, "SEV1", at=NOW, ack=None, fix=20)  # missed: never acknowledged
    _incident(engine, "SEV1", at=NOW, ack=None, fix=None)  # open: late at NOW + 10m
    _incident(engine, "SEV2", at=NOW, ack=None, fix=None)  # open: still in time
    with engine.begin() as conn:
        found = incident_stats(
            conn,
            since=NOW - timedelta(days=1),
            targets={"SEV1": timedelta(minutes=5), "SEV2": timedelta(hours=1)},
            now=NOW + timedelta(minutes=10),
        )
    assert [(s.severity, s.met_target, s.missed_target) for s in found] == [
        ("SEV1", 1, 3),
        ("SEV2", 0, 0),
    ]
