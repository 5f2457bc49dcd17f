"""Group commit for ingest: one writer thread, one transaction for every request waiting.

A request's alerts are validated and worked out first (``Writes``), then handed to the
``GroupCommitter``; the request's ``await`` returns only after the transaction holding them
committed, so a 2xx still means durable. Under load the requests that arrived while the previous
transaction ran share the next one: one ``BEGIN IMMEDIATE``, one SELECT of the open alerts for
all of their fingerprints, batched writes and one COMMIT, instead of one of each per request.
The writer thread, grouping and retries are ``store/group_commit.py``'s; this module says what
an ingest group's transaction does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from opsbook.alerts.ingest_writes import Applied, Writes, apply_writes
from opsbook.store import group_commit

T = TypeVar("T")

IDLE_S = group_commit.IDLE_S
"""How long the writer thread waits for work before it exits (the next request starts one)."""


@dataclass(frozen=True, slots=True)
class _Job:
    writes: Writes | None
    work: Callable[[Connection], Any] | None


class GroupCommitter(group_commit.GroupCommitter[_Job, Any]):
    """Runs ingest writes for one engine in as few transactions as the load allows.

    ``write`` and ``run`` return after the transaction that did the work committed, with its
    result, or raise what the work raised. A request that fails does not fail the others it
    shared a transaction with: when a group's transaction fails, each of its requests runs
    again in a transaction of its own, and only the one that fails there gets the error.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, _run_jobs, name="ingest")

    @property
    def idle_s(self) -> float:
        return IDLE_S

    async def write(self, writes: Writes) -> Applied:
        """Apply one request's alerts (``apply_writes``) and commit."""
        applied: Applied = await self.submit(_Job(writes, None))
        return applied

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction shared with other requests and commit.

        ``work`` may run twice (when its group's transaction fails it runs again alone), so it
        must have no effect outside the transaction; one that raises slows its group down, so
        validate before, not in it."""
        result: T = await self.submit(_Job(None, work))
        return result


def _run_jobs(conn: Connection, jobs: Sequence[_Job]) -> list[Any]:
    """Each job's result, in order. Consecutive ``Writes`` go to ``apply_writes`` together."""
    group_commit.begin_immediate(conn)
    results: list[Any] = []
    pending: list[Writes] = []
    for job in jobs:
        if job.writes is not None:
            pending.append(job.writes)
            continue
        results.extend(apply_writes(conn, pending))
        pending.clear()
        if job.work is not None:
            results.append(job.work(conn))
    results.extend(apply_writes(conn, pending))
    return results
