"""The incidents domain's tables, on the shared metadata; created by the 2026-11-22 incidents
migration.

``incident_event`` is the timeline: every change, note and linked alert's firing or resolving,
in order. ``incident_alert`` links alerts by id only (DESIGN.md: an incident knows alerts only by
id and labels), so there is no foreign key into the alerts domain's tables. ``action_item`` holds
a postmortem's follow-ups (created by the 2026-11-22 action items migration). ``escalation``
holds each run of an escalation policy with the timer for its next level (2026-11-23).
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata


def _ref() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


incident = sa.Table(
    "incident",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    # "investigating", "identified", "monitoring", "resolved" (Statuspage's incident statuses).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("declared_at", UTCDateTime(), nullable=False),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    # First move to "monitoring" (a fix is in) or straight to "resolved".
    sa.Column("mitigated_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("declared_by", sa.String(200), nullable=False),
    sa.Column("commander", sa.String(200), nullable=True),
    sa.Column("comms", sa.String(200), nullable=True),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("merged_into", _ref(), nullable=True),
    # The component its alerts belong to, for grouping auto-declared alerts into one incident.
    sa.Column("component", sa.String(200), nullable=True),
    # The dependency root alert of the outage (the alert others are suppressed by), if any.
    sa.Column("root_alert_id", _ref(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "status", "declared_at"),
    sa.Index(None, "component"),
    # The status page's reads (statuspage/build.py, 2026-12-06 migration): open or resolved
    # in the last 90 days, and the most recent.
    sa.Index(None, "resolved_at"),
    sa.Index(None, "declared_at", "id"),
)

incident_event = sa.Table(
    "incident_event",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("incident_id", _ref(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    # "declared", "acknowledged", "status", "severity", "role", "note", "alert_linked",
    # "alert_firing", "alert_resolved", "merged", "merged_from", "reopened", "action_added",
    # "action_done".
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("detail", json_type(), nullable=False),
    # When the incidents task turned this event into notifications and escalation changes
    # (``reactions.react``); NULL until then.
    sa.Column("handled_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
    sa.Index(None, "incident_id", "id"),
    sa.Index(None, "handled_at"),
)

incident_alert = sa.Table(
    "incident_alert",
    metadata,
    sa.Column("incident_id", _ref(), primary_key=True),
    sa.Column("alert_id", _ref(), primary_key=True),
    sa.Column("linked_at", UTCDateTime(), nullable=False),
    # What the timeline last said about the alert ("firing", "resolved"), so a sync pass adds
    # each fired/resolved event once.
    sa.Column("alert_status", sa.String(16), nullable=False),
    sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
    sa.Index(None, "alert_id", unique=True),
    # The incidents pass reads the few links not yet "resolved" (2026-12-05 migration).
    sa.Index(None, "alert_status"),
)

action_item = sa.Table(
    "action_item",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("incident_id", _ref(), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    # A calendar day, not an instant: "due 2026-12-01" means by the end of that day.
    sa.Column("due", sa.Date(), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
    sa.Index(None, "incident_id"),
    sa.Index(None, "owner", "done_at"),
)

escalation = sa.Table(
    "escalation",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("incident_id", _ref(), nullable=False),
    # The ``oncall.escalation`` policy it runs.
    sa.Column("policy", sa.String(200), nullable=False),
    # "active" (paging), "acknowledged", "resolved", "merged", "exhausted" (every level paged,
    # nobody acknowledged), "cancelled" (its policy is gone from the config).
    sa.Column("state", sa.String(16), nullable=False),
    # The index of the next level to page in ``escalation_levels(config, policy)``.
    sa.Column("step", sa.Integer(), nullable=False),
    # When that level is due; NULL once the escalation has ended.
    sa.Column("next_at", UTCDateTime(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("ended_reason", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
    sa.Index(None, "state", "next_at"),
    sa.Index(None, "incident_id"),
)
