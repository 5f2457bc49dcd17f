"""The alerts domain's tables, on the shared metadata; created by the 2026-11-22 alerts migration.

``alert`` holds one row per episode: a rule's alert from pending until it resolves (or goes back
to inactive without firing), or one ingested alert from its first trigger until it resolves. A
trigger after a resolve opens a new row. ``open_key`` is the fingerprint while the episode is
open and NULL after, so a unique index on it allows one open episode per fingerprint on both
backends (no partial indexes needed).
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata

alert = sa.Table(
    "alert",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    # 16 hex: a hash of source, integration and identity labels (alerts/fingerprints.py).
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("open_key", sa.String(64), nullable=True, unique=True),
    # "rule", "prometheus", "alertmanager", "pagerduty", "webhook".
    sa.Column("source", sa.String(32), nullable=False),
    # The rule name for rule alerts; the integration name for ingested ones.
    sa.Column("rule", sa.String(200), nullable=True),
    sa.Column("integration", sa.String(200), nullable=True),
    # PagerDuty dedup_key, webhook key; None for rule alerts.
    sa.Column("dedup_key", sa.String(255), nullable=True),
    sa.Column("check_id", sa.String(200), nullable=True),
    sa.Column("labels", json_type(), nullable=False),
    sa.Column("annotations", json_type(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    # "pending", "firing", "resolved", "inactive" (pending that never fired).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("fired_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    # Alertmanager API: the alert resolves when this passes unless it is sent again.
    sa.Column("ends_at", UTCDateTime(), nullable=True),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # The values that tripped it (or the last evaluation's), for templates and the timeline.
    sa.Column("values", json_type(), nullable=False),
    # Consecutive true / false evaluations, for "3 failures" and resolve_after.
    sa.Column("true_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("false_count", sa.Integer(), nullable=False, server_default="0"),
    # When the expression last became false while firing (keep_firing_for counts from here).
    sa.Column("false_since", UTCDateTime(), nullable=True),
    sa.Column("flapping", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    # Dependency suppression: the root cause alert (if it has one yet) and why, in words.
    sa.Column("suppressed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("suppressed_reason", sa.Text(), nullable=True),
    # Set by dispatch on each pass: the silences and the maintenance window muting it now.
    sa.Column("silenced_by", json_type(), nullable=False),
    sa.Column("maintenance", sa.String(200), nullable=True),
    sa.Index(None, "status"),
    sa.Index(None, "fingerprint", "started_at"),
    sa.Index(None, "rule"),
)

alert_event = sa.Table(
    "alert_event",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    # "pending", "firing", "resolved", "inactive", "flapping", "suppressed", "unsuppressed",
    # "silenced", "unsilenced", "maintenance", "acknowledged", "received", "notified".
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=True),
    sa.Column("values", json_type(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="CASCADE"),
    sa.Index(None, "alert_id", "id"),
    sa.Index(None, "at"),
)

# Alertmanager's silence, field for field: matchers [{name, value, isRegex, isEqual}].
silence = sa.Table(
    "silence",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("matchers", json_type(), nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=False),
    sa.Column("ends_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "ends_at"),
)

# Notification state of each group: what was last sent, so a pass knows what changed.
alert_group = sa.Table(
    "alert_group",
    metadata,
    sa.Column("group_key", sa.String(500), primary_key=True),
    sa.Column("receivers", json_type(), nullable=False),
    sa.Column("group_labels", json_type(), nullable=False),
    # Alert ids in the last notification that were firing / resolved.
    sa.Column("notified_firing", json_type(), nullable=False),
    sa.Column("notified_resolved", json_type(), nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_notified_at", UTCDateTime(), nullable=True),
    sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"),
)
