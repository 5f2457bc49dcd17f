"""``/api/v1/incidents``: list, stats, show (with the timeline), declare, and the lifecycle
actions (acknowledge, status updates, notes, severity, roles, merge, reopen); a drafted message;
action items (``/api/v1/actions``) and the postmortem in markdown or as its template's values.

Handlers are plain functions (FastAPI runs them in a thread) around the incidents domain. A
change, its timeline event and its audit event commit together before the answer goes out.
Errors in a request body name the JSON path (``$.severity``). Who acts is who is logged in
(the token's or session's person, or ``token:<name>``): reads need the viewer role, changes the
responder role (web/auth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection, Engine

from opsbook.config import parse_duration
from opsbook.config.templates import SHIPPED_INCIDENT_MESSAGES
from opsbook.errors import InputError, NotFound
from opsbook.incidents import (
    IncidentStatus,
    Role,
    SeverityStats,
    action_json,
    incident_detail_json,
    incident_json,
    incident_stats,
    render_postmortem,
    service,
)
from opsbook.incidents import postmortem as postmortems
from opsbook.incidents.escalation import escalation_policies
from opsbook.incidents.views import iso
from opsbook.notify.incident_drafts import draft_message
from opsbook.web.auth import ALLOW_VIEWER, ResponderDep
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdField, IdPath, get_services
from opsbook.web.openapi import MARKDOWN, NO_NUL

router = APIRouter(prefix="/api/v1", tags=["incidents"], dependencies=[Depends(ALLOW_VIEWER)])

Model = TypeVar("Model", bound=BaseModel)
BodyDep = Annotated[Any, Body()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentCreate(_In):
    title: str = Field(max_length=300)
    severity: str
    summary: str = ""
    alert_ids: list[IdField] = []


class AckCreate(_In):
    pass


class UpdateCreate(_In):
    status: IncidentStatus
    message: str
    fields: dict[str, str] = {}


class NoteCreate(_In):
    message: str


class SeverityUpdate(_In):
    severity: str


class RoleUpdate(_In):
    role: Role
    person: str = Field(max_length=200)


class MergeCreate(_In):
    into: IdField


class ReopenCreate(_In):
    message: str


class EscalateCreate(_In):
    reason: str


class ActionCreate(_In):
    title: str = Field(max_length=300)
    owner: str = Field(max_length=200)
    due: date | None = None


class ActionDone(_In):
    pass


def _path(loc: tuple[int | str, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _parse(model: type[Model], body: Any) -> Model:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _path(tuple(first["loc"]))
        message = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(
            first["type"], first["msg"]
        )
        raise InputError(f"{path}: {message}", field=path, location="body") from None


def _in_body(exc: InputError | NotFound) -> InputError | NotFound:
    """A domain error names ``severity`` (or an id given in the body, ``alert_ids[0]``); in the
    API that is a bad body naming ``$.severity``. An unknown incident in the path stays 404."""
    if not exc.field or exc.field.startswith("$") or exc.field == "incident_id":
        return exc
    return InputError(f"$.{exc.message}", field=f"$.{exc.field}", location="body")


def _origin(request: Request) -> str:
    return f"api {request.client.host}" if request.client else "api"


def _show(request: Request, incident_id: int) -> dict[str, Any]:
    """The incident with its escalations and timeline (the body of every incident answer)."""
    services = get_services(request)
    with services.engine.begin() as conn:
        return incident_detail_json(
            conn, incident_id, config=services.config, now=services.clock.now()
        )


@router.get("/incidents")
def list_incidents(
    engine: EngineDep,
    all: Annotated[bool, Query(description="Include resolved incidents.")] = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    with engine.begin() as conn:
        found = service.list_incidents(conn, include_resolved=all, limit=limit)
        return {
            "incidents": [incident_json(i, alert_ids=service.alert_ids(conn, i.id)) for i in found]
        }


LONGEST_STATS_PERIOD = timedelta(days=3660)


def _period(raw: str) -> timedelta:
    try:
        period = parse_duration(raw)
    except ValueError:
        period = timedelta()
    if not timedelta() < period <= LONGEST_STATS_PERIOD:
        # The value is not repeated: the API never echoes what it refuses.
        raise InputError(
            "since: a duration longer than 0s and at most "
            f"{LONGEST_STATS_PERIOD.days}d (e.g. 30d, 12h)",
            field="since",
            location="query",
        )
    return period


def _mean_s(value: timedelta | None) -> float | None:
    # Means keep their milliseconds: rounding is the reader's choice (the CLI shows 3m18s).
    return round(value.total_seconds(), 3) if value is not None else None


def _stats_json(row: SeverityStats) -> dict[str, Any]:
    return {
        "severity": row.severity,
        "declared": row.declared,
        "acknowledged": row.acknowledged,
        "resolved": row.resolved,
        "met_target": row.met_target,
        "missed_target": row.missed_target,
        "mtta_s": _mean_s(row.mtta),
        "mttm_s": _mean_s(row.mttm),
        "mttr_s": _mean_s(row.mttr),
    }


# Before /incidents/{incident_id}, which would otherwise take "stats" for an id.
@router.get("/incidents/stats")
def stats(
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    since: Annotated[str, Query(description="How far back, e.g. 30d.", pattern=NO_NUL)] = "30d",
) -> dict[str, Any]:
    """MTTA, MTTM and MTTR per severity of the incidents declared in the period."""
    period = _period(since)
    now = clock.now()
    targets = {name: sev.respond_within for name, sev in config.severities.items()}
    with engine.begin() as conn:
        rows = incident_stats(conn, since=now - period, targets=targets, now=now)
    return {
        "since": iso(now - period),
        "until": iso(now),
        "severities": [_stats_json(row) for row in rows],
    }


@router.get("/incidents/{incident_id}")
def get_incident(incident_id: IdPath, request: Request) -> dict[str, Any]:
    return _show(request, incident_id)


@router.post("/incidents", status_code=201)
def declare(
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    incident_in = _parse(IncidentCreate, body)
    with _writing(engine, request) as conn:
        created = service.declare(
            conn,
            title=incident_in.title,
            severity=incident_in.severity,
            summary=incident_in.summary,
            alert_ids=incident_in.alert_ids,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
            severities=list(config.severities),
        )
    return _show(request, created.id)


@contextmanager
def _writing(engine: Engine, request: Request) -> Iterator[Connection]:
    """A transaction whose domain errors name the body; after the commit the incidents task
    is woken, so the change's escalation and notifications happen now."""
    try:
        with engine.begin() as conn:
            yield conn
    except (InputError, NotFound) as exc:
        raise _in_body(exc) from None
    task = get_services(request).incidents
    if task is not None:
        task.wake()


@router.post("/incidents/{incident_id}/ack")
def acknowledge(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep = None,
) -> dict[str, Any]:
    _parse(AckCreate, {} if body is None else body)
    with _writing(engine, request) as conn:
        service.acknowledge(
            conn, incident_id, actor=principal.actor, now=clock.now(), origin=_origin(request)
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/updates")
def post_update(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    update_in = _parse(UpdateCreate, body)
    with _writing(engine, request) as conn:
        service.update(
            conn,
            incident_id,
            status=update_in.status,
            message=update_in.message,
            fields=update_in.fields,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/notes")
def add_note(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    note_in = _parse(NoteCreate, body)
    with _writing(engine, request) as conn:
        service.add_note(
            conn,
            incident_id,
            message=note_in.message,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/escalate")
def escalate(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    """Page the next level of the incident's escalation now, acknowledged or not, saying
    ``reason``; with no escalation yet, start its severity's policy. ``409`` when the incident
    is resolved or its severity has no escalation policy."""
    escalate_in = _parse(EscalateCreate, body)
    with _writing(engine, request) as conn:
        service.escalate(
            conn,
            incident_id,
            reason=escalate_in.reason,
            policies=escalation_policies(config),
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/severity")
def change_severity(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    severity_in = _parse(SeverityUpdate, body)
    with _writing(engine, request) as conn:
        service.change_severity(
            conn,
            incident_id,
            severity=severity_in.severity,
            severities=list(config.severities),
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/roles")
def set_role(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    role_in = _parse(RoleUpdate, body)
    with _writing(engine, request) as conn:
        service.set_role(
            conn,
            incident_id,
            role=role_in.role,
            person=role_in.person,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.post("/incidents/{incident_id}/merge")
def merge(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    """Merge this incident into ``into``; answers with the incident merged into."""
    merge_in = _parse(MergeCreate, body)
    with _writing(engine, request) as conn:
        target = service.merge(
            conn,
            incident_id,
            into=merge_in.into,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, target.id)


@router.post("/incidents/{incident_id}/reopen")
def reopen(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    reopen_in = _parse(ReopenCreate, body)
    with _writing(engine, request) as conn:
        service.reopen(
            conn,
            incident_id,
            message=reopen_in.message,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return _show(request, incident_id)


@router.get("/actions")
def list_actions(
    engine: EngineDep,
    all: Annotated[bool, Query(description="Include done action items.")] = False,
    owner: Annotated[str | None, Query(description="Only this owner's.", pattern=NO_NUL)] = None,
) -> dict[str, Any]:
    with engine.begin() as conn:
        found = service.list_actions(conn, open_only=not all, owner=owner)
    return {"actions": [action_json(a) for a in found]}


@router.post("/incidents/{incident_id}/actions", status_code=201)
def add_action(
    incident_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep,
) -> dict[str, Any]:
    action_in = _parse(ActionCreate, body)
    with _writing(engine, request) as conn:
        created = service.add_action(
            conn,
            incident_id,
            title=action_in.title,
            owner=action_in.owner,
            due=action_in.due,
            actor=principal.actor,
            now=clock.now(),
            origin=_origin(request),
        )
    return action_json(created)


@router.post("/actions/{action_id}/done")
def complete_action(
    action_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: BodyDep = None,
) -> dict[str, Any]:
    _parse(ActionDone, {} if body is None else body)
    # Not _writing: the only id here is the path's, so an unknown one stays 404.
    with engine.begin() as conn:
        done = service.complete_action(
            conn, action_id, actor=principal.actor, now=clock.now(), origin=_origin(request)
        )
    return action_json(done)


@router.get("/incidents/{incident_id}/message")
def message(
    incident_id: IdPath,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    template: Annotated[
        str | None, Query(description="A shipped incident template.", pattern=NO_NUL)
    ] = None,
    channel: Annotated[
        str | None, Query(description="Draft it as this channel would get it.", pattern=NO_NUL)
    ] = None,
) -> dict[str, Any]:
    """A draft (``subject``, ``body``) about the incident's latest update; sends nothing."""
    if template is not None and template not in SHIPPED_INCIDENT_MESSAGES:
        known = ", ".join(SHIPPED_INCIDENT_MESSAGES)
        raise InputError(
            f"template: not a shipped incident template (use {known})",
            field="template",
            location="query",
        )
    if channel is not None and channel not in config.channels:
        known = ", ".join(sorted(config.channels)) or "none are configured"
        raise InputError(
            f"channel: no channel of that name (known: {known})",
            field="channel",
            location="query",
        )
    with engine.begin() as conn:
        drafted = draft_message(
            conn, incident_id, config=config, template=template, channel=channel, now=clock.now()
        )
    return {"subject": drafted.subject, "body": drafted.body}


@router.get("/incidents/{incident_id}/postmortem/values")
def postmortem_values(
    incident_id: IdPath, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> dict[str, Any]:
    """What a postmortem template gets (docs/incidents.md lists it), so a client renders its
    own template: ``opsbook incident postmortem --template FILE`` does, on the user's machine."""
    zone = ZoneInfo(config.timezone)
    with engine.begin() as conn:
        # postmortem.py has no public name for these yet: the shipped render uses the same two.
        record = postmortems._read(conn, incident_id)
        return postmortems._values(record, zone=zone, now=clock.now())


@router.get("/incidents/{incident_id}/postmortem", response_class=Response, responses=MARKDOWN)
def postmortem(
    incident_id: IdPath, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> PlainTextResponse:
    """The incident's postmortem from the shipped template, as ``text/markdown``."""
    with engine.begin() as conn:
        text = render_postmortem(conn, incident_id, zone=ZoneInfo(config.timezone), now=clock.now())
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
