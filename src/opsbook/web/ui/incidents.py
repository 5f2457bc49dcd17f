"""``/incidents``: the list (open first), one incident with its timeline, escalations, alerts
and action items, and its postmortem. The forms that change an incident are in
``incident_forms.py``; the page shows them to responders only.

The detail page carries the change markers of ``/ui/events`` (static/ui/live.js), so its
``data-live`` parts (state, timeline, escalations, alerts, action items) refresh when any
incident event is written, without a reload; the forms are outside them, so typing survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from opsbook.accounts import Role as AccountRole
from opsbook.alerts.models import Alert
from opsbook.alerts.records import get_alert
from opsbook.config import Config
from opsbook.incidents import (
    ActionItem,
    Escalation,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Role,
    escalation_json,
    list_escalations,
    policy_levels,
    render_postmortem,
    response_for,
    service,
)
from opsbook.incidents.escalation import escalation_policies
from opsbook.incidents.models import UPDATE_FIELDS
from opsbook.incidents.models import Response as Target
from opsbook.runbooks.run_lists import find_runs
from opsbook.types import JSONValue
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath
from opsbook.web.ui import alerts, incident_forms
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.templating import Pages

LIST_LIMIT = 200
ALERTS_SHOWN = 50
RUNS_SHOWN = 20

FIELD_LABELS = {
    "impact": "Impact",
    "eta": "ETA",
    "workaround": "Workaround",
    "next_update": "Next update",
    "root_cause": "Root cause",
    "fix": "Fix",
}
"""The update fields (``UPDATE_FIELDS``) as the seeds' templates title them."""

_QUOTED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
"""A matcher value's escapes in amtool's quoted form (``alerts.silences._unquote`` reads them)."""


@dataclass(frozen=True, slots=True)
class EscalationRow:
    item: Escalation
    next_level: JSONValue
    next_round: JSONValue
    levels: JSONValue


@dataclass(frozen=True, slots=True)
class Detail:
    incident: Incident
    response: Target | None
    events: list[IncidentEvent]
    escalations: list[EscalationRow]
    alerts: list[Alert]
    more_alerts: int
    actions: list[ActionItem]
    version: str
    results_version: int


def read_detail(conn: Connection, incident_id: int, *, config: Config, now: datetime) -> Detail:
    """Everything the page shows of one incident. ``NotFound`` if there is none."""
    found = service.get_incident(conn, incident_id)
    alert_ids = service.alert_ids(conn, incident_id)
    rows = []
    for item in list_escalations(conn, incident_id):
        shape = escalation_json(item, levels=policy_levels(config, item.policy))
        rows.append(
            EscalationRow(
                item=item,
                next_level=shape["next_level"],
                next_round=shape["next_round"],
                levels=shape["levels"],
            )
        )
    version, results = read_version(conn)
    return Detail(
        incident=found,
        response=response_for(found, config=config, now=now),
        events=service.timeline(conn, incident_id),
        escalations=rows,
        alerts=[get_alert(conn, alert_id) for alert_id in alert_ids[:ALERTS_SHOWN]],
        more_alerts=max(len(alert_ids) - ALERTS_SHOWN, 0),
        actions=service.list_actions(conn, open_only=False, incident_id=incident_id),
        version=version,
        results_version=results,
    )


def alert_link(found: Alert) -> str | None:
    """``/alerts`` filtered to the alert's name (``alertname="..."``, quoted and escaped as the
    filter box parses it), or None when it has no name or the filter would be too long."""
    name = found.labels.get("alertname")
    if name is None:
        return None
    quoted = "".join(_QUOTED.get(char, char) for char in name)
    matcher = f'alertname="{quoted}"'
    if len(matcher) > alerts.FILTER_MAX_CHARS:
        return None
    return "/alerts?" + urlencode({"filter": matcher})


def check_link(check_id: str) -> str:
    return f"/checks/{quote(check_id, safe='')}"


def shown_forms(found: Incident, *, can_act: bool, escalates: bool = False) -> frozenset[str]:
    """The forms the page offers (``incident_forms.FORMS`` names): none to a viewer, and only
    those that can succeed in the incident's state (a merged one takes notes and action items,
    and is not merged again; escalating needs an open incident whose severity has a policy,
    ``escalates``)."""
    if not can_act:
        return frozenset()
    forms = {"note", "action", "done"}
    if found.merged_into is None:
        forms |= {"severity", "role", "merge"}
        if found.is_open:
            forms |= {"update", "resolve"} | ({"ack"} if found.acknowledged_at is None else set())
            forms |= {"escalate"} if escalates else set()
        else:
            forms.add("reopen")
    return frozenset(forms)


def open_first(found: list[Incident]) -> list[Incident]:
    """Open incidents before resolved ones; newest first within each (``found``'s order)."""
    return sorted(found, key=lambda i: not i.is_open)


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/incidents")
    def incident_list(
        request: Request,
        principal: PageDep,
        engine: EngineDep,
        clock: ClockDep,
        show: Annotated[Literal["open", "all"], Query()] = "open",
    ) -> Response:
        with engine.begin() as conn:
            found = service.list_incidents(conn, include_resolved=show == "all", limit=LIST_LIMIT)
            version, results = read_version(conn)
        return pages.render(
            request,
            "incidents.html",
            {
                "title": "Incidents",
                "incidents": open_first(found),
                "show": show,
                "limit": LIST_LIMIT,
                "now": clock.now(),
                # Not "version": that is the package's, which the footer shows.
                "live_version": version,
                "results_version": results,
            },
            principal=principal,
        )

    @routes.get("/incidents/{incident_id}")
    def incident_page(
        incident_id: IdPath,
        request: Request,
        principal: PageDep,
        engine: EngineDep,
        config: ConfigDep,
        clock: ClockDep,
    ) -> Response:
        now = clock.now()
        can_act = principal.role.allows(AccountRole.RESPONDER)
        with engine.begin() as conn:
            detail = read_detail(conn, incident_id, config=config, now=now)
            runs = find_runs(conn, incident_id=incident_id, limit=RUNS_SHOWN)
            policy = escalation_policies(config).get(detail.incident.severity)
            forms = shown_forms(detail.incident, can_act=can_act, escalates=policy is not None)
            # The merge form suggests the open incidents (a merged one is resolved).
            targets = (
                service.list_incidents(conn, include_resolved=False, limit=LIST_LIMIT)
                if "merge" in forms
                else []
            )
        error = incident_forms.shown_error(request, incident_id)
        return pages.render(
            request,
            "incidents_detail.html",
            {
                "title": f"Incident {incident_id}",
                "d": detail,
                "i": detail.incident,
                "now": now,
                "can_act": can_act,
                "forms": forms,
                "error": error,
                # An error of a form the page no longer offers (reopen an open incident) is
                # shown at the top instead.
                "error_at_top": error if error is not None and error.form not in forms else None,
                "statuses": [s.value for s in IncidentStatus],
                "roles": [r.value for r in Role],
                "severities": list(config.severities),
                "people": sorted(config.oncall.people),
                "merge_targets": [t for t in targets if t.id != incident_id],
                "alert_link": alert_link,
                "check_link": check_link,
                "update_fields": [(key, FIELD_LABELS[key]) for key in UPDATE_FIELDS],
                "runs": runs,
            },
            principal=principal,
        )

    @routes.get("/incidents/{incident_id}/postmortem")
    def postmortem_page(
        incident_id: IdPath,
        request: Request,
        principal: PageDep,
        engine: EngineDep,
        config: ConfigDep,
        clock: ClockDep,
    ) -> Response:
        with engine.begin() as conn:
            found = service.get_incident(conn, incident_id)
            text = render_postmortem(
                conn, incident_id, zone=ZoneInfo(config.timezone), now=clock.now()
            )
        return pages.render(
            request,
            "incidents_postmortem.html",
            {"title": f"Postmortem of incident {incident_id}", "i": found, "markdown": text},
            principal=principal,
        )

    @routes.get("/incidents/{incident_id}/postmortem.md")
    def postmortem_markdown(
        incident_id: IdPath,
        principal: PageDep,
        engine: EngineDep,
        config: ConfigDep,
        clock: ClockDep,
    ) -> Response:
        with engine.begin() as conn:
            text = render_postmortem(
                conn, incident_id, zone=ZoneInfo(config.timezone), now=clock.now()
            )
        return PlainTextResponse(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    routes.include_router(incident_forms.router())

    # A form posted with an ended session goes through the login form, which then opens the
    # post's address with a GET: send that to the incident instead of a 405.
    def back_to_incident(incident_id: IdPath) -> Response:
        return RedirectResponse(f"/incidents/{incident_id}", status_code=303)

    for path in incident_forms.PATHS:
        routes.add_api_route(path, back_to_incident, methods=["GET"])

    return routes
