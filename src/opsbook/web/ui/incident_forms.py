"""The incident page's forms: acknowledge, status update, resolve, note, escalate, severity,
role, reopen, add an action item, mark one done, merge into another incident. Each posts to
``/incidents/{id}/<action>`` with the session's CSRF token (``FormDep``), needs the responder
role (403 otherwise), calls the domain as the API does (who acts is who is logged in; the
incidents task is woken after the commit) and answers 303 back to the page (post/redirect/get),
or, after a merge, to the incident merged into.

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
from datetime import date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Connection

from opsbook.accounts import Principal
from opsbook.accounts import Role as AccountRole
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents import IncidentStatus, Role, service
from opsbook.incidents.escalation import escalation_policies
from opsbook.incidents.models import UPDATE_FIELDS
from opsbook.web.auth import client_address
from opsbook.web.deps import ID_MAX, IdPath, Services, get_services
from opsbook.web.ui.session import FormDep, needs_role


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

    def incident_id(self, name: str) -> int:
        value = self.text(name).strip()
        # The length first: int() refuses a string of over 4300 digits with a ValueError.
        is_id = len(value) <= 19 and value.isascii() and value.isdigit()
        if not (is_id and 1 <= int(value) <= ID_MAX):
            raise InputError(f"{name}: not an incident id (use its number, e.g. 42)", field=name)
        return int(value)

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


@dataclass(frozen=True, slots=True)
class Act:
    """One posted form: the incident (and action item) it acts on, its fields, and who acts,
    when and from where."""

    incident_id: int
    fields: Fields
    services: Services
    actor: str
    now: datetime
    origin: str
    action_id: int = 0


Change = Callable[[Connection, Act], int | None]
"""Makes the form's change in the transaction and returns the incident to show next (None: this
one); raises ``InputError`` or ``Conflict`` to refuse."""

STATUSES = tuple(s.value for s in IncidentStatus)
ROLES = tuple(r.value for r in Role)


def _acknowledge(conn: Connection, act: Act) -> None:
    service.acknowledge(conn, act.incident_id, actor=act.actor, now=act.now, origin=act.origin)


def _status_update(status: IncidentStatus | None) -> Change:
    def change(conn: Connection, act: Act) -> None:
        chosen = status or IncidentStatus(act.fields.choice("status", STATUSES))
        service.update(
            conn,
            act.incident_id,
            status=chosen,
            message=act.fields.text("message"),
            fields=act.fields.update_fields(),
            actor=act.actor,
            now=act.now,
            origin=act.origin,
        )

    return change


def _add_note(conn: Connection, act: Act) -> None:
    message = act.fields.text("message")
    service.add_note(
        conn, act.incident_id, message=message, actor=act.actor, now=act.now, origin=act.origin
    )


def _escalate(conn: Connection, act: Act) -> None:
    service.escalate(
        conn,
        act.incident_id,
        reason=act.fields.text("reason"),
        policies=escalation_policies(act.services.config),
        actor=act.actor,
        now=act.now,
        origin=act.origin,
    )


def _change_severity(conn: Connection, act: Act) -> None:
    service.change_severity(
        conn,
        act.incident_id,
        severity=act.fields.text("severity"),
        severities=list(act.services.config.severities),
        actor=act.actor,
        now=act.now,
        origin=act.origin,
    )


def _set_role(conn: Connection, act: Act) -> None:
    service.set_role(
        conn,
        act.incident_id,
        role=Role(act.fields.choice("role", ROLES)),
        person=act.fields.text("person"),
        actor=act.actor,
        now=act.now,
        origin=act.origin,
    )


def _reopen(conn: Connection, act: Act) -> None:
    message = act.fields.text("message")
    service.reopen(
        conn, act.incident_id, message=message, actor=act.actor, now=act.now, origin=act.origin
    )


def _add_action(conn: Connection, act: Act) -> None:
    service.add_action(
        conn,
        act.incident_id,
        title=act.fields.text("title"),
        owner=act.fields.text("owner"),
        due=act.fields.day("due"),
        actor=act.actor,
        now=act.now,
        origin=act.origin,
    )


def _complete_action(conn: Connection, act: Act) -> None:
    # An action item of another incident is not this page's: 404, as an unknown one.
    if service.get_action(conn, act.action_id).incident_id != act.incident_id:
        raise NotFound(f"incident {act.incident_id} has no action item {act.action_id}")
    service.complete_action(conn, act.action_id, actor=act.actor, now=act.now, origin=act.origin)


def _merge(conn: Connection, act: Act) -> int:
    into = act.fields.incident_id("into")
    # Read first (an unknown one is the 404 page, a merged one is refused as it is): whatever
    # the merge then refuses is about the incident typed in, so the message names the field.
    is_changeable = service.get_incident(conn, act.incident_id).merged_into is None
    try:
        target = service.merge(
            conn, act.incident_id, into=into, actor=act.actor, now=act.now, origin=act.origin
        )
    except (NotFound, Conflict) as exc:
        if not is_changeable:
            raise
        message = exc.message if exc.message.startswith("into: ") else f"into: {exc.message}"
        raise InputError(message, field="into") from None
    return target.id


ACTIONS: dict[str, tuple[str, Change]] = {
    "ack": ("/incidents/{incident_id}/ack", _acknowledge),
    "update": ("/incidents/{incident_id}/updates", _status_update(None)),
    "resolve": ("/incidents/{incident_id}/resolve", _status_update(IncidentStatus.RESOLVED)),
    "note": ("/incidents/{incident_id}/notes", _add_note),
    "escalate": ("/incidents/{incident_id}/escalate", _escalate),
    "severity": ("/incidents/{incident_id}/severity", _change_severity),
    "role": ("/incidents/{incident_id}/roles", _set_role),
    "reopen": ("/incidents/{incident_id}/reopen", _reopen),
    "action": ("/incidents/{incident_id}/actions", _add_action),
    "done": ("/incidents/{incident_id}/actions/{action_id}/done", _complete_action),
    "merge": ("/incidents/{incident_id}/merge", _merge),
}
"""Each form (its ``#form-<name>`` on the page): where it posts and the change it makes."""

PATHS = tuple(path for path, _ in ACTIONS.values())
"""Where the page's forms post (``incidents.py`` sends a GET of one back to the page)."""

FORMS = tuple(ACTIONS)
"""The forms an error can be shown at (``#form-<name>`` on the page)."""


def _act(request: Request, principal: Principal, form: str, **ids: int) -> Response:
    needs_role(principal, AccountRole.RESPONDER)
    services = get_services(request)
    incident_id = ids["incident_id"]
    _, change = ACTIONS[form]
    try:
        with services.engine.begin() as conn:
            act = Act(
                fields=Fields(getattr(request.state, "form", {})),
                services=services,
                actor=principal.actor,
                now=services.clock.now(),
                origin=f"ui {client_address(request)}",
                **ids,
            )
            shown_next = change(conn, act)
    except (InputError, Conflict) as exc:
        # An unknown incident or action item (NotFound: the path's ids) is the 404 page instead.
        return RedirectResponse(error_location(request, incident_id, form, str(exc)), 303)
    if services.incidents is not None:
        services.incidents.wake()
    return RedirectResponse(f"/incidents/{shown_next or incident_id}", status_code=303)


def _post(form: str) -> Callable[..., Response]:
    def post(incident_id: IdPath, request: Request, principal: FormDep) -> Response:
        return _act(request, principal, form, incident_id=incident_id)

    return post


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    for form, (path, _) in ACTIONS.items():
        if form != "done":
            routes.add_api_route(path, _post(form), methods=["POST"])

    @routes.post(ACTIONS["done"][0])
    def complete_action(
        incident_id: IdPath, action_id: IdPath, request: Request, principal: FormDep
    ) -> Response:
        return _act(request, principal, "done", incident_id=incident_id, action_id=action_id)

    return routes
