"""Group commit: one writer thread, one transaction for every request waiting.

A request hands its job to a ``GroupCommitter``; its ``await`` returns only after the
transaction holding the job committed, so a 2xx still means durable. Under load the requests
that arrived while the previous transaction ran share the next one: one ``BEGIN IMMEDIATE``,
batched writes and one COMMIT, instead of one of each per request (and instead of request
threads queueing on SQLite's single write lock). What a group's transaction does is the
caller's ``run_group``; ingest (``alerts/group_commit.py``) and pings (``checks/ping_writer.py``)
each bring theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from opsbook.store import driver

log = structlog.get_logger(__name__)

J = TypeVar("J")
R = TypeVar("R")

# Two writers opening the same new row at once (another process, or another task): the loser's
# insert hits a unique key and its transaction rolls back; running it again finds the winner's.
ATTEMPTS = 3
IDLE_S = 1.0
"""How long the writer thread waits for work before it exits (the next request starts one)."""
MAX_GROUP = 256
"""Requests per transaction at most, so one group's latency stays bounded."""


@dataclass(frozen=True, slots=True, eq=False)
class _Entry(Generic[J, R]):
    job: J
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[R]


# What a job came to: its result, or what it raised.
_Answer = tuple[_Entry[J, R], R | None, BaseException | None]


class GroupCommitter(Generic[J, R]):
    """Runs jobs for one engine in as few transactions as the load allows.

    ``run_group(conn, jobs)`` does the jobs in ``conn``'s transaction and returns one result
    per job, in order. ``submit`` returns after the transaction that did the job committed,
    with its result, or raises what the job raised. A job that fails does not fail the others
    it shared a transaction with: when a group's transaction fails, each of its jobs runs again
    in a transaction of its own, and only the one that fails there gets the error. So a job may
    run twice, and ``run_group`` must have no effect outside the transaction.
    """

    def __init__(
        self,
        engine: Engine,
        run_group: Callable[[Connection, Sequence[J]], Sequence[R]],
        *,
        name: str,
    ) -> None:
        self._engine = engine
        self._run_group = run_group
        self._name = name
        self._entries: list[_Entry[J, R]] = []
        self._ready = threading.Condition()
        self._running = False

    @property
    def idle_s(self) -> float:
        return IDLE_S

    async def submit(self, job: J) -> R:
        loop = asyncio.get_running_loop()
        entry: _Entry[J, R] = _Entry(job, loop, loop.create_future())
        with self._ready:
            self._entries.append(entry)
            if self._running:
                # The writer sleeps only while nothing waits. The first entry wakes it, at the
                # end of this pass of the event loop, not now: the requests that arrived with
                # this one queue behind it first, and the writer takes them all in one group.
                # Woken at once, it took the first alone about one time in four (at one alert
                # a request, 32 connections), a transaction for a single request.
                if len(self._entries) == 1:
                    loop.call_soon(self._wake)
            else:
                self._running = True
                threading.Thread(
                    target=self._loop, name=f"{self._name}-writer", daemon=True
                ).start()
        try:
            return await entry.future
        except asyncio.CancelledError:
            # A request cancelled while it waited is not written (it was not answered 2xx);
            # one the writer took already is written, and its answer goes nowhere.
            with self._ready:
                if entry in self._entries:
                    self._entries.remove(entry)
            raise

    def _wake(self) -> None:
        with self._ready:
            if self._entries:
                self._ready.notify()

    def _loop(self) -> None:
        """1. Wait (up to ``idle_s``) for jobs; with none, mark the writer stopped and exit.
        2. Take every job waiting (up to ``MAX_GROUP``) and run them in one transaction, or
           each alone if that failed.
        3. Answer the group after the commit: one call into each waiting event loop sets every
           request's future there, instead of a wake-up (and a hop through a thread-safe
           future) a request."""
        link = _Link(self._engine)
        try:
            while True:
                with self._ready:
                    if not self._entries:
                        self._ready.wait(self.idle_s)
                    if not self._entries:
                        self._running = False
                        return
                    entries = self._entries[:MAX_GROUP]
                    self._entries = self._entries[MAX_GROUP:]
                answers: list[_Answer[J, R]] = []
                try:
                    self._commit(link, entries, answers)
                except BaseException as exc:
                    # Only something like SystemExit gets here; answer every request still
                    # waiting and let the next request start a new writer.
                    with self._ready:
                        self._running = False
                    answered = {id(a[0]) for a in answers}
                    answers += [(e, None, exc) for e in entries if id(e) not in answered]
                    raise
                finally:
                    _answer(answers)
        finally:
            link.close()

    def _commit(
        self, link: _Link, entries: Sequence[_Entry[J, R]], answers: list[_Answer[J, R]]
    ) -> None:
        if len(entries) > 1:
            try:
                with link.transaction() as conn:
                    results = self._run_group(conn, [e.job for e in entries])
            except Exception as exc:  # each job runs again alone, and gets its own answer
                log.info(f"{self._name}_group_retry", jobs=len(entries), error=type(exc).__name__)
            else:
                answers += [(e, r, None) for e, r in zip(entries, results, strict=True)]
                return
        for entry in entries:
            answers.append(self._commit_alone(link, entry))

    def _commit_alone(self, link: _Link, entry: _Entry[J, R]) -> _Answer[J, R]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with link.transaction() as conn:
                    [result] = self._run_group(conn, [entry.job])
            except IntegrityError as exc:
                if attempt == ATTEMPTS:
                    return (entry, None, exc)
                log.info(f"{self._name}_retry", attempt=attempt)
            except BaseException as exc:  # handed to the waiting request, which raises it
                return (entry, None, exc)
            else:
                return (entry, result, None)
        raise AssertionError("the last attempt returns")  # pragma: no cover


class _Link:
    """A writer thread's connection, kept from one group to the next while it runs: checking a
    connection out of the pool and back in for each group cost 110k instructions, a quarter of
    what a one-request ingest group cost (callgrind, docs/benchmarks.md). After a transaction
    that failed it goes back to the pool, which resets it (or drops it, if the driver lost it),
    and the next group checks one out again; the thread gives it back when it exits (after
    ``IDLE_S`` with no work)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction holding the write lock (``begin_immediate``), committed at the end of
        the block, rolled back if it raises."""
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                begin_immediate(self._conn)
                yield self._conn
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _answer(answers: Sequence[_Answer[J, R]]) -> None:
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Answer[J, R]]] = defaultdict(list)
    for answer in answers:
        by_loop[answer[0].loop].append(answer)
    for loop, some in by_loop.items():
        # A closed loop (RuntimeError) has nobody waiting for these any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, some)


def _settle(answers: Sequence[_Answer[J, R]]) -> None:
    """On the requests' event loop: set each future not cancelled meanwhile."""
    for entry, result, exc in answers:
        if entry.future.done():
            continue
        if exc is not None:
            entry.future.set_exception(exc)
        else:
            entry.future.set_result(result)  # type: ignore[arg-type]


def begin_immediate(conn: Connection) -> None:
    """Take the write lock now on SQLite, where pysqlite would start the transaction only at
    the first write: a read before it could be stale by the time we write."""
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            driver.run(conn, "BEGIN IMMEDIATE")
