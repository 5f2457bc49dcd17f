"""The checks domain's tables, on the shared metadata; created by the 2026-11-22 migration.

``check_result`` is the source of truth. ``check_rollup`` and ``check_state`` are derived from it
as results are written (R20): rollups so windows never scan raw rows, state so the latest
result per check is one primary-key read.
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata

check_result = sa.Table(
    "check_result",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    # The HTTP status, for the kinds that have one.
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("failed_conditions", json_type(), nullable=False),
    sa.Column("values", json_type(), nullable=False),
    sa.Column("timings", json_type(), nullable=False),
    # A failure or a state change: retention keeps these for ``failures``, not ``raw``.
    sa.Column("is_change", sa.Boolean(), nullable=False),
    sa.Index(None, "check_id", "started_at"),
    sa.Index(None, "started_at"),
)

check_rollup = sa.Table(
    "check_rollup",
    metadata,
    sa.Column("check_id", sa.String(200), primary_key=True),
    sa.Column("resolution", sa.String(8), primary_key=True),  # "minute", "hour" or "day"
    sa.Column("bucket_start", UTCDateTime(), primary_key=True),
    sa.Column("n_up", sa.Integer(), nullable=False),
    sa.Column("n_degraded", sa.Integer(), nullable=False),
    sa.Column("n_down", sa.Integer(), nullable=False),
    # Time credited to each state; what is not credited in a window is "no data".
    sa.Column("up_seconds", sa.Float(), nullable=False),
    sa.Column("degraded_seconds", sa.Float(), nullable=False),
    sa.Column("down_seconds", sa.Float(), nullable=False),
    # Sparse {bucket index: count} of a log-spaced histogram (rollups.py); merged by addition.
    sa.Column("histogram", json_type(), nullable=False),
    sa.Column("latency_sum_ms", sa.Float(), nullable=False),
    sa.Column("latency_max_ms", sa.Float(), nullable=False),
    sa.Index(None, "bucket_start"),
)

check_state = sa.Table(
    "check_state",
    metadata,
    sa.Column("check_id", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    sa.Column("last_result_at", UTCDateTime(), nullable=False),
    sa.Column("last_latency_ms", sa.Float(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
)

opsbook_run = sa.Table(
    "opsbook_run",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    # Moved forward every ~10 s by the scheduler; a kill -9 leaves it where it last was.
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("stopped_at", UTCDateTime(), nullable=True),
    sa.Index(None, "started_at"),
)
