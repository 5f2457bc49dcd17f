"""The incidents domain: declared by hand or from paging alerts (grouped by component and
dependency root), the lifecycle (investigating -> identified -> monitoring -> resolved), roles,
notes, merges, and the timeline every change writes to, with the audit trail; action items and
the postmortem rendered from the record.

Imports config, store, alerts (tables only, by id and labels) and the root helpers; never
notify, web or cli.
"""

from opsbook.incidents.autodeclare import sync_alerts
from opsbook.incidents.loop import incidents_loop
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent, IncidentStatus, Role
from opsbook.incidents.postmortem import render_postmortem
from opsbook.incidents.stats import SeverityStats, incident_stats
from opsbook.incidents.views import action_json, event_json, incident_json

__all__ = [
    "ActionItem",
    "Incident",
    "IncidentEvent",
    "IncidentStatus",
    "Role",
    "SeverityStats",
    "action_json",
    "event_json",
    "incident_json",
    "incident_stats",
    "incidents_loop",
    "render_postmortem",
    "sync_alerts",
]
