"""Runbook runs executing on the server's event loop (``app.state.run_tasks``).

A run started or resumed through the API is an ``asyncio`` task held here, so it is not
garbage collected while it runs and is cancelled (its step and run recorded ``cancelled``) when
the server stops. Output chunks are fanned out to listeners (the SSE route), each with its own
bounded queue: a slow listener loses chunks, never slows the run. At start, ``interrupt_stale``
marks the runs a previous process left ``running`` as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.errors import Conflict, OpsbookError
from opsbook.runbooks.models import Runbook
from opsbook.runbooks.outcome import RunSettings
from opsbook.runbooks.registry import Loaded
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import mark_interrupted
from opsbook.runbooks.settings import run_settings as settings_from_config

log = structlog.get_logger(__name__)

QUEUE_SIZE = 256
Event = dict[str, Any]


def run_settings(config: Config, loaded: Loaded) -> RunSettings:
    """Executor settings from ``runbooks.shell`` (``runbooks.settings``); the config's folder
    is the runbooks folder minus ``runbooks.path``."""
    config_dir = None
    if loaded.folder is not None:
        config_dir = loaded.folder
        for _ in Path(config.runbooks.path).parts:
            config_dir = config_dir.parent
    return settings_from_config(config, config_dir=config_dir)


def database_dsns(config: Config) -> dict[str, str]:
    return {name: db.dsn.reveal() for name, db in config.runbooks.databases.items()}


class RunTasks:
    def __init__(self) -> None:
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._secrets: dict[int, dict[str, str]] = {}
        self._listeners: dict[int, set[asyncio.Queue[Event]]] = {}

    def interrupt_stale(self, engine: Engine, clock: Clock) -> list[int]:
        """Mark runs left ``running`` by a previous process ``interrupted``; none can be
        running in this one yet. A store that cannot answer is logged, not raised."""
        try:
            with engine.begin() as conn:
                ids = mark_interrupted(conn, now=clock.now())
        except (DBAPIError, OpsbookError) as exc:
            log.warning("runbook_runs_not_checked", error=type(exc).__name__)
            return []
        log.info("runbook_runs_interrupted", count=len(ids), run_ids=ids)
        return ids

    def is_active(self, run_id: int) -> bool:
        task = self._tasks.get(run_id)
        return task is not None and not task.done()

    def launch(
        self,
        run_id: int,
        runbook: Runbook,
        *,
        config: Config,
        loaded: Loaded,
        engine: Engine,
        clock: Clock,
        mask: list[str],
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        """Execute (or resume) the run in the background, after any task of it still ending."""
        if secrets:
            self._secrets[run_id] = dict(secrets)
        previous = self._tasks.get(run_id)
        work = self._execute(
            run_id,
            runbook,
            previous=previous,
            settings=run_settings(config, loaded),
            dsns=database_dsns(config),
            write_during=list(config.runbooks.approvals.write_during),
            engine=engine,
            clock=clock,
            mask=mask,
        )
        self._tasks[run_id] = asyncio.get_running_loop().create_task(work, name=f"run-{run_id}")

    async def _execute(
        self,
        run_id: int,
        runbook: Runbook,
        *,
        previous: asyncio.Task[None] | None,
        settings: RunSettings,
        dsns: dict[str, str],
        engine: Engine,
        clock: Clock,
        mask: list[str],
        write_during: list[str],
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        state: str | None = None
        try:
            state = await execute_run(
                engine,
                run_id,
                runbook,
                settings=settings,
                clock=clock,
                secrets=self._secrets.get(run_id),
                mask=mask,
                dsns=dsns,
                write_approval_during=write_during,
                on_output=lambda chunk: self.publish(run_id, {"output": chunk}),
            )
        except Conflict as exc:  # ended, or resumed by another request first
            log.info("runbook_run_not_resumed", run_id=run_id, reason=str(exc))
        except OpsbookError as exc:
            log.warning("runbook_run_refused", run_id=run_id, error=str(exc))
        except asyncio.CancelledError:
            state = "cancelled"
            raise
        except Exception as exc:
            log.error("runbook_run_failed", run_id=run_id, error=type(exc).__name__)
        finally:
            if state != "waiting":
                self._secrets.pop(run_id, None)
            self.publish(run_id, {"stopped": state})
            if self._tasks.get(run_id) is asyncio.current_task():
                del self._tasks[run_id]

    async def cancel(self, run_id: int) -> bool:
        """Cancel the run's task and wait until it recorded the cancel; False if none runs."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task])
        return True

    async def stop(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def listen(self, run_id: int) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._listeners.setdefault(run_id, set()).add(queue)
        return queue

    def unlisten(self, run_id: int, queue: asyncio.Queue[Event]) -> None:
        listeners = self._listeners.get(run_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[run_id]

    def publish(self, run_id: int, event: Event) -> None:
        for queue in self._listeners.get(run_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
