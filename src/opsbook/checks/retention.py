"""Deleting what retention no longer keeps: raw results, failures and changes, and rollups.

Deletes go in batches of ``batch`` rows, one transaction each, so a large backlog never holds a
long lock or a huge transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook.checks.tables import check_result, check_rollup
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config.engine import RetentionConfig
from opsbook.tasks import finish_then_cancel

log = structlog.get_logger(__name__)

BATCH = 5000
EVERY = timedelta(hours=1)
RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class Pruned:
    raw: int
    failures: int
    rollups_minute: int
    rollups_hour: int


def prune(
    engine: Engine, *, retention: RetentionConfig, now: datetime, batch: int = BATCH
) -> Pruned:
    """Delete every row older than its retention and return how many of each went.

    Plain results go after ``raw``; failures and state changes (``is_change``) after
    ``failures``; minute and hour rollups after ``rollups_minute`` and ``rollups_hour``.
    """
    r = check_result.c
    raw = _delete_batched(
        engine,
        check_result,
        r.id,
        sa.and_(r.started_at < now - retention.raw, r.is_change.is_(False)),
        batch=batch,
    )
    failures = _delete_batched(
        engine, check_result, r.id, r.started_at < now - retention.failures, batch=batch
    )
    counts = {}
    for resolution, keep in (
        ("minute", retention.rollups_minute),
        ("hour", retention.rollups_hour),
        # Day rollups are hour rollups summed; they are kept as long.
        ("day", retention.rollups_hour),
    ):
        t = check_rollup.c
        counts[resolution] = _delete_rollups(
            engine,
            sa.and_(t.resolution == resolution, t.bucket_start < now - keep),
            batch=batch,
        )
    return Pruned(
        raw=raw,
        failures=failures,
        rollups_minute=counts["minute"],
        rollups_hour=counts["hour"] + counts["day"],
    )


def _delete_batched(
    engine: Engine,
    table: sa.Table,
    key: sa.ColumnElement[int],
    where: sa.ColumnElement[bool],
    *,
    batch: int,
) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            # The ids first, then a delete by them: as one DELETE ... IN (SELECT ... LIMIT)
            # PostgreSQL may join the batch against the whole table instead of looking it up.
            ids = list(conn.scalars(sa.select(key).where(where).limit(batch)))
            deleted = conn.execute(sa.delete(table).where(key.in_(ids))).rowcount if ids else 0
        total += deleted
        if deleted < batch:
            return total


def _delete_rollups(engine: Engine, where: sa.ColumnElement[bool], *, batch: int) -> int:
    t = check_rollup.c
    total = 0
    while True:
        with engine.begin() as conn:
            keys = conn.execute(
                sa.select(t.check_id, t.resolution, t.bucket_start).where(where).limit(batch)
            ).all()
            # By primary key, a bucket at a time: a row-value (check_id, resolution,
            # bucket_start) IN (...) is a full scan of check_rollup on SQLite (issue 10).
            by_bucket: dict[tuple[str, datetime], list[str]] = {}
            for check_id, resolution, start in keys:
                by_bucket.setdefault((resolution, start), []).append(check_id)
            for (resolution, start), check_ids in by_bucket.items():
                conn.execute(
                    sa.delete(check_rollup).where(
                        t.check_id.in_(check_ids),
                        t.resolution == resolution,
                        t.bucket_start == start,
                    )
                )
        total += len(keys)
        if len(keys) < batch:
            return total


async def retention_loop(
    engine: Engine,
    *,
    retention: RetentionConfig,
    clock: Clock = SYSTEM_CLOCK,
    every: timedelta = EVERY,
) -> None:
    """Prune now and then every ``every``, until cancelled (a runner task)."""
    while True:
        try:
            pruned = await finish_then_cancel(
                asyncio.to_thread(prune, engine, retention=retention, now=clock.now())
            )
        except DBAPIError as exc:
            # Unreachable, or not migrated yet: try again later rather than crash the task.
            log.warning("retention_failed", error_type=type(exc).__name__, retry_in_s=RETRY.seconds)
            await asyncio.sleep(RETRY.total_seconds())
            continue
        log.info(
            "retention_pruned",
            raw=pruned.raw,
            failures=pruned.failures,
            rollups_minute=pruned.rollups_minute,
            rollups_hour=pruned.rollups_hour,
        )
        await asyncio.sleep(every.total_seconds())
