"""``GroupCommitter``: a group's requests are answered after its commit with one call into
their event loop, the requests of one pass of the loop share a group, and a request cancelled
while it waits is not written."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.store.group_commit import GroupCommitter

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

_note = sa.table("note", sa.column("text"))


class Gated:
    """``run_group``: notes each job's text, holding the first group until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[list[str]] = []

    def __call__(self, conn: Connection, jobs: Sequence[str]) -> list[str]:
        self.groups.append(list(jobs))
        if len(self.groups) == 1:
            self.entered.set()
            self.release.wait(10)
        conn.execute(_note.insert(), [{"text": j} for j in jobs])
        return [j.upper() for j in jobs]


@pytest.fixture
def notes(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE note (text TEXT NOT NULL)")
    return engine


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.text("SELECT text FROM note")))


async def test_a_group_is_answered_with_one_call_into_the_loop(
    notes: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Gated()
    committer: GroupCommitter[str, str] = GroupCommitter(notes, run, name="t")
    loop = asyncio.get_running_loop()
    calls: list[Any] = []
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(callback)
        return original(callback, *args, **kwargs)

    first = asyncio.ensure_future(committer.submit("gate"))
    await asyncio.to_thread(run.entered.wait, 10)
    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    rest = [asyncio.ensure_future(committer.submit(t)) for t in ("a", "b", "c")]
    await asyncio.sleep(0.05)  # all three queued behind the gate
    run.release.set()
    assert await asyncio.gather(first, *rest) == ["GATE", "A", "B", "C"]
    assert run.groups == [["gate"], ["a", "b", "c"]]
    # Four requests in two groups: one call into the loop a group, none other.
    assert [getattr(c, "__name__", c) for c in calls] == ["_settle", "_settle"]
    assert _stored(notes) == ["a", "b", "c", "gate"]


class Recorded:
    """``run_group``: notes each group's jobs."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    def __call__(self, conn: Connection, jobs: Sequence[str]) -> list[str]:
        self.groups.append(list(jobs))
        conn.execute(_note.insert(), [{"text": j} for j in jobs])
        return [j.upper() for j in jobs]


async def test_the_requests_of_one_pass_of_the_loop_share_a_group(notes: Engine) -> None:
    run = Recorded()
    committer: GroupCommitter[str, str] = GroupCommitter(notes, run, name="t")
    assert await committer.submit("first") == "FIRST"  # the writer is up, waiting for work

    async def request(text: str) -> str:
        # Work that lets go of the GIL, as reading a socket does: a writer woken by the first
        # request would take it alone here.
        time.sleep(0.002)  # noqa: ASYNC251 - blocking on purpose: the loop must not run meanwhile
        return await committer.submit(text)

    texts = [f"r{i}" for i in range(10)]
    assert await asyncio.gather(*(request(t) for t in texts)) == [t.upper() for t in texts]
    assert run.groups == [["first"], texts]


class Linked:
    """``run_group``: notes the connection each group ran on; a job "boom" raises."""

    def __init__(self) -> None:
        self.connections: list[Connection] = []  # kept alive, so none's id is reused

    def __call__(self, conn: Connection, jobs: Sequence[str]) -> list[str]:
        self.connections.append(conn)
        if "boom" in jobs:
            raise RuntimeError("boom")
        conn.execute(_note.insert(), [{"text": j} for j in jobs])
        return list(jobs)


async def test_the_writer_keeps_its_connection_until_a_failure_or_its_exit(
    notes: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Linked()
    committer: GroupCommitter[str, str] = GroupCommitter(notes, run, name="t")
    for text in ("a", "b"):
        assert await committer.submit(text) == text
    with pytest.raises(RuntimeError, match="boom"):
        await committer.submit("boom")
    assert await committer.submit("c") == "c"
    first, second, failed, after = run.connections
    assert first is second is failed  # one checkout for the groups in a row
    assert after is not failed  # the failed one went back to the pool, which reset it
    assert _stored(notes) == ["a", "b", "c"]
    # The writer gives its connection back when it exits, idle.
    monkeypatch.setattr("opsbook.store.group_commit.IDLE_S", 0.05)
    assert await committer.submit("d") == "d"  # this writer waits 1 s at most for the next
    pool: Any = notes.pool
    for _ in range(200):
        if pool.checkedout() == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.checkedout() == 0


async def test_a_request_cancelled_while_it_waits_is_not_written(notes: Engine) -> None:
    run = Gated()
    committer: GroupCommitter[str, str] = GroupCommitter(notes, run, name="t")
    first = asyncio.ensure_future(committer.submit("gate"))
    await asyncio.to_thread(run.entered.wait, 10)
    kept = asyncio.ensure_future(committer.submit("kept"))
    dropped = asyncio.ensure_future(committer.submit("dropped"))
    await asyncio.sleep(0.05)
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped
    run.release.set()
    assert await asyncio.gather(first, kept) == ["GATE", "KEPT"]
    assert _stored(notes) == ["gate", "kept"]
