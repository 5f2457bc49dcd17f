"""The incident page's forms: acknowledge, status update, resolve, note, severity, role, reopen,
add an action item, mark one done. Each posts to ``/incidents/{id}/<action>`` with the
session's CSRF token (``FormDep``), needs the responder role (403 otherwise), calls the domain
as the API does (who acts is who is logged in; the incidents task is woken after the commit)
and answers 303 back to the page (post/redirect/get).

A refused change (a missing field, an illegal status move) redirects too, with the domain's
message in the query: it names the field and what it accepts, never what was typed. The
message is signed with the session's CSRF token, so a link crafted elsewhere cannot make the
page show a text of its choosing, and a shown error can only have come from this server.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Connection

from opsbook.accounts import Principal
from opsbook.accounts import Role as AccountRole
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents import IncidentStatus, Role, service
from opsbook.incidents.models import UPDATE_FIELDS
from opsbook.web.auth import client_address
from opsbook.web.deps import IdPath, get_services
from opsbook.web.ui.session import FormDep, needs_role

PATHS = (
    "/incidents/{incident_id}/ack",
    "/incidents/{incident_id}/updates",
    "/incidents/{incident_id}/resolve",
    "/incidents/{incident_id}/notes",
    "/incidents/{incident_id}/severity",
    "/incidents/{incident_id}/roles",
    "/incidents/{incident_id}/reopen",
    "/incidents/{incident_id}/actions",
    "/incidents/{incident_id}/actions/{action_id}/done",
)
"""Where the page's forms post (``incidents.py`` sends a GET of one back to the page)."""

FORMS = ("ack", "update", "resolve", "note", "severity", "role", "reopen", "action", "done")
"""The forms an error can be shown at (``#form-<name>`` on the page)."""


@dataclass(frozen=True, slots=True)
class ShownError:
    form: str
    message: str


def _signature(key: str, incident_id: int, form: str, message: str) -> str:
    payload = f"{incident_id}\n{form}\n{message}".encode()
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()[:32]


def error_location(request: Request, incident_id: int, form: str, message: str) -> str:
    key = getattr(request.state, "csrf", "")
    query = urlencode(
        {
            "form": form,
            "error": message,
            "sig": _signature(key, incident_id, form, message),
        }
    )
    return f"/incidents/{incident_id}?{query}#form-{form}"


def shown_error(request: Request, incident_id: int) -> ShownError | None:
    """The error a form's redirect carries, when it was signed for this session and page."""
    query = request.query_params
    form, message, sent = query.get("form", ""), query.get("error", ""), query.get("sig", "")
    key = getattr(request.state, "csrf", "")
    if not (key and form in FORMS and message and sent):
        return None
    if not hmac.compare_digest(sent, _signature(key, incident_id, form, message)):
        return None
    return ShownError(form=form, message=message)


class Fields:
    """The posted form's fields; a missing or malformed one is an ``InputError`` naming it."""

    def __init__(self, form: Mapping[str, str]) -> None:
        self.form = form

    def text(self, name: str) -> str:
        value = self.form.get(name)
        if value is None:
            raise InputError(f"{name}: is required", field=name)
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise InputError(f"{name}: choose one of {', '.join(allowed)}", field=name)
        return value

    def day(self, name: str) -> date | None:
        value = self.form.get(name, "").strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InputError(f"{name}: not a date (use YYYY-MM-DD)", field=name) from None

    def update_fields(self) -> dict[str, str]:
        return {key: self.form[key] for key in UPDATE_FIELDS if self.form.get(key, "").strip()}


Change = Callable[[Connection, Fields, str], object]
"""Makes the change in the transaction: (conn, the form's fields, origin)."""


def _act(
    request: Request, principal: Principal, incident_id: int, form: str, change: Change
) -> Response:
    needs_role(principal, AccountRole.RESPONDER)
    services = get_services(request)
    fields = Fields(getattr(request.state, "form", {}))
    try:
        with services.engine.begin() as conn:
            change(conn, fields, f"ui {client_address(request)}")
    except (InputError, Conflict) as exc:
        # An unknown incident or action item (NotFound: the path's ids) is the 404 page instead.
        return RedirectResponse(error_location(request, incident_id, form, str(exc)), 303)
    if services.incidents is not None:
        services.incidents.wake()
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


STATUSES = tuple(s.value for s in IncidentStatus)
ROLES = tuple(r.value for r in Role)


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.post(PATHS[0])
    def acknowledge(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            now = get_services(request).clock.now()
            return service.acknowledge(
                conn, incident_id, actor=principal.actor, now=now, origin=origin
            )

        return _act(request, principal, incident_id, "ack", change)

    def status_update(form: str, status: IncidentStatus | None) -> Callable[..., Response]:
        def post(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
            def change(conn: Connection, fields: Fields, origin: str) -> object:
                chosen = status or IncidentStatus(fields.choice("status", STATUSES))
                return service.update(
                    conn,
                    incident_id,
                    status=chosen,
                    message=fields.text("message"),
                    fields=fields.update_fields(),
                    actor=principal.actor,
                    now=get_services(request).clock.now(),
                    origin=origin,
                )

            return _act(request, principal, incident_id, form, change)

        return post

    routes.add_api_route(PATHS[1], status_update("update", None), methods=["POST"])
    routes.add_api_route(
        PATHS[2], status_update("resolve", IncidentStatus.RESOLVED), methods=["POST"]
    )

    @routes.post(PATHS[3])
    def add_note(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            return service.add_note(
                conn,
                incident_id,
                message=fields.text("message"),
                actor=principal.actor,
                now=get_services(request).clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "note", change)

    @routes.post(PATHS[4])
    def change_severity(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        services = get_services(request)

        def change(conn: Connection, fields: Fields, origin: str) -> object:
            return service.change_severity(
                conn,
                incident_id,
                severity=fields.text("severity"),
                severities=list(services.config.severities),
                actor=principal.actor,
                now=services.clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "severity", change)

    @routes.post(PATHS[5])
    def set_role(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            return service.set_role(
                conn,
                incident_id,
                role=Role(fields.choice("role", ROLES)),
                person=fields.text("person"),
                actor=principal.actor,
                now=get_services(request).clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "role", change)

    @routes.post(PATHS[6])
    def reopen(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            return service.reopen(
                conn,
                incident_id,
                message=fields.text("message"),
                actor=principal.actor,
                now=get_services(request).clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "reopen", change)

    @routes.post(PATHS[7])
    def add_action(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            return service.add_action(
                conn,
                incident_id,
                title=fields.text("title"),
                owner=fields.text("owner"),
                due=fields.day("due"),
                actor=principal.actor,
                now=get_services(request).clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "action", change)

    @routes.post(PATHS[8])
    def complete_action(
        incident_id: IdPath, action_id: IdPath, request: Request, principal: FormDep
    ) -> Response:
        def change(conn: Connection, fields: Fields, origin: str) -> object:
            # An action item of another incident is not this page's: 404, as an unknown one.
            if service.get_action(conn, action_id).incident_id != incident_id:
                raise NotFound(f"incident {incident_id} has no action item {action_id}")
            return service.complete_action(
                conn,
                action_id,
                actor=principal.actor,
                now=get_services(request).clock.now(),
                origin=origin,
            )

        return _act(request, principal, incident_id, "done", change)

    return routes
