"""The server's incidents task: ``sync_alerts`` every ``alerting.evaluate_every``.

The store work is blocking SQLAlchemy, so each pass runs in a thread; a pass that raises ends the
task and the web runner restarts it with backoff (the runner is the supervisor, R13).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from sqlalchemy.engine import Engine

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.incidents.autodeclare import sync_alerts
from opsbook.tasks import finish_then_cancel

log = structlog.get_logger(__name__)


def sync_once(engine: Engine, *, config: Config, now: datetime) -> list[int]:
    """One pass in its own transaction; the ids of the incidents it declared."""
    with engine.begin() as conn:
        declared = sync_alerts(conn, config=config, now=now)
    if declared:
        log.info("incidents_declared", incident_ids=declared)
    return declared


async def incidents_loop(engine: Engine, *, config: Config, clock: Clock = SYSTEM_CLOCK) -> None:
    every = config.alerting.evaluate_every.total_seconds()
    while True:
        # A shutdown waits for the pass: its thread holds a connection of the engine.
        await finish_then_cancel(
            asyncio.to_thread(sync_once, engine, config=config, now=clock.now())
        )
        await asyncio.sleep(every)
