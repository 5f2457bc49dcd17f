"""The incidents domain: declared by hand or from paging alerts (grouped by component and
dependency root), the lifecycle (investigating -> identified -> monitoring -> resolved), roles,
notes, merges, and the timeline every change writes to, with the audit trail; action items and
the postmortem rendered from the record.

Escalation timers (``escalation.py``) and reactions to timeline events (``reactions.py``)
run in the incidents task (``loop.py``); notices leave through the ``EmitIncident`` protocol.

Imports config, store, alerts (tables only, by id and labels), oncall (pure schedule maths)
and the root helpers; never notify, web or cli.
"""

from opsbook.incidents.autodeclare import sync_alerts
from opsbook.incidents.escalation import (
    list_escalations,
    policy_levels,
    run_escalations,
    start_escalation,
)
from opsbook.incidents.loop import IncidentsTask, incidents_loop
from opsbook.incidents.models import (
    ActionItem,
    EmitIncident,
    Escalation,
    Incident,
    IncidentEvent,
    IncidentNotice,
    IncidentStatus,
    LinkedAlert,
    Page,
    Recipient,
    Role,
)
from opsbook.incidents.postmortem import render_postmortem
from opsbook.incidents.reactions import react
from opsbook.incidents.stats import SeverityStats, incident_stats
from opsbook.incidents.views import (
    action_json,
    escalation_json,
    event_json,
    incident_detail_json,
    incident_json,
    response_for,
    response_json,
)

__all__ = [
    "ActionItem",
    "EmitIncident",
    "Escalation",
    "Incident",
    "IncidentEvent",
    "IncidentNotice",
    "IncidentStatus",
    "IncidentsTask",
    "LinkedAlert",
    "Page",
    "Recipient",
    "Role",
    "SeverityStats",
    "action_json",
    "escalation_json",
    "event_json",
    "incident_detail_json",
    "incident_json",
    "incident_stats",
    "incidents_loop",
    "list_escalations",
    "policy_levels",
    "react",
    "render_postmortem",
    "response_for",
    "response_json",
    "run_escalations",
    "start_escalation",
    "sync_alerts",
]
