"""``/api/v1/incidents``: list, show (with the timeline), declare, and the lifecycle actions
(acknowledge, status updates, notes, severity, roles, merge, reopen); action items
(``/api/v1/actions``) and the postmortem in markdown.

Handlers are plain functions (FastAPI runs them in a thread) around the incidents domain. A
change, its timeline event and its audit event commit together before the answer goes out.
Errors in a request body name the JSON path (``$.severity``). Who acts is who is logged in
(the token's or session's person, or ``token:<name>``): reads need the viewer role, changes the
responder role (web/auth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection, Engine

from opsbook.errors import InputError, NotFound
from opsbook.incidents import (
    IncidentStatus,
    Role,
    action_json,
    incident_detail_json,
    incident_json,
    render_postmortem,
    service,
)
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


@router.get("/incidents/{incident_id}/postmortem", response_class=Response, responses=MARKDOWN)
def postmortem(
    incident_id: IdPath, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> PlainTextResponse:
    """The incident's postmortem from the shipped template, as ``text/markdown``."""
    with engine.begin() as conn:
        text = render_postmortem(conn, incident_id, zone=ZoneInfo(config.timezone), now=clock.now())
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
