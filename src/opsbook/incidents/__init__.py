"""The incidents domain: declared by hand or from paging alerts (grouped by component and
dependency root), the lifecycle (investigating -> identified -> monitoring -> resolved), roles,
notes, merges, and the timeline every change writes to, with the audit trail.

Imports config, store, alerts (tables only, by id and labels) and the root helpers; never
notify, web or cli.
"""

from opsbook.incidents.autodeclare import sync_alerts
from opsbook.incidents.loop import incidents_loop
from opsbook.incidents.models import Incident, IncidentEvent, IncidentStatus, Role
from opsbook.incidents.stats import SeverityStats, incident_stats
from opsbook.incidents.views import event_json, incident_json

__all__ = [
    "Incident",
    "IncidentEvent",
    "IncidentStatus",
    "Role",
    "SeverityStats",
    "event_json",
    "incident_json",
    "incident_stats",
    "incidents_loop",
    "sync_alerts",
]
