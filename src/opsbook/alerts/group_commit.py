"""Group commit for ingest: one writer thread, one transaction for every request waiting.

A request's alerts are validated and worked out first (``Writes``), then handed to the
``GroupCommitter``; the request's ``await`` returns only after the transaction holding them
committed, so a 2xx still means durable. Under load the requests that arrived while the previous
transaction ran share the next one: one ``BEGIN IMMEDIATE``, one SELECT of the open alerts for
all of their fingerprints, batched writes and one COMMIT, instead of one of each per request
(and instead of request threads queueing on SQLite's single write lock).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from opsbook.alerts.ingest_writes import Applied, Writes, apply_writes, begin_write

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Two writers opening the same new alert at once (another process, or the alert engine): the
# loser's insert hits the unique open_key and its transaction rolls back; running it again
# finds the winner's alert and refreshes it.
ATTEMPTS = 3
IDLE_S = 1.0
"""How long the writer thread waits for work before it exits (the next request starts one)."""
MAX_GROUP = 256
"""Requests per transaction at most, so one group's latency stays bounded."""


@dataclass(frozen=True, slots=True)
class _Job:
    writes: Writes | None
    work: Callable[[Connection], Any] | None
    future: Future[Any]


class GroupCommitter:
    """Runs ingest writes for one engine in as few transactions as the load allows.

    ``write`` and ``run`` return after the transaction that did the work committed, with its
    result, or raise what the work raised. A request that fails does not fail the others it
    shared a transaction with: when a group's transaction fails, each of its requests runs
    again in a transaction of its own, and only the one that fails there gets the error.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: list[_Job] = []
        self._ready = threading.Condition()
        self._running = False

    async def write(self, writes: Writes) -> Applied:
        """Apply one request's alerts (``apply_writes``) and commit."""
        applied: Applied = await self._submit(_Job(writes, None, Future()))
        return applied

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction shared with other requests and commit.

        ``work`` may run twice (when its group's transaction fails it runs again alone), so it
        must have no effect outside the transaction; one that raises slows its group down, so
        validate before, not in it."""
        result: T = await self._submit(_Job(None, work, Future()))
        return result

    async def _submit(self, job: _Job) -> Any:
        with self._ready:
            self._jobs.append(job)
            if self._running:
                self._ready.notify()
            else:
                self._running = True
                threading.Thread(target=self._loop, name="ingest-writer", daemon=True).start()
        return await asyncio.wrap_future(job.future)

    def _loop(self) -> None:
        """1. Wait (up to ``IDLE_S``) for jobs; with none, mark the writer stopped and exit.
        2. Take every job waiting (up to ``MAX_GROUP``) and run them in one transaction.
        3. Complete each job's future after the commit, or run each alone if it failed."""
        while True:
            with self._ready:
                if not self._jobs:
                    self._ready.wait(IDLE_S)
                if not self._jobs:
                    self._running = False
                    return
                taken, self._jobs = self._jobs[:MAX_GROUP], self._jobs[MAX_GROUP:]
            # A request cancelled while it waited is not written (it was not answered 2xx);
            # one that started cannot be cancelled any more, so it always gets its answer.
            jobs = [job for job in taken if job.future.set_running_or_notify_cancel()]
            try:
                self._commit(jobs)
            except BaseException as exc:
                # Only something like SystemExit gets here; answer every request still
                # waiting and let the next request start a new writer.
                with self._ready:
                    self._running = False
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                raise

    def _commit(self, jobs: Sequence[_Job]) -> None:
        if len(jobs) > 1:
            try:
                with self._engine.begin() as conn:
                    results = _run_jobs(conn, jobs)
            except Exception as exc:  # each job runs again alone, and gets its own answer
                log.info("ingest_group_retry", jobs=len(jobs), error=type(exc).__name__)
            else:
                for job, result in zip(jobs, results, strict=True):
                    job.future.set_result(result)
                return
        for job in jobs:
            self._commit_alone(job)

    def _commit_alone(self, job: _Job) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    [result] = _run_jobs(conn, [job])
            except IntegrityError as exc:
                if attempt == ATTEMPTS:
                    job.future.set_exception(exc)
                    return
                log.info("ingest_retry", attempt=attempt)
            except BaseException as exc:  # handed to the waiting request, which raises it
                job.future.set_exception(exc)
                return
            else:
                job.future.set_result(result)
                return


def _run_jobs(conn: Connection, jobs: Sequence[_Job]) -> list[Any]:
    """Each job's result, in order. Consecutive ``Writes`` go to ``apply_writes`` together."""
    begin_write(conn)
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
