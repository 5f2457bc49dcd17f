"""Group commit: requests waiting together share a transaction, and each gets its own answer
(both stores)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts.group_commit import GroupCommitter
from opsbook.alerts.ingest import alertmanager_writes
from opsbook.alerts.ingest_models import parse_postable_alerts
from opsbook.alerts.ingest_writes import Writes
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.service import list_alerts
from opsbook.alerts.tables import alert
from opsbook.config import Config

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {"service": "t", "integrations": {"prom": {"alertmanager": {"token": "prom-token-0123456789"}}}}
)


def writes(*services: str, summary: str = "slow") -> Writes:
    sent = [
        {"labels": {"alertname": "HighLatency", "service": s}, "annotations": {"summary": summary}}
        for s in services
    ]
    return alertmanager_writes(
        config=CONFIG, integration="prom", alerts=parse_postable_alerts(sent), now=T0
    )


def open_alerts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        found = list_alerts(conn, statuses=[AlertStatus.FIRING], limit=1000)
    return {a.labels["service"]: a for a in found}


class Gate:
    """A job that holds the writer until the test has queued the others behind it, so they
    are all taken as one group."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: Connection) -> str:
        self.entered.set()
        self.release.wait(10)
        return "gate"


async def queued_behind_a_gate(committer: GroupCommitter, *jobs: Any) -> list[Any]:
    gate = Gate()
    first = asyncio.ensure_future(committer.run(gate))
    await asyncio.to_thread(gate.entered.wait, 10)
    rest = [asyncio.ensure_future(job) for job in jobs]
    await asyncio.sleep(0.05)  # let every job reach the queue before the writer takes them
    gate.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


async def test_requests_waiting_together_are_committed_and_each_answered(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    results = await queued_behind_a_gate(
        committer,
        committer.write(writes("a", "b")),
        committer.write(writes("c")),
        committer.write(writes("a", summary="slower")),  # names "a" again: applied after
    )
    assert results[0] == "gate"
    first, second, third = results[1:]
    a, b = (writes(s).items[0].fingerprint for s in ("a", "b"))
    assert list(first.touched) == [a, b]
    assert (first.report.opened, second.report.opened) == (2, 1)
    assert (third.report.opened, third.report.refreshed) == (0, 1)
    assert third.touched == {a: first.touched[a]}
    found = open_alerts(engine)
    assert sorted(found) == ["a", "b", "c"]
    assert found["a"].annotations == {"summary": "slower"}


async def test_a_failing_request_fails_alone(engine: Engine) -> None:
    committer = GroupCommitter(engine)

    def broken(conn: Connection) -> None:
        conn.execute(alert.insert().values(fingerprint=None))  # NOT NULL: the statement fails

    results = await queued_behind_a_gate(
        committer, committer.write(writes("a")), committer.run(broken), committer.write(writes("b"))
    )
    assert isinstance(results[2], sa.exc.DBAPIError)
    assert results[1].report.opened == results[3].report.opened == 1
    assert sorted(open_alerts(engine)) == ["a", "b"]


async def test_many_concurrent_requests_all_land(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    done = await asyncio.gather(*(committer.write(writes(f"s{i}")) for i in range(50)))
    assert sum(d.report.opened for d in done) == 50
    assert len(open_alerts(engine)) == 50


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_request_after_the_writer_went_idle_starts_a_new_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("opsbook.alerts.group_commit.IDLE_S", 0.01)
    committer = GroupCommitter(engine)
    await asyncio.wait_for(committer.write(writes("a")), 10)
    await asyncio.sleep(0.2)  # the writer thread has given up waiting and exited
    await asyncio.wait_for(committer.write(writes("b")), 10)
    assert sorted(open_alerts(engine)) == ["a", "b"]
